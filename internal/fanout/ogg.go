package fanout

import (
	"net/http"

	"majlis/internal/fanout/shard"
	"majlis/internal/program"
)

// ServeOggDetached streams p as one endless Ogg/Opus HTTP response: the
// header pages, the preroll, then live pages until the program closes (the
// response then ends cleanly), the client goes away, or the hub closes.
//
// The connection is hijacked and handed to the engine (package shard), so
// ServeOggDetached returns at once and no goroutine or buffer stays with
// the listener; onEnd runs exactly once when the listener ends (possibly
// before ServeOggDetached returns). Over TLS terminated here (HTTP/1.1 or
// HTTP/2) it serves the stream itself and returns when it ends (tls.go).
// Any other request the engine cannot take is answered 505
// http1_required; a HEAD gets the headers. stop, when not nil, ends the
// stream from another goroutine (Stop).
func (h *Hub) ServeOggDetached(w http.ResponseWriter, r *http.Request, p *program.Program, onEnd func(), stop *Stop) {
	if h.closed.Load() {
		shuttingDown(w)
		onEnd()
		return
	}
	switch r.Method {
	case http.MethodGet:
	case http.MethodHead:
		hd := w.Header()
		hd.Set("Content-Type", "audio/ogg")
		hd.Set("Cache-Control", "no-store")
		hd.Set("X-Content-Type-Options", "nosniff")
		w.WriteHeader(http.StatusOK)
		onEnd()
		return
	default:
		w.Header().Set("Allow", "GET, HEAD")
		writeError(w, http.StatusMethodNotAllowed, "method_not_allowed", "listen.ogg takes GET")
		onEnd()
		return
	}
	// HTTP/1.1 gets a chunked body, which ends cleanly; HTTP/1.0 a body
	// that ends with the connection.
	kind, resp, headers := &h.oggKind, oggHead, p.OggHeadersHTTP()
	if r.ProtoMinor == 0 {
		kind, resp, headers = &h.ogg10Kind, oggHead10, p.OggHeaders()
	}
	if servedHere(r) {
		h.serveOggStream(w, r, p, h.connected(&h.ogg, onEnd), stop)
		return
	}
	head := make([]byte, 0, len(resp)+len(headers))
	head = append(append(head, resp...), headers...)
	if h.handOver(w, r, shard.Handover{Program: p, Kind: kind, Head: head, Pos: h.startPos(p), Ended: h.connected(&h.ogg, onEnd), Stop: stop.shard()}) {
		h.ogg.bytes.Add(float64(len(head)))
	}
}

// handOver gives a listener's connection to the engine; when the engine
// cannot take it, the request is answered here and the listener ended.
func (h *Hub) handOver(w http.ResponseWriter, r *http.Request, ho shard.Handover) bool {
	err := h.engine.Take(w, r, ho)
	switch err {
	case nil:
		return true
	case shard.ErrClosed:
		shuttingDown(w)
	default:
		http1Required(w)
	}
	ho.Ended(err)
	return false
}

// oggHead and oggHead10 are the response heads of a listen.ogg stream.
// The connection is the engine's after the hijack, so it is closed at the end.
const (
	oggHead = "HTTP/1.1 200 OK\r\nContent-Type: audio/ogg\r\nCache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\n" +
		"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
	oggHead10 = "HTTP/1.0 200 OK\r\nContent-Type: audio/ogg\r\nCache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\n" +
		"Connection: close\r\n\r\n"
)

// chunkedEnd is the last chunk of a chunked body.
var chunkedEnd = []byte("0\r\n\r\n")

func oggHTTPWire(c *program.Chunk) []byte { return c.OggHTTP }
func oggWire(c *program.Chunk) []byte     { return c.Ogg }

// oggFinal ends the chunked body when the program ends or the server shuts
// down, so players see a clean end of stream; otherwise the connection is
// just closed.
func oggFinal(err error) []byte {
	if err == shard.ErrEnded || err == shard.ErrShutdown {
		return chunkedEnd
	}
	return nil
}
