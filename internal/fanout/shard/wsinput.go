package shard

import (
	"time"

	"majlis/internal/ratelimit"
	"majlis/internal/wsframe"
)

// Client input of WebSocket listeners is handled by the shard too, with no
// goroutine or buffer per listener: when the shard's epoll says a listener
// sent something (input.go; checked every round, i.e. every chunk, and
// every idleProbe while the program is idle), the shard reads it
// non-blockingly into its own buffer and runs the bytes through a
// wsframe.Parser, which keeps only a partial header and a count of payload
// bytes still to skip. Payloads are never looked at. A close frame or the
// end of the TCP stream ends the listener; every frame spends a token of
// the kind's Input.Rate, so a flooding client ends with ErrFlood, and a
// frame over Input.MaxFrame with ErrTooBig. A ping is answered with a pong
// written between two chunks (the latest ping only, as RFC 6455 section
// 5.5.3 allows); its payload is the only client payload kept, at most 125
// bytes and only until the pong is written.

// wsInput follows one client's frames without keeping their payloads.
type wsInput struct {
	p wsframe.Parser
	// ping gathers the payload of the ping being read (nil otherwise);
	// pong is the answer to the latest complete ping, written by the shard
	// between two chunks.
	ping   *[]byte
	pong   []byte
	bucket ratelimit.Bucket // frames
}

// feed consumes client bytes under the limits lim; it returns the error
// that ends the listener.
func (in *wsInput) feed(b []byte, lim *Input, now time.Time) error {
	for len(b) > 0 {
		if in.p.InPayload() {
			pl, off := in.p.Payload(b)
			b = b[len(pl):]
			if pg := in.ping; pg != nil {
				*pg = wsframe.AppendUnmasked(*pg, pl, in.p.Header().Key, off)
				if in.p.Left() == 0 {
					in.pong, in.ping = wsframe.AppendFrame(nil, wsframe.OpPong, *pg), nil
				}
			}
			continue
		}
		n, ok := in.p.ReadHeader(b)
		b = b[n:]
		if !ok {
			continue
		}
		h := in.p.Header()
		if err := h.Check(true); err != nil {
			return ErrProtocol // unmasked, extension bits we did not agree on, bad control frame
		}
		if h.Op == wsframe.OpClose {
			return ErrClientClosed
		}
		if h.Len > lim.MaxFrame {
			return ErrTooBig
		}
		// Every frame (not only every message) costs a token, so a flood
		// of fragments is one too.
		if ok, _ := in.bucket.Take(lim.Rate, now); !ok {
			return ErrFlood
		}
		if h.Op == wsframe.OpPing {
			if h.Len == 0 {
				in.pong = wsframe.AppendFrame(nil, wsframe.OpPong, nil)
			} else {
				pg := make([]byte, 0, h.Len)
				in.ping = &pg
			}
		}
	}
	return nil
}

// readClient drains what l's client sent (a few reads at most per round:
// more than that is a flood that feed stops anyway). A listener's input is
// read at most every clientReadEvery unless epoll says there is some: a
// read that finds nothing costs as much as a chunk write, and listeners
// seldom say anything.
func (sh *shard) readClient(l *listener, now time.Time) error {
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
			return ErrClientGone
		}
		if err := l.in.feed(sh.rbuf[:n], l.kind.Input, now); err != nil {
			return err
		}
		if n < len(sh.rbuf) {
			return nil
		}
	}
	l.nextRead = 0 // more may be waiting, and no new edge will say so
	return nil
}
