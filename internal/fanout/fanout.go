package fanout

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"majlis/internal/fanout/shard"
	"majlis/internal/metrics"
	"majlis/internal/program"
	"majlis/internal/ratelimit"
)

// Defaults of Config.
const (
	defaultPreroll    = 200 * time.Millisecond
	defaultMaxBacklog = 25
	defaultMaxSkips   = 3
	// defaultWriteTimeout is the engine's default too (shard.Config).
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
	// WriteTimeout: a listener whose connection takes no byte for this
	// long is disconnected. Default 5 s.
	WriteTimeout time.Duration
	// InsecureSkipVerify disables the WebSocket origin check (for
	// development and cross-origin players). Default false: the browser's
	// Origin must match the Host.
	InsecureSkipVerify bool
	// Shards is how many writer goroutines serve the listeners of one
	// program at most (a small program shares one with others); default
	// GOMAXPROCS.
	Shards int
	// NoURing makes the shards write with write(2) even when io_uring is
	// available (for comparison).
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
	engine *shard.Engine
	closed atomic.Bool

	listeners atomic.Int64
	ogg, ws   protoMetrics
	// The listener kinds of the engine: chunked Ogg over HTTP/1.1, plain
	// Ogg over HTTP/1.0, WebSocket.
	oggKind, ogg10Kind, wsKind shard.Kind

	// The listeners served by a goroutine each (TLS terminated here,
	// tls.go): their kind for listen.ogg (Chunk.Ogg, framed by net/http),
	// and what Close cancels and waits for. smu guards sclosed and swg.Add.
	oggTLSKind shard.Kind
	sctx       context.Context
	scancel    context.CancelFunc
	smu        sync.Mutex
	sclosed    bool
	swg        sync.WaitGroup
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

// sent counts one shard round's deliveries.
func (pm *protoMetrics) sent(bytes, chunks int) {
	pm.bytes.Add(float64(bytes))
	pm.chunks.Add(float64(chunks))
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
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	h := &Hub{
		cfg: cfg,
		ogg: newProtoMetrics(cfg.Metrics, "ogg"),
		ws:  newProtoMetrics(cfg.Metrics, "ws"),
	}
	h.oggKind = shard.Kind{Wire: oggHTTPWire, Final: oggFinal, Sent: h.ogg.sent}
	h.ogg10Kind = shard.Kind{Wire: oggWire, Sent: h.ogg.sent}
	h.oggTLSKind = shard.Kind{Wire: oggWire, Sent: h.ogg.sent}
	h.sctx, h.scancel = context.WithCancel(context.Background())
	h.wsKind = shard.Kind{Wire: wsFrameWire, Final: wsFinal, Sent: h.ws.sent, Input: &shard.Input{
		MaxFrame: wsReadLimit,
		Rate:     ratelimit.Rate{PerSecond: wsMsgPerSecond, Burst: wsMsgBurst},
	}}
	h.engine = shard.New(shard.Config{
		Shards:           cfg.Shards,
		NoURing:          cfg.NoURing,
		RingMinListeners: cfg.RingMinListeners,
		MaxBacklog:       cfg.MaxBacklog,
		WriteTimeout:     cfg.WriteTimeout,
		Logger:           cfg.Logger,
	}, slowPolicy{h}, &h.oggKind, &h.ogg10Kind, &h.wsKind)
	return h
}

// Listeners is the number of listeners currently connected to this hub.
func (h *Hub) Listeners() int { return int(h.listeners.Load()) }

// Close disconnects every listener and waits until the engine's shards
// have ended. Later requests are refused with 503.
func (h *Hub) Close() {
	h.closed.Store(true)
	h.engine.Close()
	h.closeStreams()
}

// metricsOf is the protocol metrics of listeners of kind k.
func (h *Hub) metricsOf(k *shard.Kind) *protoMetrics {
	if k == &h.wsKind {
		return &h.ws
	}
	return &h.ogg
}

// connected counts a listener in; the returned function, the listener's
// Handover.Ended, counts it out (a write timeout as a drop) and runs onEnd.
func (h *Hub) connected(pm *protoMetrics, onEnd func()) (ended func(error)) {
	h.listeners.Add(1)
	pm.listeners.Inc()
	return func(err error) {
		if errors.Is(err, shard.ErrWriteTimeout) {
			pm.drops.Inc()
		}
		h.listeners.Add(-1)
		pm.listeners.Dec()
		onEnd()
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

// startPos is where a listener connecting now starts: the newest preroll.
func (h *Hub) startPos(p *program.Program) uint64 {
	head := p.Head()
	return head - min(h.preroll(p), head)
}

// errTooSlow ends a listener that fell behind more than MaxSkips times.
var errTooSlow = errors.New("listener too slow")

// slowPolicy is the hub's rule for lagging listeners: skip forward to the
// newest preroll, MaxSkips times; the next time, disconnect. A slow
// listener therefore only ever hurts itself.
type slowPolicy struct{ h *Hub }

func (sp slowPolicy) Lagging(p *program.Program, k *shard.Kind, head uint64, skips int) (uint64, error) {
	h := sp.h
	pm := h.metricsOf(k)
	if skips >= h.cfg.MaxSkips {
		pm.drops.Inc()
		return 0, errTooSlow
	}
	pm.skips.Inc()
	return head - min(h.preroll(p), head), nil
}
