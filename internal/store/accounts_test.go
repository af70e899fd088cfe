package store

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"testing"
	"time"
)

// TestMigrateFromV1: a database written by the first schema keeps its users,
// tokens and rooms, and gains the new columns with sane defaults.
func TestMigrateFromV1(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "majlis.db")
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{migrations[0], `PRAGMA user_version = 1`,
		`INSERT INTO users (id, name, role, created_at) VALUES ('u1', 'amal', 'user', 1)`,
		`INSERT INTO tokens (hash, user_id, created_at) VALUES ('` + TokenHash("mjt_old") + `', 'u1', 1)`,
		`INSERT INTO rooms (id, title, host, state, created_at) VALUES ('r1', 'Old', 'u1', 'live', 1)`} {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	db.Close()

	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	u, err := s.UserByToken(ctx, "mjt_old")
	if err != nil || u.ID != "u1" || u.Suspended || u.PasswordHash != "" {
		t.Fatalf("old token: %+v %v", u, err)
	}
	toks, err := s.Tokens(ctx, "u1")
	if err != nil || len(toks) != 1 || toks[0].ID == "" {
		t.Fatalf("old token listed as %+v %v", toks, err)
	}
	if hash, err := s.DeleteToken(ctx, "u1", toks[0].ID); err != nil || hash != TokenHash("mjt_old") {
		t.Fatalf("DeleteToken: %q %v, want the token's hash", hash, err)
	}
	if _, err := s.UserByToken(ctx, "mjt_old"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("revoked token: %v", err)
	}
	r, err := s.Room(ctx, "r1")
	if err != nil || r.State != StateLive || r.Pin != "" || !r.ScheduledAt.IsZero() {
		t.Fatalf("old room: %+v %v", r, err)
	}
}

func TestSessionsMembersSuspension(t *testing.T) {
	ctx := context.Background()
	s, err := Open(filepath.Join(t.TempDir(), "majlis.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	u, tok, err := s.CreateAccount(ctx, "zed", "user", "$argon2id$x", false)
	if err != nil || tok != "" {
		t.Fatalf("account: %v %q", err, tok)
	}
	sess, err := s.CreateSession(ctx, u.ID, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := s.UserBySession(ctx, sess); err != nil || got.ID != u.ID || got.PasswordHash != "$argon2id$x" {
		t.Fatalf("session: %+v %v", got, err)
	}
	expired, _ := s.CreateSession(ctx, u.ID, -time.Second)
	if _, err := s.UserBySession(ctx, expired); !errors.Is(err, ErrNotFound) {
		t.Fatalf("expired session: %v", err)
	}
	if err := s.SetSuspended(ctx, u.ID, true); err != nil {
		t.Fatal(err)
	}
	if _, err := s.UserBySession(ctx, sess); !errors.Is(err, ErrNotFound) {
		t.Fatalf("session after suspension: %v", err)
	}
	if got, _ := s.UserByName(ctx, "zed"); !got.Suspended {
		t.Fatal("not suspended")
	}

	r, _ := s.CreateRoom(ctx, "t", u.ID)
	s.PutMember(ctx, r.ID, Member{User: "a", Role: "speaker", ForcedMute: true, Since: time.Now()})
	s.PutMember(ctx, r.ID, Member{User: "b", Role: "requester", Since: time.Now()})
	s.PutMember(ctx, r.ID, Member{User: "a", Role: "cohost", ForcedMute: true, Since: time.Now()})
	s.DeleteMember(ctx, r.ID, "b")
	ms, err := s.RoomMembers(ctx, r.ID)
	if err != nil || len(ms) != 1 || ms[0].Role != "cohost" || !ms[0].ForcedMute {
		t.Fatalf("members %+v %v", ms, err)
	}
}
