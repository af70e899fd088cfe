package room

import (
	"context"
	"encoding/json"
	"slices"
	"sync"
	"testing"
	"time"
)

// speakingMedia is fakeMedia that says who talks (Speakers).
type speakingMedia struct {
	*fakeMedia
	mu  sync.Mutex
	now []string
}

func (m *speakingMedia) Speaking(string) []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.now)
}

func (m *speakingMedia) set(ids ...string) {
	m.mu.Lock()
	m.now = ids
	m.mu.Unlock()
}

// TestSpeakingEvents: a live room publishes who talks when the set
// changes, sorted, and nothing while it stays the same; the last set is in
// the snapshot a new subscriber starts from.
func TestSpeakingEvents(t *testing.T) {
	sm := &speakingMedia{}
	s, st, _ := newService(t, func(c *Config) {
		sm.fakeMedia = c.Media.(*fakeMedia)
		c.Media = sm
	})
	id, _ := liveRoom(t, s, st)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	sub, err := s.Subscribe(ctx, id, 0)
	if err != nil {
		t.Fatal(err)
	}
	sub.Next(ctx) // the snapshot
	next := func() []string {
		t.Helper()
		for {
			batch, _, err := sub.Next(ctx)
			if err != nil {
				t.Fatalf("no speaking event: %v", err)
			}
			for _, it := range batch {
				if eventType(it.Raw) != "speaking" {
					continue
				}
				var ev struct{ Data struct{ Speakers []string } }
				if err := json.Unmarshal(it.Raw, &ev); err != nil {
					t.Fatal(err)
				}
				return ev.Data.Speakers
			}
		}
	}
	sm.set("b", "a")
	if got := next(); !slices.Equal(got, []string{"a", "b"}) {
		t.Fatalf("speaking %v, want [a b]", got)
	}
	sm.set("a", "b") // the same set: no event
	time.Sleep(3 * SpeakingInterval)
	sm.set("b")
	if got := next(); !slices.Equal(got, []string{"b"}) {
		t.Fatalf("speaking %v, want [b] (and no event for the unchanged set)", got)
	}
	v, err := s.View(ctx, id)
	if err != nil || v.Speaking == nil || !slices.Equal(*v.Speaking, []string{"b"}) {
		t.Fatalf("view speaking %v, %v; want [b]", v.Speaking, err)
	}
	sm.set()
	if got := next(); got == nil || len(got) != 0 {
		t.Fatalf("speaking %#v, want [] once nobody talks", got)
	}
}
