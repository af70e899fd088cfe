package store

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"testing"
	"time"
)

// TestReadsDoNotWaitForWriter: reads have their own connections, so a
// write transaction in progress (the stage's, say) does not hold up reads
// (the audience's), and reads see every committed write.
func TestReadsDoNotWaitForWriter(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	r, err := s.NewRoom(ctx, Room{Title: "before", Host: "h"})
	if err != nil {
		t.Fatal(err)
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE rooms SET title = 'during' WHERE id = ?`, r.ID); err != nil {
		t.Fatal(err)
	}
	// The writer connection is taken by the open transaction.
	rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	got, err := s.Room(rctx, r.ID)
	if err != nil {
		t.Fatalf("read while a write transaction is open: %v (reads waited for the writer)", err)
	}
	if got.Title != "before" {
		t.Fatalf("read saw %q before the commit, want the committed %q", got.Title, "before")
	}
	if n, err := s.OpenRoomsOf(rctx, "h"); err != nil || n != 1 {
		t.Fatalf("count while a write transaction is open: %d %v", n, err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Room(ctx, r.ID); err != nil || got.Title != "during" {
		t.Fatalf("read after the commit: %q %v, want the new title", got.Title, err)
	}
	// The read pool refuses writes.
	if _, err := s.rd.ExecContext(ctx, `UPDATE rooms SET title = 'x'`); err == nil {
		t.Fatal("a write through the read pool succeeded")
	}
}

// TestAudienceReadsOwnPool: the audience plane reads through a pool of its
// own (Audience). With every audience connection held (a flood of room
// lists), the stage's reads and writes go on; an audience read waits for a
// connection; and the audience sees what the stage wrote. NewestInState
// returns the newest rooms of a state, oldest first.
func TestAudienceReadsOwnPool(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	aud := s.Audience()
	var ids []string
	for i := range 5 {
		r, err := s.NewRoom(ctx, Room{Title: fmt.Sprint("room ", i), Host: "h"})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, r.ID)
		time.Sleep(2 * time.Millisecond) // distinct created_at
	}
	got, err := aud.NewestInState(ctx, StateScheduled, 3)
	if err != nil || len(got) != 3 || got[0].ID != ids[2] || got[2].ID != ids[4] {
		t.Fatalf("NewestInState(3) = %+v, %v; want rooms 2, 3, 4", got, err)
	}
	var held []*sql.Conn
	for range readConns {
		c, err := s.aud.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, c)
	}
	// The stage's reads and writes do not wait for the audience's pool.
	sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if _, err := s.Room(sctx, ids[0]); err != nil {
		t.Fatalf("a stage read with the audience pool exhausted: %v", err)
	}
	if err := s.SetRoomPin(sctx, ids[0], "https://example.org/"); err != nil {
		t.Fatalf("a stage write with the audience pool exhausted: %v", err)
	}
	// An audience read waits for one of its own connections.
	actx, acancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer acancel()
	if _, err := aud.Room(actx, ids[0]); err == nil {
		t.Fatal("an audience read went through with every audience connection held: it does not use its own pool")
	}
	for _, c := range held {
		c.Close()
	}
	r, err := aud.Room(ctx, ids[0])
	if err != nil || r.Pin != "https://example.org/" {
		t.Fatalf("the audience's read after release: %+v %v, want the stage's pin", r, err)
	}
	if err := aud.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Room(ctx, ids[0]); err != nil {
		t.Errorf("closing the audience view closed the store: %v", err)
	}
}
