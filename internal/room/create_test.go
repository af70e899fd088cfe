package room

import (
	"context"
	"errors"
	"testing"
	"time"

	"majlis/internal/ratelimit"
)

// TestCreateLimits: one user creates rooms at most at the creation rate
// (a burst, then refused with when to come back) and hosts at most
// MaxOpenRooms that have not ended; ending one frees a place; platform
// admins are not limited.
func TestCreateLimits(t *testing.T) {
	ctx := context.Background()
	s, _, _ := newService(t, func(c *Config) {
		c.MaxOpenRooms = 3
		c.CreateRate = ratelimit.Rate{PerSecond: 1.0 / 3600, Burst: 5}
	})
	u := Actor{ID: "u1", Platform: PlatformUser}
	var ids []string
	for i := range 3 {
		r, err := s.Create(ctx, u, "room", "", time.Time{})
		if err != nil {
			t.Fatalf("room %d within the limits: %v", i, err)
		}
		ids = append(ids, r.ID)
	}
	if _, err := s.Create(ctx, u, "room", "", time.Time{}); !errors.Is(err, ErrRoomQuota) {
		t.Fatalf("a 4th open room (quota 3): %v, want ErrRoomQuota", err)
	}
	if _, err := s.Start(ctx, u, ids[0]); err != nil {
		t.Fatal(err)
	}
	if _, err := s.End(ctx, u, ids[0]); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Create(ctx, u, "room", "", time.Time{}); err != nil {
		t.Fatalf("after ending one: %v", err)
	}
	// 4 taken of the burst of 5 (the refused one took none): one more, then the rate.
	if _, err := s.End(ctx, u, ids[1]); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Create(ctx, u, "room", "", time.Time{}); err != nil {
		t.Fatalf("5th creation of a burst of 5: %v", err)
	}
	s.End(ctx, u, ids[2])
	var le *CreateLimitError
	if _, err := s.Create(ctx, u, "room", "", time.Time{}); !errors.As(err, &le) || le.Retry <= 0 {
		t.Fatalf("6th creation within the hour: %v, want a CreateLimitError with a retry", err)
	}
	// Another user has their own bucket; an admin has none.
	if _, err := s.Create(ctx, Actor{ID: "u2", Platform: PlatformUser}, "room", "", time.Time{}); err != nil {
		t.Fatalf("another user: %v", err)
	}
	admin := Actor{ID: "admin", Platform: PlatformAdmin}
	for i := range 10 {
		if _, err := s.Create(ctx, admin, "room", "", time.Time{}); err != nil {
			t.Fatalf("admin room %d: %v", i, err)
		}
	}
}
