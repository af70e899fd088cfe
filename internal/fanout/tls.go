package fanout

import (
	"context"
	"errors"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"majlis/internal/fanout/shard"
	"majlis/internal/program"
)

// Listeners whose TLS this process terminates (HTTP/1.1 over TLS, and
// HTTP/2, which net/http serves only over TLS) cannot be handed to the
// engine: it writes raw sockets, and a TLS connection needs its records
// written by crypto/tls. Each of them is served by one goroutine, the
// request's own handler goroutine, which writes the same shared bytes of
// each chunk under the hub's same policy as the shards: the preroll at
// connect and after a skip, a skip forward when more than MaxBacklog
// chunks behind (slowPolicy), the end after MaxSkips, and WriteTimeout on
// every write; counted in the same metrics (the listeners gauge, bytes,
// chunks, skips, drops) and in the audience port's connection caps (the
// connection stays the capped one until it closes).
//
//   - listen.ogg writes Chunk.Ogg through the ResponseWriter, which frames
//     it as an HTTP/1.1 chunk or HTTP/2 DATA; a clean end (the room ended,
//     the hub closing) ends the body, any other end aborts it.
//   - listen.ws (HTTP/1.1 only: HTTP/2's extended CONNECT is off in
//     net/http, so browsers open WebSocket over HTTP/1.1) hijacks the
//     tls.Conn and writes Chunk.WSFrame to it; a second goroutine reads the
//     client's frames through shard.Frames (the shards' parser and limits)
//     and hands pongs to the writer.
//
// This costs more per listener than the engine: a goroutine and its stack,
// crypto/tls's buffers, and the encryption of every chunk for every
// listener. Large audiences belong behind a TLS-terminating proxy or CDN
// (docs/operations.md); kernel TLS (kTLS) would let the engine write TLS
// sockets as plain ones and is the way to remove this path's cost.

// servedHere reports whether r is a listener this package serves from a
// goroutine (TLS terminated here) rather than through the engine.
func servedHere(r *http.Request) bool { return r.TLS != nil }

// joinStream registers a goroutine-served listener; false once the hub is closing.
func (h *Hub) joinStream() bool {
	h.smu.Lock()
	defer h.smu.Unlock()
	if h.sclosed {
		return false
	}
	h.swg.Add(1)
	return true
}

// closeStreams ends every goroutine-served listener and waits for them.
func (h *Hub) closeStreams() {
	h.smu.Lock()
	h.sclosed = true
	h.smu.Unlock()
	h.scancel()
	h.swg.Wait()
}

// streamSink is one goroutine-served listener's connection.
type streamSink interface {
	write(b []byte) error // one piece, within WriteTimeout: shard.ErrWriteTimeout past it
	flush() error
}

// deliver writes p's chunks of kind k (k.Wire) to s from pos on, until the
// program ends (shard.ErrEnded), the policy ends the listener, a write
// fails, or ctx is done (its cause). between runs each time the listener
// has caught up (a WebSocket pong); wake interrupts the wait for a chunk.
func (h *Hub) deliver(ctx context.Context, p *program.Program, k *shard.Kind, pos uint64, s streamSink, wake <-chan struct{}, between func() error) error {
	maxBacklog := uint64(h.cfg.MaxBacklog)
	skips, bytes, chunks := 0, 0, 0
	sent := func() {
		if chunks > 0 && k.Sent != nil {
			k.Sent(bytes, chunks)
		}
		bytes, chunks = 0, 0
	}
	defer sent()
	for {
		if ctx.Err() != nil {
			return context.Cause(ctx)
		}
		head := p.Head()
		if pos < head {
			var c *program.Chunk
			if head-pos <= maxBacklog {
				c = p.Chunk(pos)
			}
			if c == nil { // too far behind, or the chunk was overwritten
				next, err := slowPolicy{h}.Lagging(p, k, head, skips)
				if err != nil {
					return err
				}
				skips++
				pos = next
				continue
			}
			b := k.Wire(c)
			if err := s.write(b); err != nil {
				return err
			}
			bytes += len(b)
			chunks++
			pos++
			continue
		}
		if err := s.flush(); err != nil {
			return err
		}
		sent()
		if between != nil {
			if err := between(); err != nil {
				return err
			}
		}
		// Take the wait channel before the last look at Head, so a chunk
		// published in between still wakes us.
		wait := p.Wait()
		if p.Head() > pos {
			continue
		}
		if p.Closed() {
			return shard.ErrEnded
		}
		select {
		case <-wait:
		case <-wake:
		case <-ctx.Done():
		}
	}
}

// writeErr is the end a failed write means: the hub closing (it
// interrupts writes), a timeout, the listener's context's cause (net/http
// cancels the request's context when a write fails), or the client gone.
func writeErr(ctx context.Context, err error) error {
	if err == nil {
		return nil
	}
	cause := context.Cause(ctx)
	switch {
	case cause == shard.ErrShutdown:
		return cause
	case errors.Is(err, os.ErrDeadlineExceeded):
		return shard.ErrWriteTimeout
	case cause != nil:
		return cause
	}
	return shard.ErrClientGone
}

// serveOggStream serves a listen.ogg listener over TLS (HTTP/1.1 or
// HTTP/2) until it ends; ended counts it out.
func (h *Hub) serveOggStream(w http.ResponseWriter, r *http.Request, p *program.Program, ended func(error), rm *Stop) {
	if !h.joinStream() {
		shuttingDown(w)
		ended(shard.ErrClosed)
		return
	}
	defer h.swg.Done()
	rc := http.NewResponseController(w)
	ctx, cancel := context.WithCancelCause(r.Context())
	defer cancel(nil)
	defer rm.onStop(func() { cancel(shard.ErrRemoved) })()
	s := &respSink{ctx: ctx, w: w, rc: rc, timeout: h.writeTimeout()}
	// A write blocked on a stuck client must not hold up Close: the hub
	// closing expires the write deadline of a write under way (until the
	// handler is done with w). Only then: over HTTP/2 a past deadline
	// resets the stream at once, and a listener waiting for its next chunk
	// gets the clean end instead (the cause wakes it).
	var (
		mu       sync.Mutex
		finished bool
	)
	stop := context.AfterFunc(h.sctx, func() {
		cancel(shard.ErrShutdown)
		mu.Lock()
		defer mu.Unlock()
		if !finished && s.writing.Load() {
			_ = rc.SetWriteDeadline(time.Now())
		}
	})
	hd := w.Header()
	hd.Set("Content-Type", "audio/ogg")
	hd.Set("Cache-Control", "no-store")
	hd.Set("X-Content-Type-Options", "nosniff")
	if r.ProtoMajor == 1 {
		// As the engine's streams: the connection ends with the stream (a
		// player does not reuse it, and a raw reader waits for its end).
		hd.Set("Connection", "close")
	}
	w.WriteHeader(http.StatusOK)
	pos := h.startPos(p)
	err := s.write(p.OggHeaders())
	if err == nil {
		h.ogg.bytes.Add(float64(len(p.OggHeaders())))
		err = h.deliver(ctx, p, &h.oggTLSKind, pos, s, nil, nil)
	}
	stop()
	clean := err == shard.ErrEnded || err == shard.ErrShutdown
	mu.Lock()
	finished = true
	if clean { // room for the end of the body
		_ = rc.SetWriteDeadline(time.Now().Add(time.Second))
	}
	mu.Unlock()
	if errors.Is(err, context.Canceled) {
		err = shard.ErrClientGone // the client went away (the request's context)
	}
	ended(err)
	if !clean {
		// Like the engine, which closes the connection without ending the
		// body: a player must not take a dropped stream for the room's end.
		// ErrAbortHandler is net/http's way to abort a response; it is not
		// logged.
		panic(http.ErrAbortHandler)
	}
}

// respSink writes to an HTTP response, with a deadline on each write.
type respSink struct {
	ctx     context.Context
	w       http.ResponseWriter
	rc      *http.ResponseController
	timeout time.Duration
	writing atomic.Bool // a write or flush is under way
}

func (s *respSink) write(b []byte) error {
	s.writing.Store(true)
	defer s.writing.Store(false)
	if err := s.rc.SetWriteDeadline(time.Now().Add(s.timeout)); err != nil {
		return writeErr(s.ctx, err)
	}
	_, err := s.w.Write(b)
	return writeErr(s.ctx, err)
}

func (s *respSink) flush() error {
	s.writing.Store(true)
	defer s.writing.Store(false)
	if err := s.rc.SetWriteDeadline(time.Now().Add(s.timeout)); err != nil {
		return writeErr(s.ctx, err)
	}
	return writeErr(s.ctx, s.rc.Flush())
}

// serveWSStream serves a listen.ws listener over TLS (HTTP/1.1) until it
// ends: head is the 101 response and the hello message.
func (h *Hub) serveWSStream(w http.ResponseWriter, r *http.Request, p *program.Program, head []byte, ended func(error), rm *Stop) {
	hj, ok := w.(http.Hijacker)
	if !ok || r.ProtoMajor != 1 {
		http1Required(w)
		ended(shard.ErrNotHijackable)
		return
	}
	if !h.joinStream() {
		shuttingDown(w)
		ended(shard.ErrClosed)
		return
	}
	defer h.swg.Done()
	conn, brw, err := hj.Hijack()
	if err != nil {
		ended(shard.ErrNotHijackable)
		return
	}
	timeout := h.writeTimeout()
	_ = conn.SetWriteDeadline(time.Now().Add(timeout))
	if _, err := conn.Write(head); err != nil {
		conn.Close()
		ended(nil)
		return
	}
	h.ws.bytes.Add(float64(len(head)))
	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	defer rm.onStop(func() { cancel(shard.ErrRemoved) })()
	// The hub closing interrupts a write blocked on a stuck client (the
	// deadline first, so the writer woken by the cause sets its own after).
	stop := context.AfterFunc(h.sctx, func() {
		_ = conn.SetWriteDeadline(time.Now())
		cancel(shard.ErrShutdown)
	})
	defer stop()

	frames := shard.NewFrames(h.wsKind.Input)
	var (
		pmu  sync.Mutex
		pong []byte // the latest ping's answer, for the writer
	)
	wake := make(chan struct{}, 1) // full: the writer is told already
	// feed runs the client's bytes through the shards' parser; false ends the listener.
	feed := func(b []byte) bool {
		if err := frames.Feed(b, time.Now()); err != nil {
			cancel(err)
			return false
		}
		if pg := frames.Pong(); pg != nil {
			pmu.Lock()
			pong = pg
			pmu.Unlock()
			select {
			case wake <- struct{}{}:
			default:
			}
		}
		return true
	}
	readerDone := make(chan struct{})
	go func() { // owned by this handler: it ends when conn closes, and is waited for
		defer close(readerDone)
		// Frames the client sent before the hijack are in net/http's buffer.
		if n := brw.Reader.Buffered(); n > 0 {
			b, _ := brw.Reader.Peek(n)
			if !feed(b) {
				return
			}
		}
		buf := make([]byte, 512)
		for {
			n, err := conn.Read(buf)
			if n > 0 && !feed(buf[:n]) {
				return
			}
			if err != nil {
				cancel(shard.ErrClientGone)
				return
			}
		}
	}()
	s := &connSink{ctx: ctx, conn: conn, timeout: timeout}
	between := func() error {
		pmu.Lock()
		pg := pong
		pong = nil
		pmu.Unlock()
		if pg == nil {
			return nil
		}
		return s.write(pg)
	}
	err = h.deliver(ctx, p, &h.wsKind, h.startPos(p), s, wake, between)
	if b := wsFinal(err); b != nil {
		_ = conn.SetWriteDeadline(time.Now().Add(time.Second))
		_, _ = conn.Write(b)
	}
	conn.Close()
	<-readerDone
	ended(err)
}

// connSink writes to a hijacked connection, with a deadline on each write.
type connSink struct {
	ctx     context.Context
	conn    net.Conn
	timeout time.Duration
}

func (s *connSink) write(b []byte) error {
	_ = s.conn.SetWriteDeadline(time.Now().Add(s.timeout))
	_, err := s.conn.Write(b)
	return writeErr(s.ctx, err)
}

func (s *connSink) flush() error { return nil }

// writeTimeout is the hub's WriteTimeout with the engine's default.
func (h *Hub) writeTimeout() time.Duration {
	if h.cfg.WriteTimeout > 0 {
		return h.cfg.WriteTimeout
	}
	return defaultWriteTimeout
}
