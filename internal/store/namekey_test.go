package store

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"slices"
	"strings"
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

// TestUsersByNameKeyPrefix: a prefix search reads the name-key index in
// key order, up to its limit, without suspended users; the keys next to
// the prefix's range (shorter, or differing in the last letter) are out.
func TestUsersByNameKeyPrefix(t *testing.T) {
	ctx := context.Background()
	s, err := Open(filepath.Join(t.TempDir(), "majlis.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ids := map[string]string{}
	for _, n := range []string{"a", "aa", "ab", "abz", "abc", "ac", "أمل", "أملاك", "أمين"} {
		u, _, err := s.CreateAccountWithKey(ctx, n, n, "user", "", false)
		if err != nil {
			t.Fatal(err)
		}
		ids[n] = u.ID
	}
	if err := s.SetSuspended(ctx, ids["abc"], true); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		prefix string
		limit  int
		want   []string
	}{
		{"ab", 10, []string{"ab", "abz"}},
		{"ab", 1, []string{"ab"}},
		{"a", 3, []string{"a", "aa", "ab"}},
		{"أمل", 10, []string{"أمل", "أملاك"}},
		{"أم", 10, []string{"أمل", "أملاك", "أمين"}},
		{"b", 10, nil},
	} {
		us, err := s.UsersByNameKeyPrefix(ctx, c.prefix, c.limit)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, u := range us {
			got = append(got, u.Name)
		}
		if !slices.Equal(got, c.want) {
			t.Errorf("%q limit %d: %v, want %v", c.prefix, c.limit, got, c.want)
		}
	}
	var plan string
	rows, err := s.rd.QueryContext(ctx, "EXPLAIN QUERY PLAN "+usersByKeyPrefix, "ab", "ab\U0010FFFF", 11)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var id, parent, notused int
		var detail string
		rows.Scan(&id, &parent, &notused, &detail)
		plan += detail + "; "
	}
	t.Logf("plan: %s", plan)
	if !strings.Contains(plan, "SEARCH u USING INDEX users_name_key") || strings.Contains(plan, "TEMP B-TREE") {
		t.Fatalf("the search does not read the name-key index: %s", plan)
	}
}
