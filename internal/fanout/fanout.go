package fanout

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"majlis/internal/metrics"
	"majlis/internal/program"
)

// Defaults of Config.
const (
	defaultPreroll      = 200 * time.Millisecond
	defaultMaxBacklog   = 25
	defaultMaxSkips     = 3
	defaultWriteTimeout = 5 * time.Second
)

// Config tunes a Hub. Zero values take the documented defaults.
type Config struct {
	Metrics *metrics.Metrics // a fresh metrics.New(nil) when nil

	// PrerollChunks is how many recent chunks a listener gets at connect
	// (and after a skip). Default: enough for ~200 ms of audio. It is kept
	// below MaxBacklog and the program's ring.
	PrerollChunks int
	// MaxBacklog is how many chunks a listener may fall behind the head
	// before it is skipped forward. Default 25.
	MaxBacklog int
	// MaxSkips is how many times a listener may be skipped forward; the
	// next time it falls behind it is disconnected. Default 3; negative
	// means none (disconnect the first time it falls behind).
	MaxSkips int
	// WriteTimeout bounds each write to a listener; a listener that cannot
	// take a write within it is disconnected. Default 5 s.
	WriteTimeout time.Duration
	// InsecureSkipVerify disables the WebSocket origin check (for
	// development and cross-origin players). Default false: the browser's
	// Origin must match the Host.
	InsecureSkipVerify bool
	// Shards is how many writer goroutines serve the sharded listeners of
	// one program; default GOMAXPROCS. PerListener turns the sharded
	// writer off: one goroutine per listener, writing through net/http
	// (kept for comparison and for connections that cannot be hijacked).
	Shards      int
	PerListener bool
	// NoURing makes the shards write with write(2) even when io_uring is
	// available (for comparison; see batch.go).
	NoURing bool
	// RingMinListeners is the audience of a shard from which it writes
	// through io_uring; default 64.
	RingMinListeners int
	// Logger gets the hub's rare notices (io_uring unavailable); default slog.Default().
	Logger *slog.Logger
}

// Hub serves listeners of any number of programs.
type Hub struct {
	cfg    Config
	ctx    context.Context // canceled by Close
	cancel context.CancelFunc

	mu     sync.Mutex // guards closed and wg.Add against Close
	closed bool
	wg     sync.WaitGroup

	listeners atomic.Int64
	ringSends atomic.Int64 // sends that went through io_uring (tests look)
	breakRing atomic.Bool  // tests: the next ring batch fails
	noRing    atomic.Bool  // the kernel offers no io_uring: shards use write(2)
	ogg, ws   protoMetrics
	// oggKind and wsKind describe detached listeners of each protocol.
	oggKind, wsKind listenerKind

	smu      sync.Mutex // guards stations
	stations map[*program.Program]*station
}

// protoMetrics are the collectors of one protocol, resolved once so the hot
// path does no label lookups.
type protoMetrics struct {
	listeners    prometheus.Gauge
	bytes        prometheus.Counter
	chunks       prometheus.Counter
	skips, drops prometheus.Counter
}

func newProtoMetrics(m *metrics.Metrics, proto string) protoMetrics {
	return protoMetrics{
		listeners: m.Listeners.WithLabelValues(proto),
		bytes:     m.BytesSent.WithLabelValues(proto),
		chunks:    m.ChunksSent.WithLabelValues(proto),
		skips:     m.SlowSkips.WithLabelValues(proto),
		drops:     m.SlowDrops.WithLabelValues(proto),
	}
}

// NewHub returns a Hub ready to serve.
func NewHub(cfg Config) *Hub {
	if cfg.Metrics == nil {
		cfg.Metrics = metrics.New(nil)
	}
	if cfg.MaxBacklog <= 0 {
		cfg.MaxBacklog = defaultMaxBacklog
	}
	switch {
	case cfg.MaxSkips == 0:
		cfg.MaxSkips = defaultMaxSkips
	case cfg.MaxSkips < 0:
		cfg.MaxSkips = 0
	}
	if cfg.WriteTimeout <= 0 {
		cfg.WriteTimeout = defaultWriteTimeout
	}
	if cfg.RingMinListeners <= 0 {
		cfg.RingMinListeners = defaultRingMinListeners
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	ctx, cancel := context.WithCancel(context.Background())
	h := &Hub{
		cfg:    cfg,
		ctx:    ctx,
		cancel: cancel,
		ogg:    newProtoMetrics(cfg.Metrics, "ogg"),
		ws:     newProtoMetrics(cfg.Metrics, "ws"),
	}
	h.oggKind = listenerKind{idx: 0, wire: oggHTTPWire, final: oggFinal, pm: &h.ogg}
	h.wsKind = listenerKind{idx: 1, wire: wsFrameWire, final: wsFinal, pm: &h.ws}
	return h
}

// Listeners is the number of listeners currently connected to this hub.
func (h *Hub) Listeners() int { return int(h.listeners.Load()) }

// Close disconnects every listener and waits until their goroutines have
// ended. Later requests are refused with 503.
func (h *Hub) Close() {
	h.mu.Lock()
	h.closed = true
	h.mu.Unlock()
	h.cancel()
	h.wg.Wait()
}

// join registers a listener goroutine; false once the hub is closed.
func (h *Hub) join() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return false
	}
	h.wg.Add(1)
	return true
}

func (h *Hub) connected(pm *protoMetrics) (disconnected func()) {
	h.listeners.Add(1)
	pm.listeners.Inc()
	return func() {
		h.listeners.Add(-1)
		pm.listeners.Dec()
	}
}

// preroll is the number of chunks sent at connect and after a skip.
func (h *Hub) preroll(p *program.Program) uint64 {
	pc := p.Config()
	n := h.cfg.PrerollChunks
	if n <= 0 {
		chunk := time.Duration(p.ChunkFrames()) * program.FrameSamples * time.Second / program.SampleRate
		n = int((defaultPreroll + chunk - 1) / chunk)
	}
	// A preroll at or above the backlog limit would skip again at once, and
	// the oldest ring slot may be overwritten while we read it.
	n = min(n, h.cfg.MaxBacklog-1, pc.RingChunks-2)
	return uint64(max(n, 0))
}

var (
	errTooSlow      = errors.New("listener too slow")
	errWriteTimeout = errors.New("write timed out")
	errInterrupted  = errors.New("write interrupted: hub closing")
)

// sink is one listener's connection.
type sink interface {
	// write sends one chunk's (or the stream header's) shared bytes. It
	// returns errWriteTimeout when the write did not finish in time, and
	// errInterrupted when the hub closed during the write.
	write(b []byte) error
	// flush pushes buffered bytes; called whenever the listener has caught
	// up with the head, so a lagging listener batches its writes.
	flush() error
}

// startPos is where a listener connecting now starts: the newest preroll.
func (h *Hub) startPos(p *program.Program) uint64 {
	head := p.Head()
	return head - min(h.preroll(p), head)
}

// stream writes p's chunks to s from chunk pos on, until p closes (nil),
// ctx is done, a write fails or the listener is too slow.
func (h *Hub) stream(ctx context.Context, p *program.Program, pos uint64, s sink, pm *protoMetrics, ws bool) error {
	preroll := h.preroll(p)
	maxBacklog := uint64(h.cfg.MaxBacklog)
	var head uint64
	skips := 0
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		head = p.Head()
		if pos < head {
			var c *program.Chunk
			if head-pos <= maxBacklog {
				c = p.Chunk(pos)
			}
			if c == nil { // too far behind, or the chunk was overwritten
				if skips == h.cfg.MaxSkips {
					pm.drops.Inc()
					return errTooSlow
				}
				skips++
				pm.skips.Inc()
				pos = head - min(preroll, head)
				continue
			}
			b := c.Ogg
			if ws {
				b = c.WS
			}
			if err := s.write(b); err != nil {
				if errors.Is(err, errWriteTimeout) {
					pm.drops.Inc()
				}
				return err
			}
			pm.bytes.Add(float64(len(b)))
			pm.chunks.Inc()
			pos++
			continue
		}
		if err := s.flush(); err != nil {
			if errors.Is(err, errWriteTimeout) {
				pm.drops.Inc()
			}
			return err
		}
		// Take the wait channel before the last look at Head, so a chunk
		// published in between still wakes us.
		wait := p.Wait()
		if p.Head() > pos {
			continue
		}
		if p.Closed() {
			return nil
		}
		select {
		case <-wait:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// shuttingDown answers requests that arrive after Close.
func shuttingDown(w http.ResponseWriter) {
	w.Header().Set("Retry-After", "1")
	http.Error(w, "server shutting down", http.StatusServiceUnavailable)
}
