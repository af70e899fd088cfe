package stage

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"slices"
	"sync"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/webrtc/v4"

	"majlis/internal/metrics"
)

// Defaults for the Config timeouts.
const (
	DefaultConnectTimeout      = 30 * time.Second
	DefaultDisconnectedTimeout = 10 * time.Second
)

// Config configures a Stage.
type Config struct {
	// UDPAddr is the one UDP socket for all ICE traffic ("127.0.0.1:0" style;
	// port 0 picks a random port). A specific IP is advertised as the host
	// candidate; an unspecified IP advertises every local interface.
	UDPAddr string
	// PublicIPs are optional NAT 1:1 addresses advertised instead of the
	// local address in host candidates.
	PublicIPs []string
	Metrics   *metrics.Metrics
	Logger    *slog.Logger

	// ConnectTimeout ends a session whose peer connection is not connected
	// this long after Publish (DefaultConnectTimeout when zero).
	ConnectTimeout time.Duration
	// DisconnectedTimeout ends a session whose peer connection stays
	// disconnected this long (DefaultDisconnectedTimeout when zero).
	DisconnectedTimeout time.Duration
}

// Stage holds the WebRTC sessions of every room's stage members.
type Stage struct {
	cfg  Config
	log  *slog.Logger
	m    *metrics.Metrics
	conn net.PacketConn
	mux  ice.UDPMux
	se   webrtc.SettingEngine // copied per session

	mu         sync.Mutex
	closed     bool
	sessions   map[string]*Session // by ID
	rooms      map[string]*room
	onLeave    func(room, member string)
	onTakeOver func(room, member, session string)

	wg sync.WaitGroup // one count per live session, released when its teardown is complete
}

// New opens the UDP socket and returns a ready Stage.
func New(cfg Config) (*Stage, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if cfg.Metrics == nil {
		cfg.Metrics = metrics.New(nil)
	}
	if cfg.ConnectTimeout <= 0 {
		cfg.ConnectTimeout = DefaultConnectTimeout
	}
	if cfg.DisconnectedTimeout <= 0 {
		cfg.DisconnectedTimeout = DefaultDisconnectedTimeout
	}
	if cfg.UDPAddr == "" {
		cfg.UDPAddr = ":0"
	}
	conn, err := net.ListenPacket("udp", cfg.UDPAddr)
	if err != nil {
		return nil, fmt.Errorf("stage: listen udp %s: %w", cfg.UDPAddr, err)
	}
	lf := &pionLogFactory{log: cfg.Logger.With("component", "pion")}
	mux := webrtc.NewICEUDPMux(lf.NewLogger("udpmux"), conn)

	var se webrtc.SettingEngine
	se.LoggerFactory = lf
	se.SetICEUDPMux(mux)
	// mDNS host names would hide the one address clients can reach.
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	// Pion reports disconnected after 5 s without traffic and failed 10 s later;
	// the session supervisor acts on both.
	se.SetICETimeouts(5*time.Second, 10*time.Second, 2*time.Second)
	if ua, ok := conn.LocalAddr().(*net.UDPAddr); ok && ua.IP.IsLoopback() {
		// A stage bound to loopback (tests, a local reverse proxy) must
		// advertise it, which Pion skips by default.
		se.SetIncludeLoopbackCandidate(true)
	}
	if len(cfg.PublicIPs) > 0 {
		err := se.SetICEAddressRewriteRules(webrtc.ICEAddressRewriteRule{
			External:        slices.Clone(cfg.PublicIPs),
			AsCandidateType: webrtc.ICECandidateTypeHost,
			Mode:            webrtc.ICEAddressRewriteReplace,
		})
		if err != nil {
			_ = mux.Close()
			return nil, fmt.Errorf("stage: public ips: %w", err)
		}
	}

	return &Stage{
		cfg:      cfg,
		log:      cfg.Logger,
		m:        cfg.Metrics,
		conn:     conn,
		mux:      mux,
		se:       se,
		sessions: make(map[string]*Session),
		rooms:    make(map[string]*room),
	}, nil
}

// UDPAddr is the address of the ICE socket.
func (s *Stage) UDPAddr() net.Addr { return s.conn.LocalAddr() }

// Close ends every session, waits for their goroutines and closes the socket.
func (s *Stage) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	all := make([]*Session, 0, len(s.sessions))
	for _, sess := range s.sessions {
		all = append(all, sess)
	}
	s.mu.Unlock()

	for _, sess := range all {
		sess.requestClose()
	}
	for _, sess := range all {
		<-sess.done
	}
	s.wg.Wait()
	err := s.mux.Close()
	if cerr := s.conn.Close(); cerr != nil && !errors.Is(cerr, net.ErrClosed) && err == nil {
		err = cerr
	}
	return err
}

// Session returns the session with that ID, or nil.
func (s *Stage) Session(id string) *Session {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sessions[id]
}

// CloseRoom ends every session of the room, pending ones too (the room ended).
func (s *Stage) CloseRoom(name string) {
	s.mu.Lock()
	var victims []*Session
	if r := s.rooms[name]; r != nil {
		victims = slices.Clone(r.order)
		for _, p := range r.pending {
			victims = append(victims, p)
		}
	}
	s.mu.Unlock()
	for _, sess := range victims {
		sess.Close()
	}
}

// Members lists the member IDs on the room's stage, sorted.
func (s *Stage) Members(name string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.rooms[name]
	if r == nil {
		return nil
	}
	out := make([]string, 0, len(r.order))
	for _, sess := range r.order {
		out = append(out, sess.member)
	}
	slices.Sort(out)
	return out
}

// SetOnLeave sets a callback run when a member leaves the stage: its current
// session ended for any reason (ICE failure or close, DELETE, CloseRoom,
// Stage.Close) except being replaced by a newer session of the same member,
// who stays on stage. A pending re-publish that ends without taking over is
// no leave either. It runs on the ending session's goroutine after its
// teardown, so it may call back into the Stage.
func (s *Stage) SetOnLeave(f func(room, member string)) {
	s.mu.Lock()
	s.onLeave = f
	s.mu.Unlock()
}

// SetOnTakeOver sets a callback run when a member's pending re-publish
// connected and took over: session is the new current session; the older
// one has been torn down (it ended as replaced, with no leave). It runs on
// the new session's goroutine with no Stage lock held.
func (s *Stage) SetOnTakeOver(f func(room, member, session string)) {
	s.mu.Lock()
	s.onTakeOver = f
	s.mu.Unlock()
}

func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	return hex.EncodeToString(b[:])
}
