package fanout

import (
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"majlis/internal/program"
	"majlis/internal/wsframe"
)

// The sharded WebSocket path: the handshake (RFC 6455 section 4.2) is done
// here, the connection hijacked, the 101 response and the hello written,
// and the socket handed to a shard like a listen.ogg one, which writes each
// chunk's shared, pre-framed Chunk.WSFrame.
//
// Client input is handled by the shard too, with no goroutine or buffer per
// listener: when the shard's epoll says a WebSocket listener sent something
// (input.go; checked every round, i.e. every chunk, and every idleProbe
// while the program is idle), the shard reads it non-blockingly
// into its own buffer and runs the bytes through a tiny frame parser
// (wsInput) that keeps only a partial header and a count of payload bytes
// still to skip. Payloads are never looked at. A close frame or the end of
// the TCP stream ends the listener; every frame spends a token of the
// message budget (wsMsgBurst, wsMsgPerSecond), so a flooding client is
// closed with 1008, and a frame over wsReadLimit with 1009. A ping is
// answered with a pong written between two chunks (the latest ping only,
// as RFC 6455 allows); its payload is the only client payload kept, at
// most 125 bytes and only until the pong is written.

// wsGUID is the key suffix of the Sec-WebSocket-Accept hash.
const wsGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

// errWSHandshake is a request that is not a valid WebSocket upgrade.
var errWSHandshake = errors.New("bad websocket handshake")

// Ends of a WebSocket listener that the client caused.
var (
	errClientClosed = errors.New("client sent a close frame")
	errTooBig       = errors.New("client message too big")
	errWSProtocol   = errors.New("client broke the websocket protocol")
)

// wsCloseFrame is a server close frame with code and reason.
func wsCloseFrame(code uint16, reason string) []byte {
	b := wsframe.AppendHeader(nil, 0x8, 2+len(reason))
	b = binary.BigEndian.AppendUint16(b, code)
	return append(b, reason...)
}

// The close frames, built once; never modified.
var (
	wsCloseEnded    = wsCloseFrame(1000, "room ended")
	wsCloseReply    = wsCloseFrame(1000, "")
	wsCloseShutdown = wsCloseFrame(1001, "server shutting down")
	wsCloseProtocol = wsCloseFrame(1002, "protocol error")
	wsCloseFlood    = wsCloseFrame(1008, "too many messages")
	wsCloseTooBig   = wsCloseFrame(1009, "message too big")
	wsCloseTooSlow  = wsCloseFrame(1013, "listener too slow")
)

// wsFinal is the close frame for each way a WebSocket listener ends; a
// write timeout or a vanished client gets none.
func wsFinal(err error) []byte {
	switch err {
	case errEnded:
		return wsCloseEnded
	case errInterrupted:
		return wsCloseShutdown
	case errTooSlow:
		return wsCloseTooSlow
	case errClientClosed:
		return wsCloseReply
	case errFlood:
		return wsCloseFlood
	case errTooBig:
		return wsCloseTooBig
	case errWSProtocol:
		return wsCloseProtocol
	}
	return nil
}

func wsFrameWire(c *program.Chunk) []byte { return c.WSFrame }

// wsInput follows the client's frames without keeping their payloads.
type wsInput struct {
	hdr  [14]byte // the frame header being read: at most 2 + 8 + 4 mask bytes
	hlen uint8
	skip uint64 // payload bytes of the current frame still to come
	// ping gathers the payload of the ping being read (nil otherwise);
	// pong is the answer to the latest complete ping, written by the shard
	// between two chunks (RFC 6455 section 5.5.3 allows answering only the
	// latest).
	ping   *wsPing
	pong   []byte
	tokens float64
	last   time.Time
}

// wsPing is a ping frame's payload being read and unmasked.
type wsPing struct {
	mask    [4]byte
	payload []byte
}

// pongFrame is the server's pong carrying payload.
func pongFrame(payload []byte) []byte {
	return append(wsframe.AppendHeader(nil, 0xA, len(payload)), payload...)
}

// feed consumes client bytes; it returns the error that ends the listener.
func (in *wsInput) feed(b []byte, now time.Time) error {
	for len(b) > 0 {
		if in.skip > 0 {
			k := min(in.skip, uint64(len(b)))
			if pg := in.ping; pg != nil {
				for _, c := range b[:k] {
					pg.payload = append(pg.payload, c^pg.mask[len(pg.payload)%4])
				}
			}
			in.skip -= k
			b = b[k:]
			if in.skip == 0 && in.ping != nil {
				in.pong, in.ping = pongFrame(in.ping.payload), nil
			}
			continue
		}
		in.hdr[in.hlen] = b[0]
		in.hlen++
		b = b[1:]
		if in.hlen < 2 {
			continue
		}
		if in.hdr[1]&0x80 == 0 || in.hdr[0]&0x70 != 0 {
			return errWSProtocol // unmasked, or extension bits we did not agree on
		}
		need := uint8(2 + 4) // the mask key
		switch in.hdr[1] & 0x7f {
		case 126:
			need += 2
		case 127:
			need += 8
		}
		if in.hlen < need {
			continue
		}
		in.hlen = 0
		fin, op := in.hdr[0]&0x80 != 0, in.hdr[0]&0x0f
		n := uint64(in.hdr[1] & 0x7f)
		switch n {
		case 126:
			n = uint64(binary.BigEndian.Uint16(in.hdr[2:]))
		case 127:
			n = binary.BigEndian.Uint64(in.hdr[2:])
		}
		if op >= 0x8 && (n > 125 || !fin) {
			return errWSProtocol
		}
		if op == 0x8 {
			return errClientClosed
		}
		if n > wsReadLimit {
			return errTooBig
		}
		// Every frame (not only every message) costs a token, so a flood
		// of fragments is one too.
		in.tokens = min(wsMsgBurst, in.tokens+now.Sub(in.last).Seconds()*wsMsgPerSecond)
		in.last = now
		if in.tokens < 1 {
			return errFlood
		}
		in.tokens--
		in.skip = n
		if op == 0x9 {
			pg := &wsPing{payload: make([]byte, 0, n)}
			copy(pg.mask[:], in.hdr[need-4:need])
			if n == 0 {
				in.pong = pongFrame(nil)
			} else {
				in.ping = pg
			}
		}
	}
	return nil
}

// readClient drains what l's client sent (a few reads at most per round:
// more than that is a flood that feed stops anyway). A listener's input is
// read at most every clientReadEvery: a read that finds nothing costs as
// much as a chunk write, and listeners seldom say anything.
func (sh *shard) readClient(l *rawListener, now time.Time) error {
	every := clientReadEvery
	if l.watched {
		every = inputSafetyRead // epoll says when there is more
	}
	l.nextRead = now.UnixNano() + int64(every)
	for range 4 {
		n, err := l.read(sh.rbuf)
		switch {
		case err == errAgain:
			return nil
		case err != nil || n == 0: // reset, or the client closed its end
			return errClientGone
		}
		if err := l.in.feed(sh.rbuf[:n], now); err != nil {
			return err
		}
		if n < len(sh.rbuf) {
			return nil
		}
	}
	l.nextRead = 0 // more may be waiting, and no new edge will say so
	return nil
}

// wsHandshake checks an upgrade request and returns its Sec-WebSocket-Accept
// value, or the status to answer with. The checks and codes are those of
// github.com/coder/websocket's Accept (the per-listener path), except that a
// method other than GET is a 400.
func (h *Hub) wsHandshake(r *http.Request) (accept string, status int, err error) {
	if !r.ProtoAtLeast(1, 1) ||
		!headerHasToken(r.Header, "Connection", "upgrade") || !headerHasToken(r.Header, "Upgrade", "websocket") {
		return "", http.StatusUpgradeRequired, errWSHandshake
	}
	if r.Method != http.MethodGet || r.Header.Get("Sec-WebSocket-Version") != "13" {
		return "", http.StatusBadRequest, errWSHandshake
	}
	keys := r.Header.Values("Sec-WebSocket-Key")
	if len(keys) != 1 {
		return "", http.StatusBadRequest, errWSHandshake
	}
	key := strings.TrimSpace(keys[0])
	if v, err := base64.StdEncoding.DecodeString(key); err != nil || len(v) != 16 {
		return "", http.StatusBadRequest, errWSHandshake
	}
	if !h.cfg.InsecureSkipVerify {
		if origin := r.Header.Get("Origin"); origin != "" {
			u, err := url.Parse(origin)
			if err != nil || !strings.EqualFold(r.Host, u.Host) {
				return "", http.StatusForbidden, errWSHandshake
			}
		}
	}
	sum := sha1.Sum([]byte(key + wsGUID))
	return base64.StdEncoding.EncodeToString(sum[:]), 0, nil
}

// headerHasToken reports whether a comma-separated header holds token.
func headerHasToken(hd http.Header, name, token string) bool {
	for _, v := range hd.Values(name) {
		for t := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}

// serveWSSharded does the WebSocket handshake itself, hijacks the connection
// and hands it to a shard; onEnd runs when the listener ends. It returns
// false (having written nothing) when the request cannot be served so (TLS
// or HTTP/2: no plain socket); the caller then uses the per-listener path.
func (h *Hub) serveWSSharded(w http.ResponseWriter, r *http.Request, p *program.Program, onEnd func()) bool {
	hj, ok := w.(http.Hijacker)
	if !ok || r.TLS != nil || r.ProtoMajor != 1 {
		return false
	}
	accept, status, err := h.wsHandshake(r)
	if err != nil {
		if status == http.StatusUpgradeRequired {
			w.Header().Set("Connection", "Upgrade")
			w.Header().Set("Upgrade", "websocket")
		}
		if r.Header.Get("Sec-WebSocket-Version") != "13" {
			w.Header().Set("Sec-WebSocket-Version", "13")
		}
		http.Error(w, http.StatusText(status), status)
		onEnd()
		return true
	}
	conn, brw, err := hj.Hijack()
	if err != nil {
		http.Error(w, "cannot upgrade", http.StatusInternalServerError)
		onEnd()
		return true
	}
	pos := h.startPos(p)
	disconnected := h.connected(&h.ws)
	ended := func(error) {
		disconnected()
		onEnd()
	}
	hello := helloJSON(p)
	head := make([]byte, 0, 160+len(hello))
	head = append(head, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: "...)
	head = append(head, accept...)
	head = append(head, "\r\n\r\n"...)
	head = wsframe.AppendHeader(head, 0x1, len(hello))
	head = append(head, hello...)
	// The head is small: one blocking write with a deadline.
	_ = conn.SetWriteDeadline(time.Now().Add(h.cfg.WriteTimeout))
	if _, err := conn.Write(head); err != nil {
		conn.Close()
		ended(err)
		return true
	}
	_ = conn.SetWriteDeadline(time.Time{})
	now := time.Now()
	l := newRawListener(conn, &h.wsKind, pos, now, ended)
	if l == nil {
		// A wrapped connection we cannot write to non-blockingly (not seen
		// with net/http over TCP): tell the client to come back.
		_, _ = conn.Write(wsCloseFrame(1011, "try again"))
		conn.Close()
		ended(nil)
		return true
	}
	l.in = &wsInput{tokens: wsMsgBurst, last: now}
	// Frames the client sent before we hijacked are in net/http's buffer.
	if n := brw.Reader.Buffered(); n > 0 {
		b, _ := brw.Reader.Peek(n)
		if err := l.in.feed(b, now); err != nil {
			if f := wsFinal(err); f != nil {
				_, _ = l.write(f) // conn is closed: l holds the socket now
			}
			l.close()
			ended(err)
			return true
		}
	}
	if !h.stationFor(p).add(l) {
		// The program ended and its station with it.
		_, _ = l.write(wsCloseEnded)
		l.close()
		ended(nil)
	}
	return true
}
