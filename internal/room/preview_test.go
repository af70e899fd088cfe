package room

import (
	"context"
	"errors"
	"testing"
	"time"
)

// A room's preview names its host by name and says when it starts: the
// scheduled time until it goes live, then the time it went live; an
// unknown room is ErrRoomNotFound and loads nothing.
func TestPreview(t *testing.T) {
	ctx := context.Background()
	s, st, _ := newService(t, nil)
	u, _, err := st.CreateUser(ctx, "layla", PlatformUser)
	if err != nil {
		t.Fatal(err)
	}
	host := Actor{ID: u.ID, Platform: PlatformUser}
	at := time.Now().Add(time.Hour).UTC().Truncate(time.Millisecond)
	r, err := s.Create(ctx, host, "Poetry night", "Bring a poem", at)
	if err != nil {
		t.Fatal(err)
	}
	p, err := s.Preview(ctx, r.ID)
	if want := (Preview{ID: r.ID, Title: "Poetry night", Description: "Bring a poem", Host: "layla", State: StateScheduled, StartsAt: at}); err != nil || p != want {
		t.Fatalf("scheduled: %+v %v, want %+v", p, err, want)
	}
	live, err := s.Start(ctx, host, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	if p, err = s.Preview(ctx, r.ID); err != nil || p.State != StateLive || !p.StartsAt.Equal(live.StartedAt) || p.Host != "layla" {
		t.Fatalf("live: %+v %v, want live since %v", p, err, live.StartedAt)
	}
	if _, err := s.End(ctx, host, r.ID); err != nil {
		t.Fatal(err)
	}
	if p, err = s.Preview(ctx, r.ID); err != nil || p.State != StateEnded {
		t.Fatalf("ended: %+v %v", p, err)
	}
	if _, err := s.Preview(ctx, "nosuchroom"); !errors.Is(err, ErrRoomNotFound) {
		t.Fatalf("unknown room: %v, want ErrRoomNotFound", err)
	}
	if s.loaded("nosuchroom") != nil {
		t.Fatalf("previewing an unknown room loaded it")
	}
}

// A calendar entry needs a room that has not ended and has a start time.
func TestCalendarEntry(t *testing.T) {
	ctx := context.Background()
	s, st, _ := newService(t, nil)
	u, _, err := st.CreateUser(ctx, "huda", PlatformUser)
	if err != nil {
		t.Fatal(err)
	}
	host := Actor{ID: u.ID, Platform: PlatformUser}
	at := time.Now().Add(time.Hour).UTC().Truncate(time.Millisecond)
	timed, _ := s.Create(ctx, host, "timed", "", at)
	untimed, _ := s.Create(ctx, host, "untimed", "", time.Time{})
	if p, err := s.CalendarEntry(ctx, timed.ID); err != nil || !p.StartsAt.Equal(at) || p.Host != "huda" {
		t.Fatalf("scheduled with a time: %+v %v", p, err)
	}
	if _, err := s.CalendarEntry(ctx, untimed.ID); !errors.Is(err, ErrNoStartTime) {
		t.Fatalf("scheduled without a time: %v, want ErrNoStartTime", err)
	}
	live, err := s.Start(ctx, host, untimed.ID)
	if err != nil {
		t.Fatal(err)
	}
	if p, err := s.CalendarEntry(ctx, untimed.ID); err != nil || !p.StartsAt.Equal(live.StartedAt) {
		t.Fatalf("live: %+v %v, want since %v", p, err, live.StartedAt)
	}
	s.End(ctx, host, untimed.ID)
	if _, err := s.CalendarEntry(ctx, untimed.ID); !errors.Is(err, ErrEnded) {
		t.Fatalf("ended: %v, want ErrEnded", err)
	}
	if _, err := s.CalendarEntry(ctx, "nosuchroom"); !errors.Is(err, ErrRoomNotFound) {
		t.Fatalf("unknown: %v", err)
	}
}
