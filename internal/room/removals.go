package room

import (
	"sort"
	"sync"
	"time"
)

// Removals. A block or a suspension ends a user's listen streams, but a
// ticket issued before it stays valid for its lifetime, and tickets are
// checked without the store. So the service remembers each recent removal
// with this process's time: a ticket of the user issued at or before it is
// refused (ListenerRemoved), here and, through Removals, on the edges,
// which compare the ticket's issue time with the origin's (both this
// clock), never with their own.
const (
	// MaxRemovals bounds the removals remembered (blocks and suspensions
	// of every room). Past it the oldest is forgotten first: its user's
	// older tickets are then taken again until they expire. Only
	// moderators and admins make removals: 10,000 in a ticket lifetime is
	// far beyond any platform's.
	MaxRemovals = 10000
	// DefaultRemovalsFor is Config.RemovalsFor's default: the default
	// ticket lifetime (5 min) and RemovalSlack.
	DefaultRemovalsFor = 5*time.Minute + RemovalSlack
	// RemovalSlack keeps a removal past the ticket lifetime (Config.RemovalsFor
	// is the lifetime and this), for the clocks of the processes that mint
	// and verify tickets.
	RemovalSlack = 30 * time.Second
)

// Removal is one listener removal at this origin.
type Removal struct {
	// Room is the room the user was blocked from; "" for a suspension,
	// which removes them from every room.
	Room string
	User string
	// At is when it took effect, on this process's clock; strictly
	// increasing from one removal to the next, so that "after At" pages
	// through them without a gap (Removals).
	At time.Time
}

// removalKey names a removal's user in a room ("": every room).
type removalKey struct{ room, user string }

// removals is the service's record of recent removals, in the order made.
// Its lock is held only to read or change the record, never across other
// work: the listen path reads it (ListenerRemoved).
type removals struct {
	mu    sync.RWMutex
	last  map[removalKey]time.Time // the latest removal of each key
	order []Removal                // oldest first: expiry, the cap, and Removals' pages
}

// add records a removal now (or just after the last one, so that times
// increase) and returns its time. It forgets what is older than keep, and
// the oldest past MaxRemovals.
func (rs *removals) add(room, user string, now time.Time, keep time.Duration) time.Time {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if n := len(rs.order); n > 0 && !now.After(rs.order[n-1].At) {
		now = rs.order[n-1].At.Add(time.Nanosecond)
	}
	drop := 0
	for drop < len(rs.order) && (now.Sub(rs.order[drop].At) > keep || len(rs.order)-drop >= MaxRemovals) {
		old := rs.order[drop]
		if rs.last[removalKey{old.Room, old.User}] == old.At {
			delete(rs.last, removalKey{old.Room, old.User})
		}
		drop++
	}
	if drop > 0 {
		rs.order = append(rs.order[:0:0], rs.order[drop:]...)
	}
	if rs.last == nil {
		rs.last = make(map[removalKey]time.Time)
	}
	rs.last[removalKey{room, user}] = now
	rs.order = append(rs.order, Removal{Room: room, User: user, At: now})
	return now
}

// removedSince reports whether user was removed from room (a block there,
// or a suspension) at or after issued.
func (rs *removals) removedSince(room, user string, issued time.Time) bool {
	rs.mu.RLock()
	defer rs.mu.RUnlock()
	if len(rs.last) == 0 {
		return false
	}
	for _, k := range [2]removalKey{{room, user}, {"", user}} {
		if at, ok := rs.last[k]; ok && !issued.After(at) {
			return true
		}
	}
	return false
}

// Removals lists the removals remembered that took effect after since,
// oldest first, at most limit of them, and whether more follow (ask again
// after the last one's At): what the edges ask for when they (re)connect
// to the cluster, having perhaps missed some while away.
func (s *Service) Removals(since time.Time, limit int) (out []Removal, more bool) {
	rs := &s.removed
	rs.mu.RLock()
	defer rs.mu.RUnlock()
	// order is sorted by At: skip what the asker has.
	rest := rs.order[sort.Search(len(rs.order), func(i int) bool { return rs.order[i].At.After(since) }):]
	if len(rest) > limit {
		return append([]Removal(nil), rest[:limit]...), true
	}
	return append([]Removal(nil), rest...), false
}

// Retell tells the edges again (Config.Removed) of every removal
// remembered that took effect after since: a block in its room, a
// suspension in every room loaded here now, as Block and Suspend told
// them. The origin calls it when its own cluster connection is back: a
// removal published while it was away reached no edge, and the edges that
// stayed connected have no reason to ask (an edge that has a removal
// already changes nothing).
func (s *Service) Retell(since time.Time) {
	if s.cfg.Removed == nil {
		return
	}
	rs, _ := s.Removals(since, MaxRemovals)
	var loaded []*state
	for _, r := range rs {
		if r.Room != "" {
			s.cfg.Removed(r.Room, r.User, r.At)
			continue
		}
		if loaded == nil {
			loaded = s.loadedRooms()
		}
		for _, lr := range loaded {
			s.cfg.Removed(lr.id, r.User, r.At)
		}
	}
}
