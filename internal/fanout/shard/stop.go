package shard

import "sync/atomic"

// Stop ends one listener from any goroutine (a moderator removing a
// listener): the listener's shard ends it with ErrRemoved at its next turn,
// so the shard stays the only writer of the socket. A Stop costs a few
// words per listener and nothing per chunk: a shard scans its listeners
// only when one of them was stopped.
//
// The zero value is ready; it may be stopped before the listener is taken
// (it then ends as soon as its shard has it) or after it ended (nothing
// happens). A nil *Stop does nothing.
type Stop struct {
	stopped atomic.Bool
	sh      atomic.Pointer[shard] // the listener's shard, once placed
}

// Stop ends the listener. It does not wait; calling it again does nothing.
func (s *Stop) Stop() {
	if s == nil || s.stopped.Swap(true) {
		return
	}
	if sh := s.sh.Load(); sh != nil {
		sh.stopSoon()
	}
}

// Stopped reports whether Stop was called.
func (s *Stop) Stopped() bool { return s != nil && s.stopped.Load() }

// placed records the listener's shard. Stop stores stopped before it loads
// the shard and placed stores the shard before it loads stopped, so one of
// the two tells the shard.
func (s *Stop) placed(sh *shard) {
	if s == nil {
		return
	}
	s.sh.Store(sh)
	if s.stopped.Load() {
		sh.stopSoon()
	}
}

// stopSoon has the shard look for stopped listeners at its next turn.
func (sh *shard) stopSoon() {
	sh.stops.Store(true)
	signal(sh.wake)
}

// removeStopped ends the shard's stopped listeners (on the shard goroutine).
func (sh *shard) removeStopped() {
	for _, g := range sh.groups {
		for i := 0; i < len(g.ls); {
			if g.ls[i].stop.Stopped() {
				sh.remove(g, i, ErrRemoved)
				continue
			}
			i++
		}
	}
}
