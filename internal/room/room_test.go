package room

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"majlis/internal/events"
	"majlis/internal/ratelimit"
	"majlis/internal/store"
)

func newService(t testing.TB, edit func(*Config)) (*Service, *store.Store, *fakeMedia) {
	t.Helper()
	st, err := store.Open(filepath.Join(t.TempDir(), "db"))
	if err != nil {
		t.Fatal(err)
	}
	m := &fakeMedia{}
	// Room-creation limits out of the way: tests create many rooms per host
	// (TestCreateLimits tests the limits themselves).
	cfg := Config{Store: st, Media: m, Interval: 50 * time.Millisecond,
		MaxOpenRooms: 1 << 20, CreateRate: ratelimit.Rate{PerSecond: 1e6, Burst: 1e6}}
	if edit != nil {
		edit(&cfg)
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close(); st.Close() })
	return s, st, m
}

func liveRoom(t testing.TB, s *Service, st *store.Store) (string, Actor) {
	t.Helper()
	ctx := context.Background()
	u, _, err := st.CreateUser(ctx, "host-"+store.NewID(), PlatformUser)
	if err != nil {
		t.Fatal(err)
	}
	host := Actor{ID: u.ID, Platform: PlatformUser}
	r, err := s.Create(ctx, host, "t", "", time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Start(ctx, host, r.ID); err != nil {
		t.Fatal(err)
	}
	return r.ID, host
}

func eventType(b []byte) string {
	var e struct{ Type string }
	json.Unmarshal(b, &e)
	return e.Type
}

// A subscriber that falls behind the ring gets one snapshot, not a backlog.
func TestSlowSubscriberGetsSnapshot(t *testing.T) {
	s, st, _ := newService(t, nil)
	id, host := liveRoom(t, s, st)
	ctx := context.Background()
	sub, err := s.Subscribe(ctx, id, 0)
	if err != nil {
		t.Fatal(err)
	}
	batch, _, _ := sub.Next(ctx)
	if len(batch) != 1 || eventType(batch[0].Raw) != "snapshot" {
		t.Fatalf("first: %d events", len(batch))
	}
	for i := 0; i < events.DefaultHistory+10; i++ {
		if err := s.Pin(ctx, host, id, "https://example.org/"+string(rune('a'+i%26))); err != nil {
			t.Fatal(err)
		}
	}
	batch, _, _ = sub.Next(ctx)
	if len(batch) != 1 || eventType(batch[0].Raw) != "snapshot" {
		t.Fatalf("after lagging: %d events, first %s", len(batch), eventType(batch[0].Raw))
	}
	// And it follows live events again from the snapshot's seq.
	s.Pin(ctx, host, id, "")
	batch, _, _ = sub.Next(ctx)
	if len(batch) != 1 || eventType(batch[0].Raw) != "pin_changed" {
		t.Fatalf("after the snapshot: %d events", len(batch))
	}
}

// Reactions are aggregated per interval and limited per user.
func TestReactionsAggregatedAndLimited(t *testing.T) {
	s, st, _ := newService(t, func(c *Config) { c.Interval = 200 * time.Millisecond; c.ReactionRate = 1; c.ReactionBurst = 3 })
	id, host := liveRoom(t, s, st)
	ctx := context.Background()
	sub, _ := s.Subscribe(ctx, id, 0)
	sub.Next(ctx) // snapshot
	var limited int
	for i := 0; i < 5; i++ {
		err := s.React(ctx, host, id, "👏")
		if errors.Is(err, ErrRateLimited) {
			limited++
		} else if err != nil {
			t.Fatal(err)
		}
	}
	if limited != 2 {
		t.Fatalf("limited %d of 5 with burst 3, want 2", limited)
	}
	if err := s.React(ctx, host, id, "🤡"); !errors.Is(err, ErrBadEmoji) {
		t.Fatalf("bad emoji: %v", err)
	}
	deadline := time.After(3 * time.Second)
	for {
		cctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		batch, _, err := sub.Next(cctx)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		for _, ev := range batch {
			if eventType(ev.Raw) == "reactions" {
				var e struct {
					Data struct{ Counts map[string]int }
				}
				json.Unmarshal(ev.Raw, &e)
				if e.Data.Counts["👏"] != 3 {
					t.Fatalf("aggregate %s", ev.Raw)
				}
				return
			}
		}
		select {
		case <-deadline:
			t.Fatal("no aggregate")
		default:
		}
	}
}

// lookedAt is the fake media of a test that needs to know a tick has
// looked at a room: each tick asks a live room's listeners (its counts).
type lookedAt struct {
	*fakeMedia
	mu    sync.Mutex
	looks map[string]int
}

// watchTicks has newService's media count the ticks' looks.
func watchTicks(c *Config) *lookedAt {
	m := &lookedAt{fakeMedia: c.Media.(*fakeMedia), looks: map[string]int{}}
	c.Media = m
	return m
}

func (m *lookedAt) Listeners(id string) int64 {
	m.mu.Lock()
	m.looks[id]++
	m.mu.Unlock()
	return m.fakeMedia.Listeners(id)
}

func (m *lookedAt) looked(id string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.looks[id]
}

// waitEnded polls the store until the room has ended (at most 10 s: the
// tick that ends it may run late on a loaded machine).
func waitEnded(t *testing.T, st *store.Store, id, what string) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		rec, _ := st.Room(context.Background(), id)
		if rec.State == store.StateEnded {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %s after 10 s, want ended", what, rec.State)
		}
	}
}

// staysLive checks that a room is still live once a tick has looked at it
// after AutoEnd had passed since since (when it was set up) and has done
// with it: had its host been taken for away from since on, that look would
// have ended it. That look is the first counted after AutoEnd; the next is
// of a later tick, which began when the first had done with the room.
func staysLive(t *testing.T, s *Service, st *store.Store, m *lookedAt, since time.Time, id, what string) {
	t.Helper()
	time.Sleep(time.Until(since.Add(s.cfg.AutoEnd)))
	n := m.looked(id)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		looked := m.looked(id) >= n+2 // before the state: that tick had done with it
		if rec, _ := st.Room(context.Background(), id); rec.State != store.StateLive {
			t.Fatalf("%s: %s, want live", what, rec.State)
		}
		if looked {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: no tick looked at it in 10 s", what)
		}
	}
}

// A live room whose host is off stage for AutoEnd ends by itself; one whose
// host publishes stays live.
func TestAutoEnd(t *testing.T) {
	var looks *lookedAt
	s, st, m := newService(t, func(c *Config) { c.AutoEnd = 300 * time.Millisecond; looks = watchTicks(c) })
	gone, _ := liveRoom(t, s, st)
	ctx := context.Background()
	u, _, _ := st.CreateUser(ctx, "host2", PlatformUser)
	h2 := Actor{ID: u.ID, Platform: PlatformUser}
	r, _ := s.Create(ctx, h2, "t2", "", time.Time{})
	s.Start(ctx, h2, r.ID)
	if _, _, err := s.Publish(ctx, h2, r.ID, "offer"); err != nil {
		t.Fatal(err)
	}
	set := time.Now()
	waitEnded(t, st, gone, "room with the host gone")
	staysLive(t, s, st, looks, set, r.ID, "room with the host on stage")
	// A tick began after the one that ended the room: that one has told the media.
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.ended) != 1 || m.ended[0] != gone {
		t.Fatalf("media ended %v", m.ended)
	}
}

// Many subscribers share one ring: a state change reaches all of them, and
// counts go out once per interval however many listeners join.
func TestManySubscribersOneEvent(t *testing.T) {
	s, st, m := newService(t, nil)
	id, host := liveRoom(t, s, st)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	const n = 2000
	got := make(chan string, n)
	for i := 0; i < n; i++ {
		sub, err := s.Subscribe(ctx, id, 0)
		if err != nil {
			t.Fatal(err)
		}
		// Take the first answer (the snapshot) now: a goroutine scheduled
		// after the pin would get it inside its snapshot, not as an event.
		if _, _, err := sub.Next(ctx); err != nil {
			t.Fatal(err)
		}
		go func() {
			for {
				batch, _, err := sub.Next(ctx)
				if err != nil {
					got <- "error"
					return
				}
				for _, ev := range batch {
					if typ := eventType(ev.Raw); typ == "pin_changed" {
						got <- typ
						return
					}
				}
			}
		}()
	}
	// A thousand joins make a counts event a tick at most, not one a join.
	// Under -race on a loaded machine the joins alone can take several
	// intervals, so the bound follows the time they and the wait after them
	// took: a tick for each interval of it and one more, the tick that may
	// be under way when they begin and the one that may be waiting.
	began := time.Now()
	before := s.loaded(id).stream.Seq()
	for i := 0; i < 1000; i++ {
		m.listeners.Add(1)
		s.ListenerJoined(id, uint64(i))
	}
	time.Sleep(150 * time.Millisecond)
	after := s.loaded(id).stream.Seq()
	elapsed := time.Since(began)
	if most := uint64(elapsed/s.cfg.Interval) + 3; after-before > most {
		t.Errorf("1000 joins made %d events in %v, want at most %d (one per %v tick)", after-before, elapsed, most, s.cfg.Interval)
	}
	if err := s.Pin(ctx, host, id, "https://example.org/"); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < n; i++ {
		if g := <-got; g != "pin_changed" {
			t.Fatalf("subscriber %d: %s", i, g)
		}
	}
	if c, _ := s.Counts(id); c.Listeners != 1000 || c.Unique != 1000 || c.Peak != 1000 {
		t.Errorf("counts %+v", c)
	}
}

// Every state change gets a higher view version than the view before it,
// and the event carrying the change holds the same version as a read after
// it: a client can order a fetched view against the events it applied.
func TestViewVersionOrdersChanges(t *testing.T) {
	ctx := context.Background()
	s, st, _ := newService(t, nil)
	id, host := liveRoom(t, s, st)
	sub, err := s.Subscribe(ctx, id, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := sub.Next(ctx); err != nil { // the opening snapshot
		t.Fatal(err)
	}
	before, err := s.View(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if before.Version == 0 {
		t.Fatal("a live room's view has no version")
	}
	if err := s.Pin(ctx, host, id, "https://example.org/a"); err != nil {
		t.Fatal(err)
	}
	batch, _, err := sub.Next(ctx)
	if err != nil || len(batch) == 0 {
		t.Fatalf("no event after the pin: %v", err)
	}
	var ev struct {
		Data struct{ Room View }
	}
	if err := json.Unmarshal(batch[len(batch)-1].Raw, &ev); err != nil {
		t.Fatal(err)
	}
	after, err := s.View(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if ev.Data.Room.Pin != "https://example.org/a" || ev.Data.Room.Version <= before.Version || after.Version != ev.Data.Room.Version {
		t.Fatalf("versions: before %d, event %d (pin %q), after %d: want before < event == after", before.Version, ev.Data.Room.Version, ev.Data.Room.Pin, after.Version)
	}
	if err := s.Pin(ctx, host, id, "https://example.org/b"); err != nil {
		t.Fatal(err)
	}
	again, _ := s.View(ctx, id)
	if again.Version <= after.Version {
		t.Fatalf("second change: version %d after %d", again.Version, after.Version)
	}
	// A new process (the room loaded again) numbers its views after these.
	s.Close()
	s2, err := New(Config{Store: st, Media: &fakeMedia{}, Interval: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	reloaded, err := s2.View(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if reloaded.Version <= again.Version {
		t.Fatalf("reloaded room's version %d, not after %d", reloaded.Version, again.Version)
	}
}
