package room

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"majlis/internal/events"
	"majlis/internal/store"
)

// state is a loaded room.
type state struct {
	id     string
	stream *events.Stream

	// mu is the room's stage lock; it guards the fields below it.
	mu      sync.Mutex
	rec     store.Room
	members map[string]*store.Member
	pub     map[string]Published // members publishing now
	cred    map[string]string    // the credential each one's session was opened with (Actor.Cred)
	// pending holds each member's re-publishes not connected yet (Published.Pending),
	// with their credentials; TookOver moves one to pub. Ended ones are pruned
	// as they are met.
	pending map[string][]pendingPub

	// hostGone is when the host was last seen leaving the stage (or the
	// room started), in Unix nanoseconds; 0 while the host publishes.
	// Written under mu, read by the ticker without it.
	hostGone atomic.Int64

	// snap is what the audience path reads of the stage state; stage
	// operations replace it (under mu) before publishing their event.
	snap atomic.Pointer[snapshot]

	aud audience

	// speaking is who talked at the last look (tickSpeaking, the only
	// writer), sorted; views read it. Never modified once stored.
	speaking atomic.Pointer[[]string]
}

// snapshot is an immutable copy of a room's stage state.
type snapshot struct {
	rec     store.Room
	blocked map[string]struct{}
	view    View // Counts left zero: filled in when read
}

// loaded returns a loaded room, or nil. It takes no lock.
func (s *Service) loaded(id string) *state {
	if v, ok := s.rooms.Load(id); ok {
		return v.(*state)
	}
	return nil
}

// loadedRooms is a snapshot of the loaded rooms.
func (s *Service) loadedRooms() []*state {
	var rs []*state
	s.rooms.Range(func(_, v any) bool {
		rs = append(rs, v.(*state))
		return true
	})
	return rs
}

// get returns a loaded room, reading it from the store on first use. The
// store is read with no lock held; when two loads race, the first insert
// wins and the other's copy is dropped.
func (s *Service) get(ctx context.Context, id string) (*state, error) {
	for {
		if r := s.loaded(id); r != nil {
			return r, nil
		}
		gen := s.removals.Load()
		r, err := s.read(ctx, id)
		if err != nil {
			return nil, err
		}
		s.regMu.Lock()
		if cur := s.loaded(id); cur != nil {
			s.regMu.Unlock()
			return cur, nil
		}
		if s.removals.Load() != gen {
			// A room was unloaded while this one was read: the read
			// may predate that room's end. Read again.
			s.regMu.Unlock()
			continue
		}
		s.rooms.Store(id, r)
		s.regMu.Unlock()
		return r, nil
	}
}

// unload forgets an ended room (it reloads from the store on demand).
func (s *Service) unload(r *state) {
	s.regMu.Lock()
	if s.rooms.CompareAndDelete(r.id, r) {
		s.removals.Add(1)
	}
	s.regMu.Unlock()
}

// read builds a room's state from the store.
func (s *Service) read(ctx context.Context, id string) (*state, error) {
	rec, err := s.st.Room(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrRoomNotFound
	}
	if err != nil {
		return nil, err
	}
	ms, err := s.st.RoomMembers(ctx, id)
	if err != nil {
		return nil, err
	}
	r := &state{id: id, rec: rec, members: make(map[string]*store.Member), pub: make(map[string]Published), cred: make(map[string]string), pending: make(map[string][]pendingPub),
		// Sequence numbers start from the clock so a cursor from an earlier process is always stale.
		stream: events.NewStream(0, uint64(time.Now().UnixMilli())<<10)}
	if tap := s.cfg.EventTap; tap != nil {
		r.stream.Tap(func(it events.Item, closed bool) { tap(id, it, closed) })
	}
	r.hostGone.Store(time.Now().UnixNano())
	r.aud.init(rec)
	for i := range ms {
		m := ms[i]
		r.members[m.User] = &m
	}
	if rec.State == store.StateEnded {
		r.stream.Close()
	}
	s.refreshLocked(ctx, r) // not shared yet: no lock needed
	return r, nil
}

// lock takes a room's stage lock, loading the room if needed.
func (s *Service) lock(ctx context.Context, id string) (*state, error) {
	r, err := s.get(ctx, id)
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	return r, nil
}

// do runs a stage mutation under the room's stage lock; the sessions f
// returns are closed after unlocking (closing one calls LeftStage).
func (s *Service) do(ctx context.Context, id string, f func(r *state) ([]Published, error)) error {
	r, err := s.lock(ctx, id)
	if err != nil {
		return err
	}
	cl, err := f(r)
	r.mu.Unlock()
	for _, c := range cl {
		c.Close()
	}
	return err
}
