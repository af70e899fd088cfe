package fanout

import (
	"sync"

	"majlis/internal/fanout/shard"
)

// Stop ends one listener stream from another goroutine: a moderator
// removing a listener (room.Service.Block). A WebSocket listener gets the
// close code 4403 "removed" (docs/listen-protocol.md), a listen.ogg one has
// its connection closed, without the end of the body a room's end gets.
// Create one per stream with NewStop and pass it to ServeOggDetached or
// ServeWSDetached; it may be stopped before, while or after the stream
// runs. It costs a few words per stream and nothing per chunk. A nil *Stop
// does nothing.
type Stop struct {
	sh shard.Stop // the engine's streams

	mu     sync.Mutex
	cancel func() // a stream served by its own goroutine (tls.go), while it runs
}

// NewStop returns a Stop for one stream.
func NewStop() *Stop { return &Stop{} }

// Stop ends the stream; it does not wait for it to end.
func (s *Stop) Stop() {
	if s == nil {
		return
	}
	s.sh.Stop()
	s.mu.Lock()
	cancel := s.cancel
	s.mu.Unlock()
	if cancel != nil {
		cancel()
	}
}

// shard is the Stop the engine takes (nil for a nil s).
func (s *Stop) shard() *shard.Stop {
	if s == nil {
		return nil
	}
	return &s.sh
}

// onStop has a stream served by its own goroutine cancelled by Stop: cancel
// runs now if s was stopped already. done forgets cancel when the stream ends.
func (s *Stop) onStop(cancel func()) (done func()) {
	if s == nil {
		return func() {}
	}
	s.mu.Lock()
	if s.sh.Stopped() {
		s.mu.Unlock()
		cancel()
		return func() {}
	}
	s.cancel = cancel
	s.mu.Unlock()
	return func() {
		s.mu.Lock()
		s.cancel = nil
		s.mu.Unlock()
	}
}
