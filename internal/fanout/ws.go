package fanout

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"majlis/internal/program"
)

// Limits on what a WebSocket listener may send us: it has nothing to say
// beyond pings and close, so anything more is abuse.
const (
	wsReadLimit    = 1024              // bytes per client message
	wsMsgBurst     = 16                // client messages allowed at once
	wsMsgPerSecond = 4                 // sustained client messages per second
	wsProtoVersion = program.WSVersion // announced in the hello message
)

// wsHello is the first (text) message of a WebSocket listen session.
type wsHello struct {
	Codec        string `json:"codec"`
	SampleRate   int    `json:"sample_rate"`
	Channels     int    `json:"channels"`
	FrameSamples int    `json:"frame_samples"`
	Version      int    `json:"version"`
}

// ServeWS upgrades to a WebSocket and streams p: a JSON hello text message,
// then one binary message per chunk (Chunk.WS), from the preroll on. When
// the program closes it closes with StatusNormalClosure "room ended".
//
// It returns when the listener ends; ServeWSDetached does not wait.
func (h *Hub) ServeWS(w http.ResponseWriter, r *http.Request, p *program.Program) {
	done := make(chan struct{})
	h.ServeWSDetached(w, r, p, func() { close(done) })
	<-done
}

// ServeWSDetached is ServeWS, except that with the sharded writer it returns
// as soon as the upgraded connection is handed to its shard (see
// serveWSSharded); onEnd runs exactly once when the listener ends (possibly
// before ServeWSDetached returns). With Config.PerListener, or when the
// connection cannot be hijacked as a plain socket, the listener is served
// by github.com/coder/websocket from this goroutine plus a reader.
func (h *Hub) ServeWSDetached(w http.ResponseWriter, r *http.Request, p *program.Program, onEnd func()) {
	if !h.join() {
		shuttingDown(w)
		onEnd()
		return
	}
	defer h.wg.Done()
	if !h.cfg.PerListener && h.serveWSSharded(w, r, p, onEnd) {
		return
	}
	defer onEnd()
	h.serveWSPerListener(w, r, p)
}

// serveWSPerListener is the goroutine-per-listener WebSocket path.
func (h *Hub) serveWSPerListener(w http.ResponseWriter, r *http.Request, p *program.Program) {
	conn, err := websocket.Accept(w, r, &websocket.AcceptOptions{
		InsecureSkipVerify: h.cfg.InsecureSkipVerify,
		// Opus does not compress; deflate would only cost CPU per listener.
		CompressionMode: websocket.CompressionDisabled,
	})
	if err != nil {
		return // Accept has answered the request
	}
	conn.SetReadLimit(wsReadLimit)

	// The hijacked connection outlives r.Context(): the listener ends with
	// the hub, the program, or the reader (client closed or flooded).
	ctx, cancel := context.WithCancel(h.ctx)
	defer cancel()
	var flooded atomic.Bool
	readerDone := make(chan struct{})
	go func() {
		defer close(readerDone)
		defer cancel()
		if errors.Is(discardClientMessages(conn), errFlood) {
			flooded.Store(true)
		}
	}()

	s := newWSSink(conn, h.cfg.WriteTimeout)
	defer s.timer.Stop()
	pos := h.startPos(p)
	disconnected := h.connected(&h.ws)
	err = s.writeTyped(websocket.MessageText, helloJSON(p))
	if err == nil {
		err = h.stream(ctx, p, pos, s, &h.ws, true)
	}
	disconnected()

	// The library bounds a close handshake to a few seconds.
	switch {
	case err == nil:
		_ = conn.Close(websocket.StatusNormalClosure, "room ended")
	case flooded.Load():
		_ = conn.Close(websocket.StatusPolicyViolation, "too many messages")
	case errors.Is(err, errTooSlow):
		_ = conn.Close(websocket.StatusTryAgainLater, "listener too slow")
	case h.ctx.Err() != nil:
		_ = conn.Close(websocket.StatusGoingAway, "server shutting down")
	default: // write failed or timed out, or the client closed
		_ = conn.CloseNow()
	}
	<-readerDone
}

var errFlood = errors.New("client sent too many messages")

// helloJSON is the payload of the hello message for p.
func helloJSON(p *program.Program) []byte {
	hello, _ := json.Marshal(wsHello{
		Codec:        "opus",
		SampleRate:   program.SampleRate,
		Channels:     p.Config().Channels,
		FrameSamples: program.FrameSamples,
		Version:      wsProtoVersion,
	})
	return hello
}

// discardClientMessages reads and drops client messages, which keeps ping,
// pong and close handling going, until the connection ends or the client
// exceeds its message budget (token bucket: wsMsgBurst, wsMsgPerSecond).
// It reads without a context deadline: a canceled read context would make
// the library drop the connection before our close handshake.
func discardClientMessages(conn *websocket.Conn) error {
	tokens := float64(wsMsgBurst)
	last := time.Now()
	for {
		_, r, err := conn.Reader(context.Background())
		if err != nil {
			return err
		}
		if _, err := io.Copy(io.Discard, r); err != nil {
			return err
		}
		now := time.Now()
		tokens = min(wsMsgBurst, tokens+now.Sub(last).Seconds()*wsMsgPerSecond)
		last = now
		if tokens < 1 {
			return errFlood
		}
		tokens--
	}
}

// wsSink writes binary messages. The write deadline is a timer that closes
// the connection, rather than a per-write context: the library allocates for
// every write with a cancelable context.
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
		return errWriteTimeout
	}
	return err
}

// flush is a no-op: every message is flushed as it is written.
func (s *wsSink) flush() error { return nil }
