package store

import (
	"context"
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
