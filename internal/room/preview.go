package room

import (
	"context"
	"time"
)

// Preview is what a link to a room says about it before anyone opens it
// (the web app's link preview, a calendar entry): public facts only, the
// ones GET /rooms/{id} shows anyone.
type Preview struct {
	ID          string
	Title       string
	Description string
	Host        string    // the host's display name
	State       string    // StateScheduled, StateLive or StateEnded
	StartsAt    time.Time // when it starts: the scheduled time, or when it went live; zero when not known
}

// Preview describes a room for a link to it. Like Peek it never loads the
// room: a crawler following many links, or made-up ones, costs a store read
// each and fills no registry.
func (s *Service) Preview(ctx context.Context, id string) (Preview, error) {
	in, err := s.Peek(ctx, id)
	if err != nil {
		return Preview{}, err
	}
	p := Preview{ID: in.ID, Title: in.Title, Description: in.Description, Host: s.name(ctx, in.Host), State: in.State, StartsAt: in.ScheduledAt}
	if !in.StartedAt.IsZero() {
		p.StartsAt = in.StartedAt
	}
	return p, nil
}

// CalendarEntry is the preview of a room to put in a calendar: one that
// has not ended and has a start time (scheduled for one, or live since
// one). ErrEnded for an ended room, ErrNoStartTime for one scheduled
// without a time.
func (s *Service) CalendarEntry(ctx context.Context, id string) (Preview, error) {
	p, err := s.Preview(ctx, id)
	switch {
	case err != nil:
		return Preview{}, err
	case p.State == StateEnded:
		return Preview{}, ErrEnded
	case p.StartsAt.IsZero():
		return Preview{}, ErrNoStartTime
	}
	return p, nil
}
