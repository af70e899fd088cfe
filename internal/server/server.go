// Package server wires majlis together: it opens the data dir and store,
// builds the stage, live rooms, fan-out and API, serves the public and admin
// HTTP ports, and shuts all of it down gracefully. Tests build a whole server
// in-process with New and Serve.
package server

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"majlis/internal/account"
	"majlis/internal/admission"
	"majlis/internal/apierror"
	"majlis/internal/audit"
	"majlis/internal/certs"
	"majlis/internal/cluster"
	"majlis/internal/events"
	"majlis/internal/fanout"
	"majlis/internal/hls"
	"majlis/internal/httpapi"
	"majlis/internal/live"
	"majlis/internal/metrics"
	"majlis/internal/overload"
	"majlis/internal/program"
	"majlis/internal/ratelimit"
	"majlis/internal/recording"
	"majlis/internal/room"
	"majlis/internal/safety"
	"majlis/internal/stage"
	"majlis/internal/store"
	"majlis/internal/web"
)

// Config is the server's configuration (flags and MAJLIS_* env in cmd/majlis).
type Config struct {
	DataDir    string // default ./majlis-data
	HTTPAddr   string // public: API, listeners, web app
	AdminAddr  string // metrics, health, pprof
	WebRTCUDP  string // PORT or HOST:PORT for all ICE traffic; a bare port binds on HTTPAddr's host
	PublicIPs  []string
	AdminToken string // from MAJLIS_ADMIN_TOKEN; generated into the data dir when empty
	TicketTTL  time.Duration
	Logger     *slog.Logger
	Out        io.Writer // where the generated admin token is printed once
	// Audio program settings.
	Channels    int
	Bitrate     int
	ChunkFrames int
	// ChunkMaxFrames caps the adaptive chunk length (live.Config); default 50.
	ChunkMaxFrames int
	// Rooms: self sign-up, stage seat limits, auto-end when the host is gone.
	Signup      bool
	MaxCohosts  int
	MaxSpeakers int
	AutoEnd     time.Duration
	// MaxOpenRooms and RoomCreateRate limit each user's rooms (room.Config; 0: room's defaults).
	MaxOpenRooms   int
	RoomCreateRate ratelimit.Rate
	// PasswordMemoryKiB and PasswordTime set the argon2id cost (0: 19 MiB, 2 passes).
	PasswordMemoryKiB, PasswordTime uint32
	// Logins: per-address limits before any hash and the hashing pool
	// (account.Config; zero values: account's defaults).
	LoginsPerIP, LoginsPerPrefix ratelimit.Rate
	HashSlots, HashQueue         int
	HashWait                     time.Duration
	// Admission configures the audience plane's defences and the stage plane (planes.go).
	Admission AdmissionConfig
	// StageConnectTimeout ends a WHIP session not connected this long after
	// its offer (0: stage.DefaultConnectTimeout); a re-publish that never
	// connects ends then, and the member's older session goes on.
	StageConnectTimeout time.Duration
	// Cluster, when enabled, publishes the live programs and room events
	// to edges and counts and places the edges' listeners (internal/cluster).
	Cluster cluster.Config
	// TicketKeysInterval is how often the origin repeats its ticket key set
	// to the edges, besides at each rotation (0: cluster.DefaultKeysInterval).
	TicketKeysInterval time.Duration
	// Recordings: how long a finished recording is kept after its room
	// ended (0: until the host deletes it) and how long clips live (0:
	// recording.DefaultClipTTL); RetentionEvery is how often expired ones
	// are deleted (0: hourly).
	RecordingRetention, ClipTTL, RetentionEvery time.Duration
	// Evidence for moderation: the on-disk ring of each live room's program
	// (EvidenceWindow), kept EvidenceRetention after the room ended; with
	// EvidenceSpeakers each speaker's own track too. Every access is
	// recorded in the audit log; EvidenceAccess, when set, is told of it
	// first and may refuse it.
	EvidenceWindow, EvidenceRetention time.Duration
	EvidenceSpeakers                  bool
	EvidenceAccess                    func(recording.Access) error
	// EvidenceSegment is the evidence segments' length (0: one minute; tests shorten it).
	EvidenceSegment time.Duration
	// HLS configures the rooms' LL-HLS renditions.
	HLS HLSConfig
	// TDBURL, when set, is the Transparency Database batch endpoint the
	// statements of reasons are submitted to, with TDBToken, every TDBEvery
	// (0: a minute).
	TDBURL, TDBToken string
	TDBEvery         time.Duration
	// PublicURL is the base URL clients reach this server at, the base of
	// the absolute links in link previews and calendar entries; empty: as
	// each request reached it.
	PublicURL string
	// Misuse is the Art. 23 rules (zero fields: safety.DefaultMisuse's).
	Misuse safety.Misuse
	// TLS, when enabled, terminates TLS on the public ports with
	// certificate files (reloaded on SIGHUP) or ACME (tls.go).
	TLS certs.Config
}

// HLSConfig configures the LL-HLS renditions (internal/hls); zero fields
// take hls's defaults.
type HLSConfig struct {
	Part, Segment time.Duration
	TokenWindow   time.Duration
	BaseURL       string // listen.hls prefix (a CDN)
	CDNSecret     string // required from the cache on every fill when set
}

// Server is one running majlis process.
type Server struct {
	cfg       Config
	log       *slog.Logger
	met       *metrics.Metrics
	st        *store.Store
	audit     *audit.Log // audit.db: closed last, after everything that records
	stage     *stage.Stage
	live      *live.Manager
	fan       *fanout.Hub
	api       *httpapi.API
	rooms     *room.Service
	recs      *recording.Manager
	evidence  *recording.Evidence
	safety    *safety.Service
	retStop   context.CancelFunc
	retDone   chan struct{}
	subDone   chan struct{} // the Transparency Database submitter (nil: none)
	hls       *hls.Origin
	httpLn    net.Listener
	adminLn   net.Listener
	adminTok  string
	ready     atomic.Bool
	planes    *planes
	certs     *certs.Source // nil: plain HTTP
	closeOnce sync.Once
	// The cluster (nil without one): connection, program publisher, edges' reports.
	cluster *cluster.Conn
	pub     *cluster.Publisher
	fleet   *cluster.Fleet
	keyCast *cluster.KeyBroadcast // the ticket keys, to the edges
}

// HTTP server timeouts. There is no WriteTimeout: listener streams are
// endless; the fan-out sets a deadline on each write instead.
const (
	readHeaderTimeout = 5 * time.Second
	readTimeout       = 30 * time.Second
	idleTimeout       = 60 * time.Second
	maxHeaderBytes    = 16 << 10
)

// Defaults of Config's zero fields (config.Default uses them too).
const (
	DefaultDataDir   = "./majlis-data"
	DefaultHTTPAddr  = "127.0.0.1:8080"
	DefaultAdminAddr = "127.0.0.1:9090"
	DefaultWebRTCUDP = "8189"
	DefaultTicketTTL = 5 * time.Minute
)

// New opens everything and binds the ports; Serve runs it.
func New(cfg Config) (*Server, error) {
	if cfg.DataDir == "" {
		cfg.DataDir = DefaultDataDir
	}
	if cfg.HTTPAddr == "" {
		cfg.HTTPAddr = DefaultHTTPAddr
	}
	if cfg.AdminAddr == "" {
		cfg.AdminAddr = DefaultAdminAddr
	}
	if cfg.WebRTCUDP == "" {
		cfg.WebRTCUDP = DefaultWebRTCUDP
	}
	if cfg.TicketTTL == 0 {
		cfg.TicketTTL = DefaultTicketTTL
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	if cfg.Out == nil {
		cfg.Out = io.Discard
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("data dir: %w", err)
	}
	// A data dir that existed before (created by hand, or by an older
	// version) is made private too: it holds the keys and the database.
	if err := os.Chmod(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("data dir: %w", err)
	}
	s := &Server{cfg: cfg, log: cfg.Logger, met: metrics.New(nil)}
	var err error
	if s.certs, err = newCertSource(cfg.TLS, cfg.DataDir); err != nil {
		return nil, err
	}
	registerCertExpiry(s.met.Registry, s.certs)
	if s.adminTok, err = adminToken(cfg); err != nil {
		return nil, err
	}
	keys, err := admission.LoadKeys(cfg.DataDir) // current key first; older ones still verify (rotation)
	if err != nil {
		return nil, err
	}
	key := keys[0]
	signer, err := admission.NewSignerKeys(keys, cfg.TicketTTL)
	if err != nil {
		return nil, err
	}
	if s.st, err = store.Open(filepath.Join(cfg.DataDir, "majlis.db")); err != nil {
		return nil, err
	}
	if s.audit, err = audit.Open(AuditPath(cfg.DataDir)); err != nil {
		s.st.Close()
		return nil, err
	}
	s.stage, err = stage.New(stage.Config{UDPAddr: udpAddr(cfg.WebRTCUDP, cfg.HTTPAddr), PublicIPs: cfg.PublicIPs, Metrics: s.met, Logger: s.log,
		ConnectTimeout: cfg.StageConnectTimeout})
	if err != nil {
		s.audit.Close()
		s.st.Close()
		return nil, fmt.Errorf("stage: %w", err)
	}
	if s.evidence, err = recording.NewEvidence(recording.EvidenceConfig{Storage: recording.Dir{Root: cfg.DataDir}, Logger: s.log, Registry: s.met.Registry,
		Window: cfg.EvidenceWindow, Retention: cfg.EvidenceRetention, Speakers: cfg.EvidenceSpeakers, Access: s.evidenceAccess,
		Segment: cfg.EvidenceSegment}); err != nil {
		s.stage.Close()
		s.audit.Close()
		s.st.Close()
		return nil, err
	}
	// Recordings live in the data dir; recordings a crash left open are
	// repaired here, before any room goes live again.
	if s.recs, err = recording.New(recording.Config{Storage: recording.Dir{Root: cfg.DataDir}, Logger: s.log, Registry: s.met.Registry,
		Ring: s.evidence, OnChange: func(id string) {
			if s.rooms != nil {
				s.rooms.RecordingChanged(id)
			}
		}}); err != nil {
		s.evidence.Close()
		s.stage.Close()
		s.audit.Close()
		s.st.Close()
		return nil, err
	}
	s.live = live.NewManager(live.Config{Metrics: s.met, Logger: s.log, Channels: cfg.Channels, Bitrate: cfg.Bitrate, ChunkFrames: cfg.ChunkFrames, ChunkMaxFrames: cfg.ChunkMaxFrames,
		OnStart: func(id string, p *program.Program) {
			s.recs.Attach(id, p)
			s.evidence.Attach(id, p)
		},
		OnSpeaker: func(id, member string) live.Tap {
			if t := s.evidence.Speaker(id, member); t != nil {
				return t
			}
			return nil
		},
		OnEnd: s.recs.RoomEnded})
	s.fan = fanout.NewHub(fanout.Config{Metrics: s.met, Logger: s.log})
	var media room.Media = live.NewMedia(s.live, s.stage)
	var fleet room.FleetCounts
	var eventTap func(string, events.Item, bool)
	var removed func(room, user string, at time.Time)
	if cfg.Cluster.Enabled() {
		if err := s.joinCluster(cfg.Cluster); err != nil {
			s.closeAll()
			return nil, err
		}
		media, fleet = cluster.Media{Media: media, Publisher: s.pub, Fleet: s.fleet}, s.fleet
		// The edges' listeners count for the chunk length: a room's every
		// chunk is a NATS message to each edge serving it.
		s.fleet.OnTotal(s.live.SetRemote)
		// Every room's events go on the cluster: edges serve them.
		eventTap = s.pub.RoomEvent
		// The edges verify the tickets this signer mints: they get its keys
		// (sealed) at each rotation and every interval.
		s.keyCast = cluster.NewKeyBroadcast(s.cluster, signer.Keys, cfg.TicketKeysInterval)
		// A block ends the user's streams on the edges too.
		removed = s.pub.ListenerRemoved
	}
	rotator := &ticketKeys{file: admission.NewKeyFile(filepath.Join(cfg.DataDir, "ticket.key"), signer), cast: s.keyCast,
		audit: s.audit, log: s.log}
	if s.rooms, err = room.New(room.Config{Store: s.st, Media: media, Logger: s.log, Fleet: fleet, EventTap: eventTap, Removed: removed,
		RemovalsFor: cfg.TicketTTL + room.RemovalSlack,
		MaxCohosts:  cfg.MaxCohosts, MaxSpeakers: cfg.MaxSpeakers, AutoEnd: cfg.AutoEnd,
		MaxOpenRooms: cfg.MaxOpenRooms, CreateRate: cfg.RoomCreateRate, Recorder: s.recs, Audit: s.audit}); err != nil {
		s.closeAll()
		return nil, err
	}
	if s.pub != nil {
		notFound := func(err error) bool { return errors.Is(err, room.ErrRoomNotFound) }
		if err := s.pub.ServeSnapshots(s.rooms.Snapshot, notFound); err != nil {
			s.closeAll()
			return nil, err
		}
		// Edges away from the cluster catch up on the removals they missed.
		if err := s.pub.ServeRemovals(s.rooms.Removals); err != nil {
			s.closeAll()
			return nil, err
		}
		// And when this origin was the one away, it tells them again of
		// the removals it may have published into the void.
		s.cluster.OnReconnect(func() { s.rooms.Retell(s.cluster.LostSince()) })
	}
	s.stage.SetOnLeave(s.rooms.LeftStage)   // a session that ends by itself leaves the room's stage
	s.stage.SetOnTakeOver(s.rooms.TookOver) // a re-publish that connected replaced the older session
	// Ending a user's stage sessions is how both a suspension and a revoked
	// token take effect on the stage (room.Service.Suspend closes them in
	// every room). Login puzzles use a key of their own, so a solution for a
	// join is no solution for a login.
	loginKey := sha256.Sum256(append([]byte("majlis login pow v1\x00"), key...))
	accounts := account.New(account.Config{Store: s.st, AdminToken: s.adminTok, Signup: cfg.Signup,
		PasswordTime: cfg.PasswordTime, PasswordMemoryKiB: cfg.PasswordMemoryKiB, OnSuspend: s.rooms.Suspend,
		OnTokenRevoked: s.rooms.EndCredential, PoW: admission.NewPoW(loginKey[:]), Audit: s.audit,
		LoginsPerIP: cfg.LoginsPerIP, LoginsPerPrefix: cfg.LoginsPerPrefix, HashSlots: cfg.HashSlots, HashQueue: cfg.HashQueue, HashWait: cfg.HashWait,
		// Under load strangers prove work before a password is hashed. The
		// planes are built below, before anything is served.
		UnderLoad: func() bool { return s.planes != nil && s.planes.detector.Level() >= overload.Elevated }})
	// Trust and safety keeps a database of its own: notices, decisions and
	// complaints are on disk before they are acknowledged.
	if s.safety, err = safety.Open(safety.Config{Path: filepath.Join(cfg.DataDir, "safety.db"), Rooms: s.rooms, Accounts: accounts, Misuse: cfg.Misuse,
		Recordings: s.recs, Evidence: s.evidence, Audit: s.audit, Logger: s.log}); err != nil {
		s.closeAll()
		return nil, err
	}
	hlsTokens, err := hls.NewTokens(keys, cfg.HLS.TokenWindow, nil)
	if err != nil {
		s.closeAll()
		return nil, err
	}
	s.hls = hls.New(hls.Config{Timing: hls.Timing{Part: cfg.HLS.Part, Segment: cfg.HLS.Segment}, Programs: s.program,
		Bandwidth: s.hlsBandwidth()})
	var place httpapi.Placement
	if s.fleet != nil {
		place = s.fleet
	}
	s.api = httpapi.New(httpapi.Config{Live: s.live, Stage: s.stage, Fanout: s.fan, Tickets: signer, Metrics: s.met, Logger: s.log, Web: web.Handler(web.Config{Rooms: roomPreviews{s.rooms}, Logger: s.log, PublicURL: cfg.PublicURL}), PublicURL: cfg.PublicURL,
		Accounts: accounts, Rooms: s.rooms, Placement: place, Recordings: s.recs, ClipTTL: cfg.ClipTTL, Evidence: s.evidence, Audit: s.audit, Safety: s.safety, TicketKeys: rotator,
		HLS: &httpapi.HLSConfig{Origin: s.hls, Tokens: hlsTokens, Tickets: signer, Metrics: s.met, Rooms: s.rooms,
			CDNSecret: cfg.HLS.CDNSecret, BaseURL: cfg.HLS.BaseURL}})

	if s.httpLn, err = net.Listen("tcp", cfg.HTTPAddr); err != nil {
		s.closeAll()
		return nil, fmt.Errorf("http listen: %w", err)
	}
	if err := s.newPlanes(key, signer); err != nil {
		s.httpLn.Close()
		s.closeAll()
		return nil, err
	}
	if s.adminLn, err = net.Listen("tcp", cfg.AdminAddr); err != nil {
		s.httpLn.Close()
		s.planes.closeListeners()
		s.closeAll()
		return nil, fmt.Errorf("admin listen: %w", err)
	}
	// Rooms that were live when the process stopped go on: their program restarts.
	rooms, err := s.st.RoomsInState(context.Background(), store.StateLive)
	if err != nil {
		s.httpLn.Close()
		s.adminLn.Close()
		s.planes.closeListeners()
		s.closeAll()
		return nil, err
	}
	for _, r := range rooms {
		if _, err := s.live.Start(r.ID); err != nil {
			s.log.Error("restore live room", "room", r.ID, "err", err)
		} else if s.pub != nil {
			s.pub.Start(r.ID) // edges holding the room resume
		}
	}
	// A recording whose room ended while the process was down is the replay now.
	s.recs.Reconcile(func(id string) bool {
		info, err := s.rooms.Peek(context.Background(), id)
		return err == nil && info.State == room.StateEnded
	})
	return s, nil
}

// AuditPath is the audit log's file in a data dir.
func AuditPath(dataDir string) string { return filepath.Join(dataDir, "audit.db") }

// evidenceAccess records an evidence access in the audit log before the
// evidence is served (an access that cannot be recorded is refused), after
// Config.EvidenceAccess agreed to it.
func (s *Server) evidenceAccess(a recording.Access) error {
	if s.cfg.EvidenceAccess != nil {
		if err := s.cfg.EvidenceAccess(a); err != nil {
			return err
		}
	}
	_, err := s.audit.Record(context.Background(), a.Entry())
	return err
}

// joinCluster connects to the cluster (running the embedded server when
// asked), and starts publishing programs and reading the edges' reports.
func (s *Server) joinCluster(cc cluster.Config) error {
	cc.Logger, cc.Name = s.log, "majlis origin"
	c, err := cluster.Connect(cc, true)
	if err != nil {
		return err
	}
	s.cluster = c
	if s.pub, err = cluster.NewPublisher(c, s.program); err != nil {
		return err
	}
	if s.fleet, err = cluster.NewFleet(c, s.pub.Epoch(), cc.MaxPerEdge); err != nil {
		return err
	}
	if err := c.Register(s.met.Registry); err != nil {
		return err
	}
	return s.fleet.Register(s.met.Registry)
}

// program is a live room's program (the source of the HLS packagers and
// of the cluster's publisher), or nil.
func (s *Server) program(room string) *program.Program {
	if lr := s.live.Get(room); lr != nil {
		return lr.Program
	}
	return nil
}

// hlsBandwidth is the rendition's BANDWIDTH: the program's bitrate and
// about a quarter more for the fMP4 boxes and the variable bitrate.
func (s *Server) hlsBandwidth() int {
	b := s.cfg.Bitrate
	if b == 0 {
		b = live.DefaultBitrate
	}
	return b * 5 / 4
}

// udpAddr turns a bare port into HOST:PORT on the public HTTP host.
func udpAddr(udp, httpAddr string) string {
	if strings.Contains(udp, ":") {
		return udp
	}
	host, _, err := net.SplitHostPort(httpAddr)
	if err != nil {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, udp)
}

// adminToken returns the configured token, or the one stored in the data dir,
// generating and printing it on first start.
// Either must pass account.ValidAdminToken.
func adminToken(cfg Config) (string, error) {
	if cfg.AdminToken != "" {
		if !account.ValidAdminToken(cfg.AdminToken) {
			return "", fmt.Errorf("admin token (MAJLIS_ADMIN_TOKEN or admin-token in the config file): want %s", account.AdminTokenRule)
		}
		return cfg.AdminToken, nil
	}
	path := filepath.Join(cfg.DataDir, "admin.token")
	if b, err := os.ReadFile(path); err == nil {
		if t := strings.TrimSpace(string(b)); t != "" {
			if !account.ValidAdminToken(t) {
				return "", fmt.Errorf("admin token in %s: want %s (delete the file to have one generated)", path, account.AdminTokenRule)
			}
			return t, nil
		}
	}
	var b [32]byte
	rand.Read(b[:])
	tok := "mja_" + hex.EncodeToString(b[:])
	if err := os.WriteFile(path, []byte(tok+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("admin token: %w", err)
	}
	fmt.Fprintf(cfg.Out, "majlis: generated admin token (stored in %s): %s\n", path, tok)
	return tok, nil
}

// HTTPAddr is the bound public address.
func (s *Server) HTTPAddr() string { return s.httpLn.Addr().String() }

// AdminAddr is the bound admin address.
func (s *Server) AdminAddr() string { return s.adminLn.Addr().String() }

// publicServer is the http.Server of a public port (audience or stage) of
// every role.
func publicServer(h http.Handler, log *slog.Logger) *http.Server {
	return &http.Server{Handler: h, ReadHeaderTimeout: readHeaderTimeout, ReadTimeout: readTimeout,
		IdleTimeout: idleTimeout, MaxHeaderBytes: maxHeaderBytes, HTTP2: http2Limits(), ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelDebug)}
}

// Serve serves until ctx is done, then shuts down gracefully: it stops
// accepting, ends listener streams, stops the stage and mixers and closes the store.
func (s *Server) Serve(ctx context.Context) error {
	pub := publicServer(s.planes.handler, s.log)
	adm := adminServer(s.met, &s.ready, s.log)
	errc := make(chan error, 3)
	go func() { errc <- servePort(pub, s.httpLn, tlsOf(s.certs)) }()
	go func() { errc <- adm.Serve(apierror.Listener(s.adminLn)) }()
	s.servePlanes(errc)
	stopReload := watchReload(s.certs, s.log)
	defer stopReload()
	retCtx, retStop := context.WithCancel(context.Background())
	s.retStop, s.retDone = retStop, make(chan struct{})
	go func() {
		defer close(s.retDone)
		recording.RunRetention(retCtx, s.cfg.RetentionEvery, func(now time.Time) {
			s.recs.Sweep(now, s.cfg.RecordingRetention)
			s.evidence.Sweep(now)
		})
	}()
	if s.cfg.TDBURL != "" {
		sub := s.safety.NewSubmitter(safety.SubmitterConfig{URL: s.cfg.TDBURL, Token: s.cfg.TDBToken, Every: s.cfg.TDBEvery})
		s.subDone = make(chan struct{})
		go func() {
			defer close(s.subDone)
			sub.Run(retCtx)
		}()
	}
	s.ready.Store(true)
	s.log.Info("majlis serving", "http", s.HTTPAddr(), "admin", s.AdminAddr(), "webrtc_udp", s.stage.UDPAddr().String(), "tls", s.certs != nil)

	var err error
	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	s.ready.Store(false)
	shutCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// The room service first: it stores every live room's counts while the
	// listeners are still connected (the peak is sampled from them), and
	// ends the event streams. Then the listener streams, which never finish
	// on their own, so that Shutdown can drain.
	s.rooms.Close()
	s.fan.Close()
	s.hls.Close() // HLS requests waiting on a part end at once (EXT-X-ENDLIST)
	pub.Shutdown(shutCtx)
	s.shutdownPlanes(shutCtx)
	adm.Shutdown(shutCtx)
	s.retStop()
	<-s.retDone
	if s.subDone != nil {
		<-s.subDone
	}
	s.closeAll()
	s.log.Info("majlis stopped")
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

func (s *Server) closeAll() {
	s.closeOnce.Do(func() {
		if s.stage != nil {
			s.stage.Close()
		}
		if s.live != nil {
			s.live.Close()
		}
		// The programs are closed: every recording ends its file (end of
		// stream, sync, meta) before the store closes.
		if s.recs != nil {
			s.recs.Close()
		}
		if s.evidence != nil {
			s.evidence.Close()
		}
		if s.fan != nil {
			s.fan.Close()
		}
		if s.rooms != nil {
			s.rooms.Close()
		}
		if s.pub != nil {
			s.pub.Close() // edges are not told: they hold the rooms until this origin returns
		}
		if s.fleet != nil {
			s.fleet.Close()
		}
		if s.keyCast != nil {
			s.keyCast.Close()
		}
		if s.cluster != nil {
			s.cluster.Close()
		}
		if s.hls != nil {
			s.hls.Close()
		}
		// The API has stopped (Serve shut the HTTP servers down first): every
		// decision acknowledged is committed; the sweeper stops here.
		if s.safety != nil {
			s.safety.Close()
		}
		s.st.Close()
		// Last: every part that records (rooms, accounts, evidence, the
		// HTTP handlers) has stopped.
		s.audit.Close()
	})
}
