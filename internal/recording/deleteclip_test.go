package recording

import (
	"errors"
	"testing"
	"time"
)

// TestDeleteClip: a clip deleted by a moderation decision is gone (its
// info and its audio), and a second delete says so.
func TestDeleteClip(t *testing.T) {
	m := newManager(t, Dir{Root: t.TempDir()})
	record(t, m, "room3")
	c, err := m.MakeClip("room3", "user", time.Second, 2*time.Second, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.DeleteClip(c.ID, "test"); err != nil {
		t.Fatal(err)
	}
	if _, err := m.ClipInfo(c.ID); !errors.Is(err, ErrClipNotFound) {
		t.Fatalf("info after delete: %v", err)
	}
	if _, _, err := m.OpenClip(c.ID); !errors.Is(err, ErrClipNotFound) {
		t.Fatalf("audio after delete: %v", err)
	}
	if err := m.DeleteClip(c.ID, "test"); !errors.Is(err, ErrClipNotFound) {
		t.Fatalf("second delete: %v", err)
	}
}
