package fanout

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"

	"majlis/internal/fanout/shard"
	"majlis/internal/program"
	"majlis/internal/wsframe"
)

// The WebSocket listen path: the handshake (RFC 6455 section 4.2) is
// checked here, then the connection is handed to the engine like a
// listen.ogg one, with the 101 response and the hello message as its head;
// the engine writes each chunk's shared, pre-framed Chunk.WSFrame and reads
// the client's input under the limits below.

// Limits on what a WebSocket listener may send us: it has nothing to say
// beyond pings and close, so anything more is abuse.
const (
	wsReadLimit    = 1024              // bytes per client frame
	wsMsgBurst     = 16                // client frames allowed at once
	wsMsgPerSecond = 4                 // sustained client frames per second
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

// ServeWSDetached upgrades to a WebSocket and streams p: a JSON hello text
// message, then one binary message per chunk (Chunk.WS), from the preroll
// on. When the program closes it closes with 1000 "room ended"; a listener
// too slow gets 1013, a flooding one 1008, a frame over the limit 1009, a
// shutdown 1001, a listener removed by a moderator 4403 "removed".
//
// The connection is handed to the engine (package shard), so
// ServeWSDetached returns at once; onEnd runs exactly once when the
// listener ends (possibly before ServeWSDetached returns). Over TLS
// terminated here it serves the stream itself and returns when it ends
// (tls.go). A bad handshake is answered 400, 403 or 426; any other request
// the engine cannot take 505 http1_required. stop, when not nil, ends the
// stream from another goroutine with 4403 "removed" (Stop).
func (h *Hub) ServeWSDetached(w http.ResponseWriter, r *http.Request, p *program.Program, onEnd func(), stop *Stop) {
	if h.closed.Load() {
		shuttingDown(w)
		onEnd()
		return
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
		wsHandshakeError(w, status)
		onEnd()
		return
	}
	hello := helloJSON(p)
	head := make([]byte, 0, 160+len(hello))
	head = append(head, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: "...)
	head = append(head, accept...)
	head = append(head, "\r\n\r\n"...)
	head = wsframe.AppendFrame(head, wsframe.OpText, hello)
	if servedHere(r) {
		h.serveWSStream(w, r, p, head, h.connected(&h.ws, onEnd), stop)
		return
	}
	h.handOver(w, r, shard.Handover{Program: p, Kind: &h.wsKind, Head: head, Pos: h.startPos(p), Ended: h.connected(&h.ws, onEnd), Stop: stop.shard()})
}

// errWSHandshake is a request that is not a valid WebSocket upgrade.
var errWSHandshake = errors.New("bad websocket handshake")

// wsHandshake checks an upgrade request and returns its Sec-WebSocket-Accept
// value, or the status to answer with. The checks and codes are those of
// github.com/coder/websocket's Accept, except that a method other than GET
// is a 400.
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
	return wsframe.AcceptKey(key), 0, nil
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

func wsFrameWire(c *program.Chunk) []byte { return c.WSFrame }

// The close frames, built once; never modified.
var (
	wsCloseEnded    = wsframe.CloseFrame(wsframe.CloseNormal, "room ended")
	wsCloseReply    = wsframe.CloseFrame(wsframe.CloseNormal, "")
	wsCloseShutdown = wsframe.CloseFrame(wsframe.CloseGoingAway, "server shutting down")
	wsCloseProtocol = wsframe.CloseFrame(wsframe.CloseProtocolError, "protocol error")
	wsCloseFlood    = wsframe.CloseFrame(wsframe.ClosePolicy, "too many messages")
	wsCloseTooBig   = wsframe.CloseFrame(wsframe.CloseTooBig, "message too big")
	wsCloseTooSlow  = wsframe.CloseFrame(wsframe.CloseTryAgainLater, "listener too slow")
	wsCloseRemoved  = wsframe.CloseFrame(WSCloseRemoved, "removed")
)

// WSCloseRemoved is the close code of a WebSocket listener removed by a
// moderator (blocked in the room): it must not reconnect.
const WSCloseRemoved = 4403

// wsFinal is the close frame for each way a WebSocket listener ends; a
// write timeout or a vanished client gets none.
func wsFinal(err error) []byte {
	switch err {
	case shard.ErrEnded:
		return wsCloseEnded
	case shard.ErrShutdown:
		return wsCloseShutdown
	case errTooSlow:
		return wsCloseTooSlow
	case shard.ErrClientClosed:
		return wsCloseReply
	case shard.ErrFlood:
		return wsCloseFlood
	case shard.ErrTooBig:
		return wsCloseTooBig
	case shard.ErrProtocol:
		return wsCloseProtocol
	case shard.ErrRemoved:
		return wsCloseRemoved
	}
	return nil
}
