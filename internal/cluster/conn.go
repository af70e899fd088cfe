package cluster

import (
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"
)

// Embedded is the value of Config.URL that runs a NATS server in the
// origin's process (and makes an edge connect to it at Config.Listen).
const Embedded = "embedded"

// Defaults of Config.
const (
	DefaultListen     = "127.0.0.1:4222"
	DefaultMaxPerEdge = 200000
	reconnectWait     = 250 * time.Millisecond
	connectTimeout    = 5 * time.Second
	drainTimeout      = 2 * time.Second
	// reconnectBuf: a client buffers nothing while it reconnects, publishes
	// fail at once. Program chunks held back and sent in a burst after the
	// reconnect would reach edges late, after they held the room with
	// silence, and add their age to every listener's delay for good; a
	// lost chunk is a gap instead. Reports are sent again each second.
	reconnectBuf = -1
	// A server gone silent is noticed after maxPingsOut unanswered pings,
	// one every pingInterval: until then what is published is written to
	// a dead connection and lost (LostSince).
	pingInterval = 2 * time.Second
	maxPingsOut  = 2
)

// Config says how a process joins the cluster.
type Config struct {
	// URL is "" (no cluster), Embedded, or nats://host:port[,nats://…].
	URL string
	// Listen is the embedded server's client address (origin), and where
	// an edge with URL Embedded connects. Default 127.0.0.1:4222.
	Listen string
	// User and Password authenticate to the cluster; with Embedded the
	// origin's server requires them.
	User, Password string
	// CredsFile is a NATS credentials file (JWT and nkey seed); NKeyFile an
	// nkey seed file. At most one of them, and not with User.
	CredsFile, NKeyFile string
	// TLSCA verifies the servers' certificates; TLSCert and TLSKey are a
	// client certificate. Any of them turns TLS on (external clusters).
	TLSCA, TLSCert, TLSKey string
	// Name names this connection in the servers' monitoring.
	Name string
	// MaxPerEdge caps the listeners one edge's report may count (origin).
	MaxPerEdge int
	Logger     *slog.Logger
}

// Enabled reports whether a cluster is configured.
func (c Config) Enabled() bool { return c.URL != "" }

// Validate checks the settings that do not need the network.
func (c Config) Validate() error {
	if c.URL == "" || c.URL == Embedded {
		if c.URL == Embedded && c.listen() != "" {
			if _, _, err := net.SplitHostPort(c.listen()); err != nil {
				return fmt.Errorf("cluster listen %q: want HOST:PORT", c.Listen)
			}
		}
	} else {
		for u := range strings.SplitSeq(c.URL, ",") {
			if !strings.HasPrefix(u, "nats://") && !strings.HasPrefix(u, "tls://") {
				return fmt.Errorf("cluster %q: want embedded or nats://host:port[,…]", c.URL)
			}
		}
	}
	n := 0
	for _, s := range []string{c.User, c.CredsFile, c.NKeyFile} {
		if s != "" {
			n++
		}
	}
	if n > 1 {
		return errors.New("cluster credentials: one of user/password, a creds file or an nkey file")
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		return errors.New("cluster TLS: a client certificate needs both cert and key")
	}
	return nil
}

func (c Config) listen() string {
	if c.Listen == "" {
		return DefaultListen
	}
	return c.Listen
}

// Conn is this process's connection to the cluster (and, on an origin
// with Embedded, the embedded server).
type Conn struct {
	nc  *nats.Conn
	srv *server.Server
	log *slog.Logger

	bad     atomic.Uint64 // messages that did not decode
	dropped atomic.Uint64 // messages a full local queue dropped
	closed  chan struct{} // closed by the client once it has closed (drained)

	reconnectMu sync.Mutex
	onReconnect []func()     // OnReconnect's
	lost        atomic.Int64 // Unix ns of the last disconnection, 0 before one
}

// Stats are a connection's message counters.
type Stats struct {
	Bad     uint64 // did not decode, dropped
	Dropped uint64 // a local queue was full (slow consumer), dropped
}

// Connect joins the cluster. serve says whether this process runs the
// embedded server when cfg.URL is Embedded (the origin does; edges connect
// to it). The client reconnects forever: a NATS node restart is a gap,
// not an end.
func Connect(cfg Config, serve bool) (*Conn, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if !cfg.Enabled() {
		return nil, errors.New("cluster: not configured")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	c := &Conn{log: cfg.Logger, closed: make(chan struct{})}
	url := cfg.URL
	if url == Embedded {
		url = "nats://" + cfg.listen()
		if serve {
			srv, err := runEmbedded(cfg)
			if err != nil {
				return nil, err
			}
			c.srv = srv
			url = srv.ClientURL()
		}
	}
	opts := []nats.Option{
		nats.Name(cfg.Name), nats.MaxReconnects(-1), nats.ReconnectWait(reconnectWait),
		nats.ReconnectJitter(100*time.Millisecond, time.Second),
		nats.Timeout(connectTimeout), nats.ReconnectBufSize(reconnectBuf),
		nats.PingInterval(pingInterval), nats.MaxPingsOutstanding(maxPingsOut), nats.DrainTimeout(drainTimeout),
		nats.ClosedHandler(func(*nats.Conn) { close(c.closed) }),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			c.lost.Store(time.Now().UnixNano())
			if err != nil {
				c.log.Warn("cluster disconnected", "err", err)
			}
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			c.log.Info("cluster reconnected", "server", nc.ConnectedUrlRedacted())
			c.reconnectMu.Lock()
			fs := slices.Clone(c.onReconnect)
			c.reconnectMu.Unlock()
			for _, f := range fs {
				f()
			}
		}),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			if errors.Is(err, nats.ErrSlowConsumer) {
				c.dropped.Add(1)
				return
			}
			c.log.Warn("cluster", "err", err)
		}),
	}
	if cfg.User != "" {
		opts = append(opts, nats.UserInfo(cfg.User, cfg.Password))
	}
	if cfg.CredsFile != "" {
		if err := checkCreds(cfg.CredsFile); err != nil {
			c.shutdownServer()
			return nil, fmt.Errorf("cluster creds: %w", err)
		}
		opts = append(opts, nats.UserCredentials(cfg.CredsFile))
	}
	if cfg.NKeyFile != "" {
		o, err := nats.NkeyOptionFromSeed(cfg.NKeyFile)
		if err != nil {
			c.shutdownServer()
			return nil, fmt.Errorf("cluster nkey: %w", err)
		}
		opts = append(opts, o)
	}
	if cfg.TLSCA != "" {
		opts = append(opts, nats.RootCAs(cfg.TLSCA))
	}
	if cfg.TLSCert != "" {
		opts = append(opts, nats.ClientCert(cfg.TLSCert, cfg.TLSKey))
	}
	// The first try does not retry, so that refused credentials come back
	// here as the configuration error they are (with RetryOnFailedConnect
	// the reconnect goroutine clears LastError before a caller could read
	// it). Unreachable servers are then retried in the background: the
	// cluster may come up after this process. The price: the retrying
	// Connect tries the servers once more before it returns, so a server
	// that drops packets (rather than refusing) holds start-up for two
	// connectTimeouts instead of one; a refused one costs nothing.
	nc, err := nats.Connect(url, opts...)
	if err != nil && !isAuthError(err) {
		nc, err = nats.Connect(url, append(opts, nats.RetryOnFailedConnect(true))...)
	}
	if err != nil {
		c.shutdownServer()
		return nil, fmt.Errorf("cluster connect %s: %w", redact(url), err)
	}
	c.nc = nc
	return c, nil
}

// checkCreds reads a credentials file as the client will on every
// connect: a wrong path or a file that is not one is a configuration error
// at start, not a client retrying in the background forever (the client
// cannot tell it from a server not up yet).
func checkCreds(path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	defer clear(b) // the seed
	if _, err := nkeys.ParseDecoratedJWT(b); err != nil {
		return err
	}
	kp, err := nkeys.ParseDecoratedUserNKey(b)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	kp.Wipe()
	return nil
}

func isAuthError(err error) bool {
	return err != nil && (errors.Is(err, nats.ErrAuthorization) || errors.Is(err, nats.ErrAuthExpired) ||
		strings.Contains(strings.ToLower(err.Error()), "authorization"))
}

// runEmbedded starts the in-process NATS server on cfg.Listen.
func runEmbedded(cfg Config) (*server.Server, error) {
	host, port, err := net.SplitHostPort(cfg.listen())
	if err != nil {
		return nil, fmt.Errorf("cluster listen: %w", err)
	}
	p, err := strconv.Atoi(port)
	if err != nil {
		return nil, fmt.Errorf("cluster listen port %q", port)
	}
	if p == 0 {
		p = server.RANDOM_PORT
	}
	opts := &server.Options{Host: host, Port: p, NoLog: true, NoSigs: true, Username: cfg.User, Password: cfg.Password,
		ServerName: "majlis-embedded", MaxPayload: 1 << 20}
	srv, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("embedded nats: %w", err)
	}
	go srv.Start()
	if !srv.ReadyForConnections(connectTimeout) {
		srv.Shutdown()
		return nil, fmt.Errorf("embedded nats on %s: not ready", cfg.listen())
	}
	return srv, nil
}

// ServerURL is the embedded server's client URL ("" without one).
func (c *Conn) ServerURL() string {
	if c.srv == nil {
		return ""
	}
	return c.srv.ClientURL()
}

// OnReconnect has f run each time the client is connected again after it
// lost its server (not at the first connection), on the client's callback
// goroutine: f must not block. What was published meanwhile is lost to
// this process: f is where it asks again.
func (c *Conn) OnReconnect(f func()) {
	c.reconnectMu.Lock()
	c.onReconnect = append(c.onReconnect, f)
	c.reconnectMu.Unlock()
}

// LostSince is the earliest time from which what this process published
// may have been lost in its last disconnection: the disconnection less the
// time a server gone silent takes to be noticed, during which publishes go
// into a dead connection. It is zero before any disconnection. An
// OnReconnect func publishes again what it sent since then.
func (c *Conn) LostSince() time.Time {
	ns := c.lost.Load()
	if ns == 0 {
		return time.Time{}
	}
	return time.Unix(0, ns).Add(-pingInterval * (maxPingsOut + 1))
}

// Connected reports whether the client has a server now.
func (c *Conn) Connected() bool { return c.nc.IsConnected() }

// Stats returns the message counters.
func (c *Conn) Stats() Stats { return Stats{Bad: c.bad.Load(), Dropped: c.dropped.Load()} }

// Close drains the connection (the subscriptions stop, the callbacks
// running finish, what was published is flushed), waits for it to close
// and stops the embedded server.
func (c *Conn) Close() {
	if c.nc != nil {
		if err := c.nc.Drain(); err != nil {
			c.nc.Close()
		}
		select {
		case <-c.closed:
		case <-time.After(2 * drainTimeout):
			c.nc.Close()
		}
	}
	c.shutdownServer()
}

func (c *Conn) shutdownServer() {
	if c.srv != nil {
		c.srv.Shutdown()
		c.srv.WaitForShutdown()
	}
}

// Subjects. A room id is a subject token when it has only [a-z0-9_-]
// (store ids do); any other id is hex-encoded behind "x". An edge reports
// on subjectLoad and subjectSketch followed by its own id, so that NATS
// permissions can pin each edge's credentials to its id (the fleet
// refuses a report whose id is not its subject's).
const (
	subjectPrefix = "majlis.room."
	subjectLoad   = "majlis.edges.load."   // + edge id
	subjectSketch = "majlis.edges.sketch." // + edge id
	// subjectRemovals: an edge asks the origin for the recent listener
	// removals (request and reply), having perhaps missed some.
	subjectRemovals = "majlis.removals"
)

// ValidEdgeID reports whether id can name an edge: 1 to 64 of [a-z0-9_-],
// one subject token.
func ValidEdgeID(id string) bool {
	if id == "" || len(id) > maxEdgeID {
		return false
	}
	for i := 0; i < len(id); i++ {
		if b := id[i]; !(b >= 'a' && b <= 'z' || b >= '0' && b <= '9' || b == '_' || b == '-') {
			return false
		}
	}
	return true
}

// reportedBy reports whether a report on subject, under prefix, names the
// edge whose subject it came on: an edge's credentials may allow only its
// own subjects, and the id in the payload must not say otherwise.
func reportedBy(subject, prefix, id string) bool {
	return ValidEdgeID(id) && strings.TrimPrefix(subject, prefix) == id
}

func roomToken(room string) string {
	for i := 0; i < len(room); i++ {
		b := room[i]
		if !(b >= 'a' && b <= 'z' || b >= '0' && b <= '9' || b == '_' || b == '-') {
			return "x" + hex.EncodeToString([]byte(room))
		}
	}
	if room == "" || room[0] == 'x' {
		return "x" + hex.EncodeToString([]byte(room))
	}
	return room
}

// roomFromToken reverses roomToken.
func roomFromToken(tok string) (string, bool) {
	if !strings.HasPrefix(tok, "x") {
		return tok, tok != ""
	}
	b, err := hex.DecodeString(tok[1:])
	if err != nil || len(b) == 0 || len(b) > maxRoomID {
		return "", false
	}
	return string(b), true
}

func programSubject(room string) string { return subjectPrefix + roomToken(room) + ".program" }
func eventsSubject(room string) string  { return subjectPrefix + roomToken(room) + ".events" }
func stateSubject(room string) string   { return subjectPrefix + roomToken(room) + ".state" }

// streamSubject carries the room's event stream (EventRoom), which edges
// serve on its events path; snapshotSubject is where an edge asks for the
// room's state to start its mirror from.
func streamSubject(room string) string   { return subjectPrefix + roomToken(room) + ".stream" }
func snapshotSubject(room string) string { return subjectPrefix + roomToken(room) + ".snapshot" }

// redact hides a password in a URL for logs.
func redact(u string) string {
	if i := strings.Index(u, "@"); i > 0 {
		if j := strings.Index(u, "://"); j >= 0 && j < i {
			return u[:j+3] + "…" + u[i:]
		}
	}
	return u
}
