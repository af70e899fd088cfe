package room

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"majlis/internal/store"
)

// TestCloseFlushesCounts: Close writes a live room's peak and unique
// listener counts to the store (the ticker never ran), and the next
// process resumes from them.
func TestCloseFlushesCounts(t *testing.T) {
	path := filepath.Join(t.TempDir(), "db")
	st, err := store.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	m := &fakeMedia{}
	s, err := New(Config{Store: st, Media: m, Interval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	id, _ := liveRoom(t, s, st)
	for _, nonce := range []uint64{1, 2, 3, 2} {
		s.ListenerJoined(id, nonce)
	}
	m.listeners.Store(5)
	if c, _ := s.Counts(id); c.Peak != 5 || c.Unique != 3 {
		t.Fatalf("counts before Close: %+v", c)
	}
	m.listeners.Store(0) // the listeners were disconnected first, as on SIGTERM
	s.Close()
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	st, err = store.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	rec, err := st.Room(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if rec.PeakListeners != 5 || rec.UniqueListeners != 3 {
		t.Fatalf("stored after Close: peak %d unique %d, want 5 and 3", rec.PeakListeners, rec.UniqueListeners)
	}
	s, err = New(Config{Store: st, Media: &fakeMedia{}, Interval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.ListenerJoined(id, 9)
	if c, ok := s.Counts(id); !ok || c.Peak != 5 || c.Unique != 4 {
		t.Fatalf("counts in the next process: %+v %v, want peak 5 unique 4", c, ok)
	}
}
