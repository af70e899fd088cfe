package room

import (
	"context"
	"math/rand/v2"
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

// TestUniqueBounded: unique listeners are counted exactly while few (each
// ticket once however often it joins), and past 16,384 in a room by
// sketches whose memory does not grow with the audience, within 2 % of the
// truth; the count is what the room reports after the tick refreshes it.
func TestUniqueBounded(t *testing.T) {
	s, st, _ := newService(t, nil)
	id, _ := liveRoom(t, s, st)
	r := s.loaded(id)
	rng := rand.New(rand.NewPCG(1, 2))
	nonces := make([]uint64, 200000)
	for i := range nonces {
		nonces[i] = rng.Uint64()
	}
	for _, n := range nonces[:500] {
		s.ListenerJoined(id, n)
		s.ListenerJoined(id, n)
	}
	if c, _ := s.Counts(id); c.Unique != 500 {
		t.Fatalf("500 tickets joining twice each: unique %d, want 500", c.Unique)
	}
	for _, n := range nonces {
		s.ListenerJoined(id, n)
	}
	for i := range r.aud.uniq {
		r.aud.uniq[i].refresh()
		r.aud.uniq[i].mu.Lock()
		exact := r.aud.uniq[i].seen != nil
		r.aud.uniq[i].mu.Unlock()
		if exact {
			t.Errorf("shard %d still holds an exact set past its bound", i)
		}
	}
	c, _ := s.Counts(id)
	if got := float64(c.Unique); got < 0.98*200000 || got > 1.02*200000 {
		t.Errorf("200,000 tickets: unique %d, want within 2 %%", c.Unique)
	}
}
