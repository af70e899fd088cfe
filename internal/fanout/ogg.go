package fanout

import (
	"context"
	"errors"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"majlis/internal/program"
)

// ServeOgg streams p as one endless Ogg/Opus HTTP response: the header pages,
// the preroll, then live pages until the program closes (the response then
// ends cleanly), the client goes away, or the hub closes.
//
// It returns when the listener ends; ServeOggDetached does not wait.
func (h *Hub) ServeOgg(w http.ResponseWriter, r *http.Request, p *program.Program) {
	done := make(chan struct{})
	h.ServeOggDetached(w, r, p, func() { close(done) })
	<-done
}

// ServeOggDetached is ServeOgg, except that with the sharded writer it
// returns as soon as the listener is handed to its shard, so no goroutine
// (and no net/http buffer) stays with the listener; onEnd runs exactly once
// when the listener ends (possibly before ServeOggDetached returns).
func (h *Hub) ServeOggDetached(w http.ResponseWriter, r *http.Request, p *program.Program, onEnd func()) {
	if !h.join() {
		shuttingDown(w)
		onEnd()
		return
	}
	defer h.wg.Done()
	if !h.cfg.PerListener && h.serveOggSharded(w, r, p, onEnd) {
		return
	}
	defer onEnd()

	hd := w.Header()
	hd.Set("Content-Type", "audio/ogg")
	hd.Set("Cache-Control", "no-store")
	hd.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodHead {
		return
	}

	// The listener ends with the request (client gone) or the hub.
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	defer context.AfterFunc(h.ctx, cancel)()

	rc := http.NewResponseController(w)
	s := &oggSink{w: w, rc: rc, timeout: h.cfg.WriteTimeout}
	// A write blocked on a stuck client must not hold up shutdown: when the
	// hub closes, expire the write deadline, unless the handler has already
	// finished streaming (then net/http must be able to end the body).
	// Only the hub triggers this: net/http cancels r.Context() itself when
	// a write fails, which must still count as a timeout.
	var (
		dmu      sync.Mutex
		finished bool
	)
	stopInterrupt := context.AfterFunc(h.ctx, func() {
		dmu.Lock()
		defer dmu.Unlock()
		if !finished {
			s.interrupted.Store(true)
			_ = rc.SetWriteDeadline(time.Now())
		}
	})

	pos := h.startPos(p)
	disconnected := h.connected(&h.ogg)
	err := s.write(p.OggHeaders())
	if err == nil {
		h.ogg.bytes.Add(float64(len(p.OggHeaders())))
		err = h.stream(ctx, p, pos, s, &h.ogg, false)
	}
	disconnected()
	stopInterrupt()
	dmu.Lock()
	finished = true
	dmu.Unlock()
	if err == nil || h.ctx.Err() != nil {
		// Program ended or server shutting down: let net/http end the
		// chunked body cleanly, so players see the end of the stream.
		_ = rc.SetWriteDeadline(time.Now().Add(finishTimeout))
	}
}

// finishTimeout bounds net/http's final write after a listener ends.
const finishTimeout = time.Second

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

// err classifies a write error: a deadline that expired because the hub
// closed is an interruption, not a slow listener.
func (s *oggSink) err(err error) error {
	switch {
	case err == nil:
		return nil
	case s.interrupted.Load():
		return errInterrupted
	case errors.Is(err, os.ErrDeadlineExceeded):
		return errWriteTimeout
	}
	return err
}
