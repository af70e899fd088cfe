package edge

import (
	"sync"
	"time"

	"majlis/internal/admission"
)

// Limits of the edge's record of removed listeners.
const (
	// maxRemoved bounds the removals an edge remembers (every room). Each
	// lasts a ticket lifetime; past the cap the oldest is forgotten first
	// (its user's older tickets are then taken again here until they
	// expire). Only moderators make removals: 10,000 in five minutes is
	// far beyond any fleet's.
	maxRemoved = 10000
	// removedSlack keeps a removal past the ticket lifetime, for the
	// clocks of origin and edge (tickets carry the origin's time).
	removedSlack = 30 * time.Second
)

// roomUser names one user in one room.
type roomUser struct{ room, user string }

// audience is what the edge knows of its signed-in listeners: each one's
// streams, so that a removal ends them, and the recent removals, so that a
// ticket issued before one is refused here.
type audience struct {
	mu sync.Mutex
	// streams holds each connected user's ways to end their streams; an
	// entry lives as long as its stream, so they are bounded as the
	// audience plane bounds connections.
	streams map[roomUser][]*edgeStream
	removed map[roomUser]time.Time // when this edge heard of the removal
	order   []removal              // removed's entries in the order heard, for expiry and the cap
}

type edgeStream struct{ remove func() }

type removal struct {
	ru roomUser
	at time.Time
}

// Connected records a stream of user (a signed-in listener; "" records
// nothing) in room on this edge (httpapi.ListenConfig.Connected): remove
// ends it when the origin removes the user from the room. The returned
// func forgets it when the stream ends.
func (e *Edge) Connected(room, user string, remove func()) (left func()) {
	if user == "" || remove == nil {
		return func() {}
	}
	a := &e.aud
	ru := roomUser{room, user}
	st := &edgeStream{remove: remove}
	a.mu.Lock()
	if a.streams == nil {
		a.streams = make(map[roomUser][]*edgeStream)
	}
	a.streams[ru] = append(a.streams[ru], st)
	a.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			a.mu.Lock()
			defer a.mu.Unlock()
			ss := a.streams[ru]
			for i, s := range ss {
				if s == st {
					ss = append(ss[:i], ss[i+1:]...)
					break
				}
			}
			if len(ss) == 0 {
				delete(a.streams, ru)
			} else {
				a.streams[ru] = ss
			}
		})
	}
}

// Removed reports whether t's user was removed from room after t was
// issued (httpapi.ListenConfig.Removed): such a stream is refused. A
// ticket issued later (the user was unblocked and joined again) is taken.
func (e *Edge) Removed(room string, t admission.Ticket) bool {
	if t.User == "" {
		return false
	}
	a := &e.aud
	a.mu.Lock()
	defer a.mu.Unlock()
	at, ok := a.removed[roomUser{room, t.User}]
	// Issued at Expires minus the lifetime: before the removal (or with it).
	return ok && !t.Expires.Add(-e.cfg.Tickets.TTL()).After(at)
}

// removeListener ends user's streams in room on this edge and remembers
// the removal for a ticket lifetime (cluster.EventListenerRemoved). It
// does not wait for the streams to end.
func (e *Edge) removeListener(room, user string) {
	now := e.now()
	ru := roomUser{room, user}
	a := &e.aud
	a.mu.Lock()
	a.expireLocked(now, e.cfg.Tickets.TTL()+removedSlack)
	if a.removed == nil {
		a.removed = make(map[roomUser]time.Time)
	}
	for len(a.order) >= maxRemoved {
		old := a.order[0]
		a.order = a.order[1:]
		if a.removed[old.ru] == old.at {
			delete(a.removed, old.ru)
		}
	}
	a.removed[ru] = now
	a.order = append(a.order, removal{ru, now})
	// Recorded before the streams are read, under the lock Connected
	// takes: a stream connecting meanwhile is either ended here or
	// refused by Removed, which the listen path asks after Connected.
	ss := append([]*edgeStream(nil), a.streams[ru]...)
	a.mu.Unlock()
	for _, s := range ss {
		s.remove()
	}
	e.cfg.Logger.Info("edge listener removed", "room", room, "user", user, "streams", len(ss))
}

// expireLocked forgets the removals older than keep; a.mu is held.
func (a *audience) expireLocked(now time.Time, keep time.Duration) {
	n := 0
	for n < len(a.order) && now.Sub(a.order[n].at) > keep {
		r := a.order[n]
		if a.removed[r.ru] == r.at {
			delete(a.removed, r.ru)
		}
		n++
	}
	if n > 0 {
		a.order = append(a.order[:0:0], a.order[n:]...)
	}
}

// removedCount is the number of removals remembered (tests).
func (e *Edge) removedCount() int {
	e.aud.mu.Lock()
	defer e.aud.mu.Unlock()
	return len(e.aud.removed)
}
