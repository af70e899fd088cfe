package fanout

import (
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"majlis/internal/program"
	"majlis/internal/ratelimit"
)

// The goroutine-per-listener delivery the engine replaced, kept only as
// the baseline of the benchmarks: every listener is one goroutine with its
// own position in the program's ring, writing the shared bytes of each
// chunk (Chunk.Ogg or Chunk.WS) through net/http or github.com/coder/websocket
// and sleeping on Program.Wait when it has caught up. Its skip and drop
// rules are the hub's (preroll, MaxBacklog, MaxSkips, WriteTimeout).

var (
	errPLWriteTimeout = errors.New("write timed out")
	errPLInterrupted  = errors.New("write interrupted: hub closing")
)

// sink is one per-listener connection.
type sink interface {
	// write sends one chunk's (or the stream header's) shared bytes.
	write(b []byte) error
	// flush pushes buffered bytes; called whenever the listener has caught up.
	flush() error
}

// perListener serves listeners of h's programs one goroutine each.
type perListener struct {
	h      *Hub
	ctx    context.Context // canceled by close
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

func newPerListener(h *Hub) *perListener {
	ctx, cancel := context.WithCancel(context.Background())
	return &perListener{h: h, ctx: ctx, cancel: cancel}
}

func (pl *perListener) close() {
	pl.cancel()
	pl.wg.Wait()
}

// stream writes p's chunks to s from chunk pos on, until p closes (nil),
// ctx is done, a write fails or the listener is too slow.
func (h *Hub) stream(ctx context.Context, p *program.Program, pos uint64, s sink, pm *protoMetrics, ws bool) error {
	preroll := h.preroll(p)
	maxBacklog := uint64(h.cfg.MaxBacklog)
	skips := 0
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		head := p.Head()
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
				if errors.Is(err, errPLWriteTimeout) {
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
			if errors.Is(err, errPLWriteTimeout) {
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

// serveOgg streams p through net/http until the listener ends.
func (pl *perListener) serveOgg(w http.ResponseWriter, r *http.Request, p *program.Program) {
	h := pl.h
	pl.wg.Add(1)
	defer pl.wg.Done()
	hd := w.Header()
	hd.Set("Content-Type", "audio/ogg")
	hd.Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	defer context.AfterFunc(pl.ctx, cancel)()
	rc := http.NewResponseController(w)
	s := &oggSink{w: w, rc: rc, timeout: h.engineWriteTimeout()}
	// A write blocked on a stuck client must not hold up close: expire
	// the write deadline, unless the handler has finished streaming.
	var (
		dmu      sync.Mutex
		finished bool
	)
	stopInterrupt := context.AfterFunc(pl.ctx, func() {
		dmu.Lock()
		defer dmu.Unlock()
		if !finished {
			s.interrupted.Store(true)
			_ = rc.SetWriteDeadline(time.Now())
		}
	})
	pos := h.startPos(p)
	ended := h.connected(&h.ogg, func() {})
	err := s.write(p.OggHeaders())
	if err == nil {
		h.ogg.bytes.Add(float64(len(p.OggHeaders())))
		err = h.stream(ctx, p, pos, s, &h.ogg, false)
	}
	ended(nil)
	stopInterrupt()
	dmu.Lock()
	finished = true
	dmu.Unlock()
	if err == nil || pl.ctx.Err() != nil {
		_ = rc.SetWriteDeadline(time.Now().Add(time.Second))
	}
}

// oggSink writes to an HTTP response, with a deadline per write.
type oggSink struct {
	w           http.ResponseWriter
	rc          *http.ResponseController
	timeout     time.Duration
	interrupted atomic.Bool // the deadline was expired on purpose
}

func (s *oggSink) write(b []byte) error {
	if err := s.rc.SetWriteDeadline(time.Now().Add(s.timeout)); err != nil {
		return err
	}
	_, err := s.w.Write(b)
	return s.err(err)
}

func (s *oggSink) flush() error {
	if err := s.rc.SetWriteDeadline(time.Now().Add(s.timeout)); err != nil {
		return err
	}
	return s.err(s.rc.Flush())
}

func (s *oggSink) err(err error) error {
	switch {
	case err == nil:
		return nil
	case s.interrupted.Load():
		return errPLInterrupted
	case errors.Is(err, os.ErrDeadlineExceeded):
		return errPLWriteTimeout
	}
	return err
}

// serveWS streams p through github.com/coder/websocket, with a reader
// goroutine that drops the client's messages under the hub's budget.
func (pl *perListener) serveWS(w http.ResponseWriter, r *http.Request, p *program.Program) {
	h := pl.h
	pl.wg.Add(1)
	defer pl.wg.Done()
	conn, err := websocket.Accept(w, r, &websocket.AcceptOptions{
		InsecureSkipVerify: h.cfg.InsecureSkipVerify,
		CompressionMode:    websocket.CompressionDisabled,
	})
	if err != nil {
		return
	}
	conn.SetReadLimit(wsReadLimit)
	ctx, cancel := context.WithCancel(pl.ctx)
	defer cancel()
	readerDone := make(chan struct{})
	go func() {
		defer close(readerDone)
		defer cancel()
		_ = discardClientMessages(conn)
	}()
	s := newWSSink(conn, h.engineWriteTimeout())
	defer s.timer.Stop()
	pos := h.startPos(p)
	ended := h.connected(&h.ws, func() {})
	err = s.writeTyped(websocket.MessageText, helloJSON(p))
	if err == nil {
		err = h.stream(ctx, p, pos, s, &h.ws, true)
	}
	ended(nil)
	if err == nil {
		_ = conn.Close(websocket.StatusNormalClosure, "room ended")
	} else {
		_ = conn.CloseNow()
	}
	<-readerDone
}

// discardClientMessages reads and drops client messages until the
// connection ends or the client exceeds its message budget.
func discardClientMessages(conn *websocket.Conn) error {
	var b ratelimit.Bucket
	rate := ratelimit.Rate{PerSecond: wsMsgPerSecond, Burst: wsMsgBurst}
	for {
		_, r, err := conn.Reader(context.Background())
		if err != nil {
			return err
		}
		if _, err := io.Copy(io.Discard, r); err != nil {
			return err
		}
		if ok, _ := b.Take(rate, time.Now()); !ok {
			return errors.New("client sent too many messages")
		}
	}
}

// wsSink writes binary messages; the write deadline is a timer that closes
// the connection (the library allocates per write with a cancelable context).
type wsSink struct {
	conn     *websocket.Conn
	timeout  time.Duration
	timer    *time.Timer
	timedOut atomic.Bool
}

func newWSSink(conn *websocket.Conn, timeout time.Duration) *wsSink {
	s := &wsSink{conn: conn, timeout: timeout}
	s.timer = time.AfterFunc(time.Hour, func() {
		s.timedOut.Store(true)
		_ = conn.CloseNow()
	})
	s.timer.Stop()
	return s
}

func (s *wsSink) write(b []byte) error { return s.writeTyped(websocket.MessageBinary, b) }

func (s *wsSink) writeTyped(typ websocket.MessageType, b []byte) error {
	s.timer.Reset(s.timeout)
	err := s.conn.Write(context.Background(), typ, b)
	s.timer.Stop()
	if err != nil && s.timedOut.Load() {
		return errPLWriteTimeout
	}
	return err
}

func (s *wsSink) flush() error { return nil }

// engineWriteTimeout is the hub's WriteTimeout with its default.
func (h *Hub) engineWriteTimeout() time.Duration {
	if h.cfg.WriteTimeout > 0 {
		return h.cfg.WriteTimeout
	}
	return 5 * time.Second
}
