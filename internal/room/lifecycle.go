package room

import (
	"context"
	"time"

	"majlis/internal/ratelimit"
	"majlis/internal/store"
)

// Create stores a new scheduled room hosted by the actor.
func (s *Service) Create(ctx context.Context, a Actor, title, description string, at time.Time) (Info, error) {
	if a.Suspended {
		return Info{}, ErrSuspended
	}
	if !at.IsZero() {
		now := time.Now()
		if at.Before(now.Add(-time.Minute)) || at.After(now.Add(MaxScheduleAhead)) {
			return Info{}, ErrBadSchedule
		}
	}
	if a.Platform != PlatformAdmin {
		if err := s.mayCreate(ctx, a.ID); err != nil {
			return Info{}, err
		}
	}
	rec, err := s.st.NewRoom(ctx, store.Room{Title: title, Host: a.ID, Description: description, ScheduledAt: at.UTC().Truncate(time.Millisecond)})
	if err != nil {
		return infoOf(rec), err
	}
	return infoOf(rec), s.audit(ctx, a.ID, AuditCreate, roomTarget(rec.ID), rec.ID, nil)
}

// Room returns a room's stored record as this process sees it.
func (s *Service) Room(ctx context.Context, id string) (Info, error) {
	r, err := s.get(ctx, id)
	if err != nil {
		return Info{}, err
	}
	return infoOf(r.snap.Load().rec), nil
}

// Start makes a room live (host, co-hosts, platform admins).
func (s *Service) Start(ctx context.Context, a Actor, id string) (Info, error) {
	r, err := s.lock(ctx, id)
	if err != nil {
		return Info{}, err
	}
	defer r.mu.Unlock()
	// Starting is the room's own people's call (and the admin's); platform
	// moderators may end a room but not start one.
	if a.Suspended || (a.Platform != PlatformAdmin && rank(r.roleOf(a.ID)) < rankCohost) {
		return Info{}, ErrForbidden
	}
	started := false
	switch r.rec.State {
	case store.StateEnded:
		return Info{}, ErrEnded
	case store.StateScheduled:
		started = true
		now := time.Now().UTC().Truncate(time.Millisecond)
		if err := s.st.SetRoomState(ctx, id, store.StateLive, now); err != nil {
			return Info{}, err
		}
		r.rec.State, r.rec.StartedAt = store.StateLive, now
		r.hostGone.Store(time.Now().UnixNano())
	}
	if err := s.cfg.Media.Start(id); err != nil {
		return Info{}, err
	}
	s.commitLocked(ctx, r, "room_started", nil)
	if started {
		if err := s.audit(ctx, a.ID, AuditStart, roomTarget(id), id, nil); err != nil {
			return Info{}, err
		}
	}
	return infoOf(r.rec), nil
}

// End ends a room (host, co-hosts, platform admins and moderators).
func (s *Service) End(ctx context.Context, a Actor, id string) (Info, error) {
	r, err := s.lock(ctx, id)
	if err != nil {
		return Info{}, err
	}
	if r.actorRank(a) < rankCohost || a.Suspended {
		r.mu.Unlock()
		return Info{}, ErrForbidden
	}
	ended := r.rec.State == store.StateEnded
	rec, err := s.endLocked(ctx, r)
	if err == nil && !ended {
		err = s.audit(ctx, a.ID, AuditEnd, roomTarget(id), id, nil)
	}
	r.mu.Unlock()
	if err != nil && rec.State != store.StateEnded {
		return Info{}, err
	}
	s.cfg.Media.End(id) // the room ended, recorded or not
	if err != nil {
		return Info{}, err
	}
	return infoOf(rec), nil
}

// endLocked records the end; the caller stops the media after unlocking
// (that closes the stage sessions, which call LeftStage).
func (s *Service) endLocked(ctx context.Context, r *state) (store.Room, error) {
	if r.rec.State != store.StateEnded {
		now := time.Now().UTC().Truncate(time.Millisecond)
		if err := s.st.SetRoomState(ctx, r.rec.ID, store.StateEnded, now); err != nil {
			return store.Room{}, err
		}
		r.rec.State, r.rec.EndedAt = store.StateEnded, now
		s.flushCounts(ctx, r, true, true)
		s.commitLocked(ctx, r, "room_ended", nil)
		r.stream.Close()
		r.pub = make(map[string]Published)
		r.pending = make(map[string][]pendingPub)
		s.refreshLocked(ctx, r)
	}
	return r.rec, nil
}

// mayCreate applies the per-user limits on rooms: a creation rate (one
// token bucket per user) and a number of rooms open at once, so that one
// account cannot fill the process with idle live rooms (each one costs a
// mixer, and every live room restarts after a crash).
func (s *Service) mayCreate(ctx context.Context, user string) error {
	now := time.Now()
	s.createMu.Lock()
	b := s.creates[user]
	if b == nil {
		if len(s.creates) >= maxNames {
			for u, old := range s.creates { // forget refilled buckets: they equal fresh ones
				if old.Full(s.cfg.CreateRate, now) {
					delete(s.creates, u)
				}
			}
			if len(s.creates) >= maxNames {
				clear(s.creates)
			}
		}
		b = &ratelimit.Bucket{}
		s.creates[user] = b
	}
	ok, retry := b.Peek(s.cfg.CreateRate, now)
	s.createMu.Unlock()
	if !ok {
		return &CreateLimitError{Retry: retry}
	}
	n, err := s.st.OpenRoomsOf(ctx, user)
	if err != nil {
		return err
	}
	if n >= s.cfg.MaxOpenRooms {
		return ErrRoomQuota
	}
	s.createMu.Lock()
	ok, retry = b.Take(s.cfg.CreateRate, now)
	s.createMu.Unlock()
	if !ok {
		return &CreateLimitError{Retry: retry}
	}
	return nil
}
