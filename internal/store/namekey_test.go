package store

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"testing"
)

// TestNameKeys: a name's key is unique, whatever the case of the name; a
// database with names that differ only in case migrates, the first stored
// keeps the key, and every one of them still resolves by its exact name.
func TestNameKeys(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "majlis.db")
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{migrations[0], migrations[1], `PRAGMA user_version = 2`,
		`INSERT INTO users (id, name, role, created_at, password_hash) VALUES ('u1', 'alice', 'user', 1, 'h1')`,
		`INSERT INTO users (id, name, role, created_at, password_hash) VALUES ('u2', 'ALICE', 'user', 2, 'h2')`,
		`INSERT INTO users (id, name, role, created_at, password_hash) VALUES ('u3', 'Alice', 'user', 3, 'h3')`,
		`INSERT INTO users (id, name, role, created_at) VALUES ('u4', 'Bob', 'user', 4)`} {
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
	for _, c := range []struct{ name, key, want string }{
		{"alice", "alice", "u1"}, {"ALICE", "alice", "u2"}, {"Alice", "alice", "u3"}, // exact names first
		{"aLiCe", "alice", "u1"}, // otherwise the key, held by the first
		{"bob", "bob", "u4"}, {"BOB", "bob", "u4"},
	} {
		if u, err := s.UserByNameKey(ctx, c.name, c.key); err != nil || u.ID != c.want {
			t.Errorf("UserByNameKey(%q, %q) = %s %v, want %s", c.name, c.key, u.ID, err, c.want)
		}
	}
	if _, err := s.UserByNameKey(ctx, "carol", "carol"); !errors.Is(err, ErrNotFound) {
		t.Errorf("no such name: %v", err)
	}
	for _, name := range []string{"alicE", "bOB"} {
		if _, _, err := s.CreateAccount(ctx, name, "user", "", false); !errors.Is(err, ErrExists) {
			t.Errorf("CreateAccount(%q) beside a taken key: %v", name, err)
		}
	}
	if _, _, err := s.CreateAccountWithKey(ctx, "Carol", "carol", "user", "", false); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.CreateAccountWithKey(ctx, "CAROL", "carol", "user", "", true); !errors.Is(err, ErrExists) {
		t.Errorf("a second carol: %v", err)
	}
	if u, err := s.UserByNameKey(ctx, "carol", "carol"); err != nil || u.Name != "Carol" {
		t.Errorf("carol by key: %+v %v", u, err)
	}
}
