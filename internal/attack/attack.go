// Package attack floods a majlis audience port with junk, to test that the
// stage starts on time and existing listeners keep their audio meanwhile
// (`majlis attack`, internal/server's attack test). It only targets loopback
// (127.0.0.0/8, ::1) and every run is bounded in time and sockets: it is a
// test instrument, not a load tool for other people's servers.
//
// Kinds of junk, each run by its own workers from many source addresses
// (127.S.x.y, spread over many /24s like a botnet):
//
//	listen     ticketless (forged) listen.ogg requests
//	join       join floods that never solve the puzzle or wait their turn
//	slowloris  connections sending a header line every few seconds, never finishing
//	idle       connections that send nothing
//	wsflood    listeners that join properly, then flood the WebSocket with messages
//	whip       malformed SDP offers to WHIP with a bogus bearer
//
// and, only when asked for by name (MoreKinds):
//
//	login      wrong passwords for random names
//	slowbody   POSTs whose body trickles in
//	rooms      anonymous room lists (?state=live) and reads of unknown room ids
package attack

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"majlis/internal/joinclient"
)

// Kinds lists the attack kinds.
var Kinds = []string{"listen", "join", "slowloris", "idle", "wsflood", "whip"}

// MoreKinds are kinds run only when asked for by name: "login" (wrong
// passwords for random names, each from a fresh address: the password
// hashing pool and the per-address login limits) and "slowbody" (POSTs
// whose body trickles in, holding a socket each: the guard reads bodies
// before a request takes its in-flight slot) and "rooms" (anonymous
// GET /api/v1/rooms?state=live and GET /api/v1/rooms/{random id}, half
// each: big lists and cold lookups on the audience plane's store reads, the
// room-list flood that once slowed a host's stage calls). They are not in
// Kinds so that a default run stays the same run it always was.
var MoreKinds = []string{"login", "slowbody", "rooms"}

// Bounds on any run.
const (
	MaxDuration = 5 * time.Minute
	MaxSockets  = 8000 // held at once across slowloris, idle and wsflood
	MaxWorkers  = 256  // per request kind
)

// Config is one attack run.
type Config struct {
	Target string // http://127.0.0.1:8080 (loopback only)
	// JoinTarget is where wsflood joins (an edge serves listeners only, so
	// aimed at an edge the joins go to its origin); default Target.
	JoinTarget string
	Room       string        // the room to aim at
	Kinds      []string      // default all
	Duration   time.Duration // ≤ MaxDuration
	Workers    int           // concurrent requesters per request kind (listen, join, whip, login, rooms); default 16
	Sockets    int           // sockets per socket kind (slowloris, idle); default 200
	WSConns    int           // WebSocket flooders; default 8
	// SourceNets is how many /24 networks the sources span (127.S.0.0/24 from S=100); default 16.
	SourceNets int
}

// KindReport is what one kind did.
type KindReport struct {
	Requests int64          `json:"requests"`          // requests sent or sockets opened
	Errors   int64          `json:"errors"`            // network errors (refused, reset, timeouts)
	Status   map[string]int `json:"status,omitempty"`  // answers by status code
	Held     int64          `json:"held,omitempty"`    // most sockets held at once
	Bytes    int64          `json:"bytes,omitempty"`   // bytes sent (wsflood)
	Refused  int64          `json:"refused,omitempty"` // sockets closed by the server early
}

// Report is a run's outcome by kind.
type Report struct {
	Duration time.Duration          `json:"duration_ns"`
	Kinds    map[string]*KindReport `json:"kinds"`
}

func (r Report) String() string {
	var b strings.Builder
	names := make([]string, 0, len(r.Kinds))
	for k := range r.Kinds {
		names = append(names, k)
	}
	sort.Strings(names)
	fmt.Fprintf(&b, "attack ran %v\n", r.Duration.Round(time.Millisecond))
	for _, k := range names {
		kr := r.Kinds[k]
		fmt.Fprintf(&b, "  %-10s requests %-8d errors %-6d held %-5d refused %-6d bytes %-9d status %v\n", k, kr.Requests, kr.Errors, kr.Held, kr.Refused, kr.Bytes, kr.Status)
	}
	return b.String()
}

// CheckLoopback refuses targets that are not loopback addresses.
func CheckLoopback(target string) (host string, err error) {
	u, err := url.Parse(target)
	if err != nil || (u.Scheme != "http" && u.Scheme != "ws") {
		return "", fmt.Errorf("attack target %q: want http://127.x.y.z:port", target)
	}
	h := u.Hostname()
	if h == "localhost" {
		return u.Host, nil
	}
	a, err := netip.ParseAddr(h)
	if err != nil || !a.IsLoopback() {
		return "", fmt.Errorf("attack target %q: only loopback addresses may be attacked", target)
	}
	return u.Host, nil
}

type counter struct {
	requests, errors, held, peak, bytes, refused atomic.Int64
	mu                                           sync.Mutex
	status                                       map[string]int
}

func (c *counter) hold() {
	n := c.held.Add(1)
	for p := c.peak.Load(); n > p && !c.peak.CompareAndSwap(p, n); p = c.peak.Load() {
	}
}

func (c *counter) code(code int) {
	c.mu.Lock()
	c.status[fmt.Sprint(code)]++
	c.mu.Unlock()
}

// Run floods until ctx ends or cfg.Duration passes, then closes every socket it opened.
func Run(ctx context.Context, cfg Config) (Report, error) {
	hostport, err := CheckLoopback(cfg.Target)
	if err != nil {
		return Report{}, err
	}
	if cfg.JoinTarget == "" {
		cfg.JoinTarget = cfg.Target
	}
	if _, err := CheckLoopback(cfg.JoinTarget); err != nil {
		return Report{}, err
	}
	if cfg.Duration <= 0 || cfg.Duration > MaxDuration {
		return Report{}, fmt.Errorf("attack duration %v: want (0, %v]", cfg.Duration, MaxDuration)
	}
	if len(cfg.Kinds) == 0 {
		cfg.Kinds = Kinds
	}
	cfg.Workers = clamp(cfg.Workers, 16, MaxWorkers)
	cfg.Sockets = clamp(cfg.Sockets, 200, MaxSockets/2)
	cfg.WSConns = clamp(cfg.WSConns, 8, 256)
	cfg.SourceNets = clamp(cfg.SourceNets, 16, 100)
	ctx, cancel := context.WithTimeout(ctx, cfg.Duration)
	defer cancel()
	src := &sources{nets: cfg.SourceNets}
	rep := Report{Kinds: map[string]*KindReport{}}
	counters := map[string]*counter{}
	var wg sync.WaitGroup
	start := time.Now()
	for _, k := range cfg.Kinds {
		c := &counter{status: map[string]int{}}
		counters[k] = c
		var work func(ctx context.Context, i int)
		n := cfg.Workers
		switch k {
		case "listen":
			work = func(ctx context.Context, i int) {
				requests(ctx, src, c, "GET", fixed(cfg.Target+"/api/v1/rooms/"+cfg.Room+"/listen.ogg?t=AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"), "", nil)
			}
		case "join":
			work = func(ctx context.Context, i int) {
				requests(ctx, src, c, "POST", fixed(cfg.Target+"/api/v1/rooms/"+cfg.Room+"/join"), "", nil)
			}
		case "whip":
			work = func(ctx context.Context, i int) {
				requests(ctx, src, c, "POST", fixed(cfg.Target+"/api/v1/rooms/"+cfg.Room+"/whip"), "application/sdp",
					map[string]string{"Authorization": "Bearer junk-token"})
			}
		case "login":
			work = func(ctx context.Context, i int) {
				requests(ctx, src, c, "POST", fixed(cfg.Target+"/api/v1/login"), "application/json", nil)
			}
		case "rooms":
			work = func(ctx context.Context, i int) {
				requests(ctx, src, c, "GET", roomReads(cfg.Target, i), "", nil)
			}
		case "slowbody":
			n = cfg.Sockets
			work = func(ctx context.Context, i int) { slowbody(ctx, src, c, hostport, cfg.Room) }
		case "slowloris":
			n = cfg.Sockets
			work = func(ctx context.Context, i int) { slowloris(ctx, src, c, hostport, cfg.Room) }
		case "idle":
			n = cfg.Sockets
			work = func(ctx context.Context, i int) { idle(ctx, src, c, hostport) }
		case "wsflood":
			n = cfg.WSConns
			work = func(ctx context.Context, i int) { wsflood(ctx, src, c, cfg) }
		default:
			return Report{}, fmt.Errorf("attack kind %q: want one of %v or %v", k, Kinds, MoreKinds)
		}
		for i := range n {
			wg.Add(1)
			go func() { defer wg.Done(); work(ctx, i) }()
		}
	}
	wg.Wait()
	rep.Duration = time.Since(start)
	for k, c := range counters {
		rep.Kinds[k] = &KindReport{Requests: c.requests.Load(), Errors: c.errors.Load(), Status: c.status, Held: c.peak.Load(), Bytes: c.bytes.Load(), Refused: c.refused.Load()}
	}
	return rep, nil
}

func clamp(v, def, hi int) int {
	if v <= 0 {
		return def
	}
	return min(v, hi)
}

// sources hands out source addresses 127.S.x.y across nets /24s.
type sources struct {
	nets int
	n    atomic.Uint64
}

func (s *sources) next() *net.TCPAddr {
	i := s.n.Add(1)
	return &net.TCPAddr{IP: net.IPv4(127, byte(100+int(i)%s.nets), byte(i/uint64(s.nets)%250), byte(1+i%250))}
}

func (s *sources) dialer() *net.Dialer {
	return &net.Dialer{LocalAddr: s.next(), Timeout: 3 * time.Second}
}

// fixed is a target that is always url.
func fixed(url string) func() string { return func() string { return url } }

// roomReads alternates, for worker i, the live room list and a room id
// nobody made (16 characters of base32, as store.NewID makes them: a
// well-formed id, so the lookup reaches the store and finds nothing).
func roomReads(base string, i int) func() string {
	n := i
	return func() string {
		n++
		if n%2 == 0 {
			return base + "/api/v1/rooms?state=live"
		}
		const alphabet = "abcdefghijklmnopqrstuvwxyz234567"
		id := make([]byte, 16)
		for k := range id {
			id[k] = alphabet[rand.IntN(len(alphabet))]
		}
		return base + "/api/v1/rooms/" + string(id)
	}
}

// requests sends junk requests back to back to target's URLs, each on a
// fresh connection from a fresh source address.
func requests(ctx context.Context, src *sources, c *counter, method string, target func() string, ctype string, hdr map[string]string) {
	tr := &http.Transport{DisableKeepAlives: true, DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		return src.dialer().DialContext(ctx, network, addr)
	}}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 5 * time.Second}
	for ctx.Err() == nil {
		var body io.Reader
		switch ctype {
		case "application/sdp":
			body = strings.NewReader("v=0\r\no=- junk\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=rtpmap:111 opus/48000/2\r\n\x00\xff")
		case "application/json": // a login guess
			body = strings.NewReader(fmt.Sprintf(`{"name":"user%d","password":"guess-%d"}`, c.requests.Load()%1000, c.requests.Load()))
		}
		req, _ := http.NewRequestWithContext(ctx, method, target(), body)
		if ctype != "" {
			req.Header.Set("Content-Type", ctype)
		}
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		c.requests.Add(1)
		resp, err := client.Do(req)
		if err != nil {
			if ctx.Err() == nil {
				c.errors.Add(1)
				time.Sleep(10 * time.Millisecond) // a refused connect returns at once: do not spin
			}
			continue
		}
		c.code(resp.StatusCode)
		io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
		resp.Body.Close()
	}
}

// hold keeps a socket and redials when the server drops it.
func hold(ctx context.Context, src *sources, c *counter, hostport string, each func(conn net.Conn) error) {
	for ctx.Err() == nil {
		conn, err := src.dialer().DialContext(ctx, "tcp", hostport)
		c.requests.Add(1)
		if err != nil {
			if ctx.Err() == nil {
				c.errors.Add(1)
				time.Sleep(100 * time.Millisecond)
			}
			continue
		}
		c.hold()
		stop := context.AfterFunc(ctx, func() { conn.Close() })
		err = each(conn)
		stop()
		conn.Close()
		c.held.Add(-1)
		if ctx.Err() == nil && err != nil {
			c.refused.Add(1)
			time.Sleep(200 * time.Millisecond)
		}
	}
}

func slowloris(ctx context.Context, src *sources, c *counter, hostport, room string) {
	hold(ctx, src, c, hostport, func(conn net.Conn) error {
		if _, err := fmt.Fprintf(conn, "GET /api/v1/rooms/%s HTTP/1.1\r\nHost: x\r\n", room); err != nil {
			return err
		}
		for i := 0; ctx.Err() == nil; i++ {
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(2 * time.Second):
			}
			if _, err := fmt.Fprintf(conn, "X-Slow-%d: %d\r\n", i, i); err != nil {
				return err
			}
		}
		return nil
	})
}

// slowbody sends a POST's headers and then its body a few bytes every 2 s.
func slowbody(ctx context.Context, src *sources, c *counter, hostport, room string) {
	hold(ctx, src, c, hostport, func(conn net.Conn) error {
		if _, err := fmt.Fprintf(conn, "POST /api/v1/rooms/%s/reactions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 60000\r\n\r\n{", room); err != nil {
			return err
		}
		for ctx.Err() == nil {
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(2 * time.Second):
			}
			if _, err := io.WriteString(conn, "  "); err != nil {
				return err
			}
		}
		return nil
	})
}

func idle(ctx context.Context, src *sources, c *counter, hostport string) {
	hold(ctx, src, c, hostport, func(conn net.Conn) error {
		// Wait for the server to drop us (or the end): a read returns then.
		_, err := conn.Read(make([]byte, 1))
		return err
	})
}

// listenPath is a join's listen URL as a path with its query: over a
// cluster the origin answers with an absolute URL on an edge, and wsflood
// opens the path at cfg.Target whichever the answer names.
func listenPath(u string) string {
	if pu, err := url.Parse(u); err == nil && pu.IsAbs() {
		return pu.RequestURI()
	}
	return u
}

// wsflood joins properly (puzzle, queue) at cfg.JoinTarget, opens listen.ws
// at cfg.Target and floods it with binary messages, reconnecting when
// dropped.
func wsflood(ctx context.Context, src *sources, c *counter, cfg Config) {
	tr := &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		return src.dialer().DialContext(ctx, network, addr)
	}}
	defer tr.CloseIdleConnections()
	// One join request or one WebSocket handshake at a time: each gets what
	// the junk requests get (the library bounds only the handshake with it,
	// not the flood that follows).
	client := &http.Client{Transport: tr, Timeout: 5 * time.Second}
	msg := make([]byte, 1024)
	for ctx.Err() == nil {
		j, err := joinclient.Join(ctx, cfg.JoinTarget, cfg.Room, joinclient.Options{Client: client, MaxAttempts: 50})
		if err != nil {
			if ctx.Err() == nil {
				c.errors.Add(1)
				time.Sleep(200 * time.Millisecond)
			}
			continue
		}
		wsURL := strings.Replace(cfg.Target, "http", "ws", 1) + listenPath(j.Listen.WS)
		conn, _, err := websocket.Dial(ctx, wsURL, &websocket.DialOptions{HTTPClient: client})
		c.requests.Add(1)
		if err != nil {
			if ctx.Err() == nil {
				c.errors.Add(1)
				time.Sleep(200 * time.Millisecond)
			}
			continue
		}
		c.hold()
		conn.SetReadLimit(1 << 20)
		drained := make(chan struct{})
		go func() { // drain what the server sends so it is not a slow listener for that reason
			defer close(drained)
			for {
				if _, _, err := conn.Read(ctx); err != nil {
					return
				}
			}
		}()
		for ctx.Err() == nil {
			wctx, cancel := context.WithTimeout(ctx, time.Second)
			err := conn.Write(wctx, websocket.MessageBinary, msg)
			cancel()
			if err != nil {
				if ctx.Err() == nil {
					c.refused.Add(1)
				}
				break
			}
			c.bytes.Add(int64(len(msg)))
		}
		conn.CloseNow()
		<-drained
		c.held.Add(-1)
	}
}
