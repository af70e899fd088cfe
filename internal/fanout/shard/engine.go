package shard

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"majlis/internal/apierror"
	"majlis/internal/program"
	"majlis/internal/ratelimit"
)

// Defaults of Config.
const (
	defaultWriteTimeout   = 5 * time.Second
	defaultMaxBacklog     = 25
	defaultShardListeners = 256
)

// Config tunes an Engine. Zero values take the documented defaults.
type Config struct {
	// Shards is how many shard goroutines serve the listeners of one
	// program at most, and how many pool shards the small programs share;
	// default GOMAXPROCS.
	Shards int
	// ShardListeners is the audience a program's shard serves before the
	// program gets another (up to Shards); default 256. A small room stays
	// on its pool shard, which it shares with other small rooms: a process
	// of a thousand small rooms wakes a few writers per chunk, not a
	// thousand. More writers help only an audience whose writes take a
	// core's time.
	ShardListeners int
	// NoURing makes the shards write with write(2) even when io_uring is
	// available (for comparison; see batch.go).
	NoURing bool
	// RingMinListeners is the audience of a shard from which it writes
	// through io_uring; default 64.
	RingMinListeners int
	// MaxBacklog is how many chunks a listener may lag behind the head
	// before the Policy decides what becomes of it. Default 25.
	MaxBacklog int
	// WriteTimeout: a listener whose socket takes no byte for this long
	// ends with ErrWriteTimeout. Default 5 s.
	WriteTimeout time.Duration
	// Logger gets the engine's rare notices (io_uring or epoll
	// unavailable); default slog.Default().
	Logger *slog.Logger
}

// Policy decides for the engine what becomes of a listener that lags.
type Policy interface {
	// Lagging is asked when a listener of p is more than MaxBacklog
	// chunks behind head, or its next chunk was overwritten in the ring,
	// after skips earlier such skips. It returns the chunk the listener
	// continues from, or the error it ends with (which Kind.Final gets).
	Lagging(p *program.Program, k *Kind, head uint64, skips int) (pos uint64, err error)
}

// Kind is what differs between the protocols of listeners: one per
// protocol, shared by its listeners, given to New.
type Kind struct {
	// Wire is a chunk's bytes for this protocol (shared by all listeners).
	Wire func(*program.Chunk) []byte
	// Final returns what to write (best effort, and only between chunks)
	// when a listener ends with err: the end of a chunked body, a
	// WebSocket close frame; nil for nothing.
	Final func(err error) []byte
	// Input, when set, is the WebSocket client input a listener may send;
	// nil means the client has nothing to say (its input is not read,
	// only its going away is noticed).
	Input *Input
	// Sent is told what a shard delivered to listeners of this kind, once
	// per round (not per write: counters shared by every shard would
	// bounce between cores).
	Sent func(bytes, chunks int)

	idx int // index into shard.sent, set by New
}

// Input bounds what a WebSocket listener may send: it has nothing to say
// beyond pings and a close, so anything more is abuse.
type Input struct {
	MaxFrame uint64         // largest frame payload; over it: ErrTooBig
	Rate     ratelimit.Rate // frames; beyond it: ErrFlood
}

// Ends of a listener, given to Kind.Final and to Handover.Ended.
var (
	ErrEnded        = errors.New("program ended")             // it got the whole program
	ErrShutdown     = errors.New("engine closing")            // Engine.Close
	ErrWriteTimeout = errors.New("write timed out")           // no progress within WriteTimeout
	ErrClientGone   = errors.New("client went away")          // EOF or reset
	ErrClientClosed = errors.New("client sent a close frame") // WebSocket close
	ErrFlood        = errors.New("client sent too many messages")
	ErrTooBig       = errors.New("client message too big")
	ErrProtocol     = errors.New("client broke the websocket protocol")
	ErrPipelined    = errors.New("client pipelined requests") // bytes after a listen.ogg request: not a player
	ErrRemoved      = errors.New("listener removed")          // Stop: a moderator removed the listener
)

// Reasons Take refuses a request; nothing has been written to it then.
var (
	ErrClosed        = errors.New("engine closed")
	ErrNotHijackable = errors.New("connection cannot be handed over: not HTTP/1.x over a plain socket")
)

// Engine runs the shards of any number of programs.
type Engine struct {
	cfg    Config
	policy Policy
	kinds  []*Kind
	ctx    context.Context // canceled by Close
	cancel context.CancelFunc

	mu     sync.Mutex // guards closed and wg.Add against Close
	closed bool
	wg     sync.WaitGroup

	ringSends atomic.Int64 // sends that went through io_uring
	breakRing atomic.Bool  // tests: the next ring batch fails
	noRing    atomic.Bool  // the kernel offers no io_uring: shards use write(2)

	smu      sync.Mutex // guards stations, pool and nextPool
	stations map[*program.Program]*station
	pool     []*shard // the shards small programs share, started as needed up to Shards
	nextPool int      // the pool shard of the next station
}

// New returns an engine ready to take listeners of the given kinds.
func New(cfg Config, policy Policy, kinds ...*Kind) *Engine {
	if cfg.MaxBacklog <= 0 {
		cfg.MaxBacklog = defaultMaxBacklog
	}
	if cfg.WriteTimeout <= 0 {
		cfg.WriteTimeout = defaultWriteTimeout
	}
	if cfg.RingMinListeners <= 0 {
		cfg.RingMinListeners = defaultRingMinListeners
	}
	if cfg.Shards <= 0 {
		cfg.Shards = runtime.GOMAXPROCS(0)
	}
	if cfg.ShardListeners <= 0 {
		cfg.ShardListeners = defaultShardListeners
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	for i, k := range kinds {
		k.idx = i
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Engine{cfg: cfg, policy: policy, kinds: kinds, ctx: ctx, cancel: cancel}
}

// Close ends every listener (Kind.Final gets ErrShutdown) and waits until
// the shards have ended. Later Takes return ErrClosed.
func (e *Engine) Close() {
	e.mu.Lock()
	e.closed = true
	e.mu.Unlock()
	e.cancel()
	e.wg.Wait()
}

// RingSends is how many sends went through io_uring so far.
func (e *Engine) RingSends() int64 { return e.ringSends.Load() }

// join registers a goroutine working for the engine; false once closed.
func (e *Engine) join() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return false
	}
	e.wg.Add(1)
	return true
}

// Handover is a listener for Take.
type Handover struct {
	Program *program.Program
	Kind    *Kind
	// Head is written first, whole, with one blocking write bounded by
	// WriteTimeout: the HTTP response head and the stream's header.
	Head []byte
	// Pos is the first chunk the listener gets.
	Pos uint64
	// Ended runs exactly once when the listener ends, from its shard or
	// from Take, with the reason (nil when the head could not be written).
	Ended func(error)
	// Stop, when set, ends the listener from another goroutine (stop.go).
	Stop *Stop
}

// Take hijacks the connection of r (HTTP/1.x over a plain socket), writes
// h.Head and hands the socket to a shard of h.Program. It returns as soon
// as the shard has it: no goroutine or buffer stays with the listener.
//
// It returns ErrClosed or ErrNotHijackable having written nothing and
// without calling h.Ended: the caller answers the request.
func (e *Engine) Take(w http.ResponseWriter, r *http.Request, h Handover) error {
	if !e.join() {
		return ErrClosed
	}
	defer e.wg.Done()
	hj, ok := w.(http.Hijacker)
	if !ok || r.TLS != nil || r.ProtoMajor != 1 {
		return ErrNotHijackable
	}
	conn, brw, err := hj.Hijack()
	if err != nil {
		return ErrNotHijackable
	}
	if !detachable(conn) {
		// A wrapped connection without a socket (not seen with net/http
		// over TCP): there is nothing to hand over.
		_, _ = conn.Write(notDetachable)
		conn.Close()
		h.Ended(ErrNotHijackable)
		return nil
	}
	// The head is small: one blocking write with a deadline.
	_ = conn.SetWriteDeadline(time.Now().Add(e.cfg.WriteTimeout))
	if _, err := conn.Write(h.Head); err != nil {
		conn.Close()
		h.Ended(nil)
		return nil
	}
	_ = conn.SetWriteDeadline(time.Time{})
	buffered := brw.Reader.Buffered()
	if buffered > 0 && h.Kind.Input == nil {
		conn.Close()
		h.Ended(ErrPipelined)
		return nil
	}
	now := time.Now()
	l := newListener(conn, h.Kind, h.Pos, now, h.Ended)
	if l == nil { // the descriptor could not be duplicated (out of descriptors)
		conn.Close()
		h.Ended(ErrClientGone)
		return nil
	}
	if in := h.Kind.Input; in != nil {
		l.in = &wsInput{}
		// Frames the client sent before the hijack are in net/http's buffer.
		if buffered > 0 {
			b, _ := brw.Reader.Peek(buffered)
			if err := l.in.feed(b, in, now); err != nil {
				e.end(l, err)
				return nil
			}
		}
	}
	l.stop = h.Stop
	sh := e.place(h.Program, l)
	if sh == nil {
		e.end(l, ErrShutdown) // the engine is closing
		return nil
	}
	h.Stop.placed(sh)
	return nil
}

// notDetachable answers a hijacked connection Take cannot hand over.
var notDetachable = apierror.Raw(apierror.New(http.StatusInternalServerError, "stream_unavailable", "this connection cannot carry a stream"))

// end ends l outside a shard: its final bytes and socket (finish), its handler told.
func (e *Engine) end(l *listener, err error) {
	l.finish(err)
	l.ended(err)
}
