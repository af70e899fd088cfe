package store

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"
)

func TestRoomsSurviveReopen(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "majlis.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	r, err := s.CreateRoom(ctx, "Town hall", "u1")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.SetRoomState(ctx, r.ID, StateLive, time.Now()); err != nil {
		t.Fatal(err)
	}
	s.Close()

	s, err = Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	got, err := s.Room(ctx, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Title != "Town hall" || got.State != StateLive || got.StartedAt.IsZero() || got.Host != "u1" {
		t.Fatalf("room after reopen = %+v", got)
	}
	live, err := s.RoomsInState(ctx, StateLive)
	if err != nil || len(live) != 1 || live[0].ID != r.ID {
		t.Fatalf("live rooms = %v, %v", live, err)
	}
	if _, err := s.Room(ctx, "nope"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown room err = %v", err)
	}
	if err := s.SetRoomState(ctx, "nope", StateEnded, time.Now()); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown room state err = %v", err)
	}
}

func TestUsersAndTokens(t *testing.T) {
	ctx := context.Background()
	s, err := Open(filepath.Join(t.TempDir(), "majlis.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	u, tok, err := s.CreateUser(ctx, "amal", "user")
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.UserByToken(ctx, tok)
	if err != nil || got.ID != u.ID || got.Name != "amal" {
		t.Fatalf("UserByToken = %+v, %v", got, err)
	}
	if _, err := s.UserByToken(ctx, tok+"x"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("bad token err = %v", err)
	}
	if _, _, err := s.CreateUser(ctx, "amal", "user"); !errors.Is(err, ErrExists) {
		t.Fatalf("duplicate name err = %v", err)
	}
}
