package shard

import "time"

// Frames follows a WebSocket client's input by the shards' rules (wsinput.go)
// for a listener the engine does not own: one fanout serves from a
// goroutine of its own because its connection is not a plain socket (TLS
// terminated in this process). One limit, one parser, for both paths.
// A Frames is used by one goroutine at a time.
type Frames struct {
	in  wsInput
	lim *Input
}

// NewFrames follows a client under lim.
func NewFrames(lim *Input) *Frames { return &Frames{lim: lim} }

// Feed consumes bytes the client sent; the error (ErrClientClosed,
// ErrFlood, ErrTooBig, ErrProtocol) ends the listener.
func (f *Frames) Feed(b []byte, now time.Time) error { return f.in.feed(b, f.lim, now) }

// Pong takes the answer to the client's latest complete ping (RFC 6455
// section 5.5.3), nil when there is none to send.
func (f *Frames) Pong() []byte {
	p := f.in.pong
	f.in.pong = nil
	return p
}
