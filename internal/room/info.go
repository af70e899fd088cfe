package room

import (
	"context"
	"errors"
	"time"

	"majlis/internal/store"
)

// Room states: scheduled → live → ended.
const (
	StateScheduled = store.StateScheduled
	StateLive      = store.StateLive
	StateEnded     = store.StateEnded
)

// Info is a room's record as the domain gives it out (the protocol layer
// never reads the store itself).
type Info struct {
	ID        string
	Title     string
	Host      string // user id
	State     string
	CreatedAt time.Time
	StartedAt time.Time // zero until started
	EndedAt   time.Time // zero until ended

	Description     string
	ScheduledAt     time.Time // zero when not scheduled for a time
	Pin             string    // pinned link, "" for none
	PeakListeners   int64
	UniqueListeners int64
}

func infoOf(r store.Room) Info { return Info(r) }

// List returns the rooms in state (StateLive or StateScheduled), oldest
// first, at most limit of them (the newest).
func (s *Service) List(ctx context.Context, state string, limit int) ([]Info, error) {
	rs, err := s.aud.NewestInState(ctx, state, limit)
	if err != nil {
		return nil, err
	}
	out := make([]Info, len(rs))
	for i, r := range rs {
		out[i] = infoOf(r)
	}
	return out, nil
}

// Peek returns a room's record without loading the room: a loaded room's
// own copy, else one store read. The audience guard peeks at rooms for
// every join it cannot answer from its cache, and a flood of joins into
// cold or unknown rooms must not fill the registry.
func (s *Service) Peek(ctx context.Context, id string) (Info, error) {
	if r := s.loaded(id); r != nil {
		return infoOf(r.snap.Load().rec), nil
	}
	rec, err := s.aud.Room(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return Info{}, ErrRoomNotFound
	}
	if err != nil {
		return Info{}, err
	}
	return infoOf(rec), nil
}
