package edge

import (
	"context"
	"log/slog"
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

// roomUser names one user in one room ("": every room, a suspension).
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
	// removed holds each removal's time on the origin's clock, which the
	// tickets' issue times are compared with (both the origin's).
	removed map[roomUser]time.Time
	order   []removal // removed's entries in the order heard, for expiry and the cap
}

type edgeStream struct {
	remove func()
	issued time.Time // its ticket's (the origin's clock)
}

type removal struct {
	ru    roomUser
	at    time.Time // the origin's, as in removed
	heard time.Time // this edge's clock: expiry
}

// Connected records a stream of the user t names (a signed-in listener; an
// anonymous ticket records nothing) in room on this edge
// (httpapi.ListenConfig.Connected): remove ends it when the origin removes
// the user from the room after t was issued. The returned func forgets it
// when the stream ends.
func (e *Edge) Connected(room string, t admission.Ticket, remove func()) (left func()) {
	if t.User == "" || remove == nil {
		return func() {}
	}
	a := &e.aud
	ru := roomUser{room, t.User}
	st := &edgeStream{remove: remove, issued: e.cfg.Tickets.Issued(t)}
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

// Removed reports whether t's user was removed from room (or suspended)
// at or after t was issued (httpapi.ListenConfig.Removed): such a stream
// is refused. A ticket issued later (the user was unblocked and joined
// again) is taken. Both times are the origin's: this edge's clock plays no
// part.
func (e *Edge) Removed(room string, t admission.Ticket) bool {
	if t.User == "" {
		return false
	}
	issued := e.cfg.Tickets.Issued(t)
	a := &e.aud
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, ru := range [2]roomUser{{room, t.User}, {"", t.User}} {
		if at, ok := a.removed[ru]; ok && !issued.After(at) {
			return true
		}
	}
	return false
}

// removeListener applies a removal of user from room ("": every room) at
// at, on the origin's clock (cluster.EventListenerRemoved, or a page of
// the origin's removals): it ends the user's streams there whose tickets
// were issued at or before at, and remembers the removal for a ticket
// lifetime on this edge's clock. A removal it has already (the same, or a
// later one of the same user and room) changes nothing: it reports
// whether this one was new. It does not wait for the streams to end.
func (e *Edge) removeListener(room, user string, at time.Time) bool {
	now := e.now()
	ru := roomUser{room, user}
	a := &e.aud
	a.mu.Lock()
	a.expireLocked(now, e.cfg.Tickets.TTL()+removedSlack)
	if have, ok := a.removed[ru]; ok && !at.After(have) {
		a.mu.Unlock()
		return false
	}
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
	a.removed[ru] = at
	a.order = append(a.order, removal{ru, at, now})
	// Recorded before the streams are read, under the lock Connected
	// takes: a stream connecting meanwhile is either ended here or
	// refused by Removed, which the listen path asks after Connected.
	var ss []*edgeStream
	if room != "" {
		ss = removable(nil, a.streams[ru], at)
	} else { // a suspension: the user's streams in every room (rare: a scan)
		for k, l := range a.streams {
			if k.user == user {
				ss = removable(ss, l, at)
			}
		}
	}
	a.mu.Unlock()
	for _, s := range ss {
		s.remove()
	}
	// A catch-up applies up to 10,000 at once, mostly of nobody here:
	// those are not worth a line each.
	lvl := slog.LevelDebug
	if len(ss) > 0 {
		lvl = slog.LevelInfo
	}
	e.cfg.Logger.Log(context.Background(), lvl, "edge listener removed", "room", room, "user", user, "streams", len(ss))
	return true
}

// removable appends to out the streams of l whose tickets were issued at
// or before at.
func removable(out, l []*edgeStream, at time.Time) []*edgeStream {
	for _, s := range l {
		if !s.issued.After(at) {
			out = append(out, s)
		}
	}
	return out
}

// expireLocked forgets the removals heard longer ago than keep; a.mu is held.
func (a *audience) expireLocked(now time.Time, keep time.Duration) {
	n := 0
	for n < len(a.order) && now.Sub(a.order[n].heard) > keep {
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

// Removals missed. EventListenerRemoved is delivered at most once: while
// this edge is away from the cluster (not yet connected, or reconnecting)
// the removals are lost to it (while the origin is away, the origin
// publishes them again once back: room.Service.Retell). So at start and after every reconnect it
// asks the origin for all its recent removals (a page of at most 1,000 at
// a time, up to the origin's 10,000) and applies those it does not have;
// a failed ask is tried again every removalsRetry until one succeeds.
const (
	removalsTimeout = 2 * time.Second
	removalsRetry   = time.Second
	// removalsPages bounds one catch-up: the origin's cap over its page.
	removalsPages = 11
)

// resyncRemovals asks syncRemovals for a catch-up; it never blocks (one
// pending is enough: it asks for everything).
func (e *Edge) resyncRemovals() {
	select {
	case e.resync <- struct{}{}:
	default:
	}
}

// syncRemovals runs the catch-ups until the edge closes.
func (e *Edge) syncRemovals() {
	defer e.wg.Done()
	var retry <-chan time.Time
	for {
		select {
		case <-e.ctx.Done():
			return
		case <-e.resync:
		case <-retry:
		}
		retry = nil
		if err := e.catchUp(); err != nil {
			e.cfg.Logger.Debug("edge removals catch-up", "err", err)
			retry = time.After(removalsRetry)
		}
	}
}

// catchUp asks the origin for its recent removals, page by page, and
// applies each one new here.
func (e *Edge) catchUp() error {
	var since time.Time
	applied := 0
	for range removalsPages {
		m, err := e.cfg.Cluster.Removals(since, removalsTimeout)
		if err != nil {
			return err
		}
		for _, r := range m.Removals {
			if e.removeListener(r.Room, r.User, r.At) {
				applied++
			}
		}
		if !m.More || len(m.Removals) == 0 {
			break
		}
		since = m.Removals[len(m.Removals)-1].At
	}
	if applied > 0 {
		e.cfg.Logger.Info("edge removals caught up", "new", applied)
	}
	return nil
}

// removedCount is the number of removals remembered (tests).
func (e *Edge) removedCount() int {
	e.aud.mu.Lock()
	defer e.aud.mu.Unlock()
	return len(e.aud.removed)
}
