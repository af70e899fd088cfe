package room

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"majlis/internal/store"
)

// deadlockTimeout bounds waits that only a deadlock would exceed; it is
// not a latency threshold.
const deadlockTimeout = 10 * time.Second

// within fails the test when f does not return before deadlockTimeout.
func within(t *testing.T, what string, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() { defer close(done); f() }()
	select {
	case <-done:
	case <-time.After(deadlockTimeout):
		t.Fatalf("%s did not complete while the other plane held its locks", what)
	}
}

// stageRoom is a live room with a publishing speaker.
func stageRoom(t testing.TB, s *Service, st *store.Store) (id string, host, speaker Actor) {
	t.Helper()
	ctx := context.Background()
	id, host = liveRoom(t, s, st)
	u, _, err := st.CreateUser(ctx, "speaker-"+store.NewID(), PlatformUser)
	if err != nil {
		t.Fatal(err)
	}
	speaker = Actor{ID: u.ID, Platform: PlatformUser}
	if err := s.Invite(ctx, host, id, speaker.ID); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Publish(ctx, speaker, id, "offer"); err != nil {
		t.Fatal(err)
	}
	return id, host, speaker
}

// TestAudienceNotBlockedByStage holds a stage operation inside the room's
// stage lock (a force-mute whose mixer source blocks) and checks that the
// audience path of the same room, the ticker, and another room's stage all
// keep working.
func TestAudienceNotBlockedByStage(t *testing.T) {
	s, st, m := newService(t, nil)
	ctx := context.Background()
	id, host, speaker := stageRoom(t, s, st)
	other, otherHost := liveRoom(t, s, st)
	g := newGate()
	m.session(speaker.ID).gate = g
	sub, err := s.Subscribe(ctx, id, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := sub.Next(ctx); err != nil { // the snapshot
		t.Fatal(err)
	}

	g.armed.Store(true)
	muted := make(chan error, 1)
	go func() { muted <- s.Mute(ctx, host, id, speaker.ID, true) }()
	select {
	case <-g.entered:
	case <-time.After(deadlockTimeout):
		t.Fatal("the mute never reached the mixer source")
	}

	listener := Actor{ID: "someone", Platform: PlatformUser}
	within(t, "ListenerJoined", func() {
		for i := range 100 {
			m.listeners.Add(1)
			s.ListenerJoined(id, uint64(i))
		}
	})
	within(t, "React", func() {
		if err := s.React(ctx, listener, id, "👏"); err != nil {
			t.Error(err)
		}
	})
	within(t, "Counts", func() {
		if c, ok := s.Counts(id); !ok || c.Listeners != 100 || c.Unique != 100 || c.Peak != 100 {
			t.Errorf("counts %+v %v", c, ok)
		}
	})
	within(t, "CanJoin", func() {
		if err := s.CanJoin(ctx, listener, id); err != nil {
			t.Error(err)
		}
	})
	within(t, "View and Room", func() {
		if v, err := s.View(ctx, id); err != nil || v.Counts.Unique != 100 {
			t.Errorf("view %+v %v", v.Counts, err)
		}
		if _, err := s.Room(ctx, id); err != nil {
			t.Error(err)
		}
	})
	within(t, "a new subscription's snapshot", func() {
		sub2, err := s.Subscribe(ctx, id, 0)
		if err == nil {
			_, _, err = sub2.Next(ctx)
		}
		if err != nil {
			t.Error(err)
		}
	})
	within(t, "the ticker's counts and reactions events", func() {
		seen := map[string]bool{}
		for !seen["counts"] || !seen["reactions"] {
			batch, _, err := sub.Next(ctx)
			if err != nil {
				t.Error(err)
				return
			}
			for _, ev := range batch {
				seen[eventType(ev.Raw)] = true
			}
		}
	})
	within(t, "another room's stage operation", func() {
		if err := s.Pin(ctx, otherHost, other, "https://example.org/"); err != nil {
			t.Error(err)
		}
	})
	select {
	case err := <-muted:
		t.Fatalf("the mute returned (%v) while its mixer source was held", err)
	default:
	}
	close(g.release)
	select {
	case err := <-muted:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(deadlockTimeout):
		t.Fatal("the mute did not finish once released")
	}
	if !m.session(speaker.ID).muted.Load() {
		t.Fatal("the speaker's source was not muted")
	}
}

// BenchmarkStageUnderAudience measures a stage call (a speaker publishing
// again: the publish decision, the session record, the event) with and
// without goroutines hammering the same room's audience path (joins,
// reactions, counts). It reports the stage call's p50 and p99.
func BenchmarkStageUnderAudience(b *testing.B) {
	for _, load := range []int{0, 4} {
		b.Run(fmt.Sprintf("audience=%d", load), func(b *testing.B) {
			s, st, _ := newService(b, nil)
			id, _, speaker := stageRoom(b, s, st)
			ctx := context.Background()
			stop := make(chan struct{})
			var wg sync.WaitGroup
			var audienceCalls atomic.Int64
			for w := range load {
				wg.Add(1)
				go func() {
					defer wg.Done()
					a := Actor{Platform: PlatformUser}
					for i := uint64(0); ; i++ {
						select {
						case <-stop:
							return
						default:
						}
						a.ID = fmt.Sprint("u", w, "-", i%1000)
						s.ListenerJoined(id, uint64(w)<<40|i)
						if err := s.React(ctx, a, id, "🔥"); err != nil && !errors.Is(err, ErrRateLimited) {
							panic(err)
						}
						s.Counts(id)
						audienceCalls.Add(3)
					}
				}()
			}
			lat := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			for range b.N {
				t0 := time.Now()
				if _, _, err := s.Publish(ctx, speaker, id, "offer"); err != nil {
					b.Fatal(err)
				}
				lat = append(lat, time.Since(t0))
			}
			b.StopTimer()
			close(stop)
			wg.Wait()
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)/2].Nanoseconds()), "p50-ns")
			b.ReportMetric(float64(lat[len(lat)*99/100].Nanoseconds()), "p99-ns")
			b.ReportMetric(float64(audienceCalls.Load())/float64(b.N), "audience-calls/op")
		})
	}
}

// TestStageNotBlockedByAudience is TestAudienceNotBlockedByStage the other
// way round: with every audience-side lock of the room held (the unique
// count's, the HLS count's and the reaction limits' shards: what a crowd
// of joins, heartbeats and reactions contends on) and an event subscriber
// reading, the room's stage calls and its state still complete. The
// audience calls themselves wait, which shows the locks held are theirs.
func TestStageNotBlockedByAudience(t *testing.T) {
	s, st, _ := newService(t, nil)
	ctx := context.Background()
	id, host, speaker := stageRoom(t, s, st)
	r := s.loaded(id)
	var held []*sync.Mutex
	for i := range r.aud.uniq {
		held = append(held, &r.aud.uniq[i].mu, &r.aud.hls[i].mu, &r.aud.limits[i].mu)
	}
	for _, mu := range held {
		mu.Lock()
	}
	var release sync.Once
	unlock := func() {
		release.Do(func() {
			for _, mu := range held {
				mu.Unlock()
			}
		})
	}
	defer unlock() // a failure below must not leave the service's Close waiting
	joined := make(chan struct{})
	go func() { defer close(joined); s.ListenerJoined(id, 42) }()
	reacted := make(chan error, 1)
	go func() { reacted <- s.React(ctx, Actor{ID: "someone", Platform: PlatformUser}, id, "🔥") }()
	sub, err := s.Subscribe(ctx, id, 0)
	if err != nil {
		t.Fatal(err)
	}
	within(t, "a subscriber's first read", func() { sub.Next(ctx) })
	within(t, "a forced mute", func() {
		if err := s.Mute(ctx, host, id, speaker.ID, true); err != nil {
			t.Error(err)
		}
	})
	within(t, "a re-publish", func() {
		if _, _, err := s.Publish(ctx, speaker, id, "offer"); err != nil {
			t.Error(err)
		}
	})
	within(t, "a pin", func() {
		if err := s.Pin(ctx, host, id, "https://example.org/"); err != nil {
			t.Error(err)
		}
	})
	within(t, "moving the speaker to the audience", func() {
		if err := s.ToAudience(ctx, host, id, speaker.ID); err != nil {
			t.Error(err)
		}
	})
	within(t, "the room's view", func() {
		if _, err := s.View(ctx, id); err != nil {
			t.Error(err)
		}
	})
	select {
	case <-joined:
		t.Fatal("a listener join completed with every audience lock held: the test holds the wrong locks")
	case <-reacted:
		t.Fatal("a reaction completed with every audience lock held: the test holds the wrong locks")
	default:
	}
	unlock()
	within(t, "the join once the audience locks are free", func() { <-joined })
	within(t, "the reaction once the audience locks are free", func() {
		if err := <-reacted; err != nil {
			t.Error(err)
		}
	})
}
