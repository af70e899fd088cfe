package events

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestStreamResumeLagClose(t *testing.T) {
	s := NewStream(4, 100)
	if r := s.Since(100); len(r.Events) != 0 || r.Lagged || r.Closed {
		t.Fatalf("empty stream: %+v", r)
	}
	r0 := s.Since(100)
	for i := 0; i < 3; i++ {
		s.Publish("x", map[string]int{"i": i})
	}
	select {
	case <-r0.Wake:
	default:
		t.Fatal("publish did not wake a waiting reader")
	}
	r := s.Since(101)
	if len(r.Events) != 2 || r.Events[0].Seq != 102 || r.Last != 103 {
		t.Fatalf("resume: %+v", r)
	}
	var ev struct {
		Seq  uint64
		Type string
		Data map[string]int
	}
	if err := json.Unmarshal(r.Events[1].Raw, &ev); err != nil || ev.Seq != 103 || ev.Type != "x" || ev.Data["i"] != 2 {
		t.Fatalf("event %s: %v", r.Events[1].Raw, err)
	}
	for i := 0; i < 4; i++ {
		s.Publish("y", nil)
	}
	if r := s.Since(101); !r.Lagged {
		t.Fatal("a cursor older than the ring must lag")
	}
	if r := s.Since(500); !r.Lagged {
		t.Fatal("a cursor from the future must lag")
	}
	if r := s.Since(103); len(r.Events) != 4 || r.Lagged {
		t.Fatalf("ring-sized gap: %+v", r)
	}
	s.Close()
	if s.Publish("z", nil) != 0 {
		t.Fatal("publish after close")
	}
	if r := s.Since(s.Seq()); !r.Closed {
		t.Fatal("closed stream not reported")
	}
}

// TestTapAndPut: a tapped stream shows every event and its close in
// order; a mirror fed those events with Put reads the same, drops repeats,
// and makes a reader across lost events lag.
func TestTapAndPut(t *testing.T) {
	src := NewStream(8, 1000)
	mirror := NewStream(8, 1000)
	var got []Item
	closed := false
	src.Tap(func(it Item, c bool) {
		if c {
			closed = true
			return
		}
		got = append(got, it)
	})
	for i := range 3 {
		src.Publish("x", i)
	}
	if len(got) != 3 || got[0].Seq != 1001 || got[2].Seq != 1003 {
		t.Fatalf("tap saw %+v", got)
	}
	for _, it := range got {
		if !mirror.Put(it) {
			t.Fatalf("put %d refused", it.Seq)
		}
	}
	if mirror.Put(got[1]) {
		t.Fatal("a repeat was put")
	}
	a, b := src.Since(1000), mirror.Since(1000)
	if len(a.Events) != 3 || len(b.Events) != 3 || string(a.Events[2].Raw) != string(b.Events[2].Raw) || b.Last != 1003 {
		t.Fatalf("mirror differs: %+v vs %+v", a, b)
	}
	// 1004 is lost on the way: a reader at 1003 lags at 1005.
	src.Publish("lost", nil)
	src.Publish("y", nil)
	mirror.Put(got[len(got)-1])
	if r := mirror.Since(1003); !r.Lagged {
		t.Fatalf("a reader across a gap must lag: %+v", r)
	}
	if r := mirror.Since(1005); r.Lagged || len(r.Events) != 0 {
		t.Fatalf("a reader after the gap: %+v", r)
	}
	src.Close()
	if !closed {
		t.Fatal("tap did not see the close")
	}
}

// TestReadersTakeNoLock: with the writers' lock held (a stage commit
// encoding its event), readers still read; readers racing a writer that
// laps the ring see contiguous events in order or a lag, never a torn or
// foreign event.
func TestReadersTakeNoLock(t *testing.T) {
	s := NewStream(8, 0)
	s.Publish("a", 1)
	s.mu.Lock()
	done := make(chan Read, 1)
	go func() { done <- s.Since(0) }()
	select {
	case r := <-done:
		if len(r.Events) != 1 || r.Last != 1 || s.Seq() != 1 {
			t.Errorf("read with the writers' lock held: %+v", r)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Since waited for the writers' lock")
	}
	s.mu.Unlock()

	lapRing(t, s, 20000, func(last uint64, _ []Item) Read { return s.Since(last) })
}

// TestSinceIntoReusesBuffer: a reader that passes back its last read's
// Events reads every event in order with the stream's bytes, across the
// ring's wrap, a lag (the buffer is kept for the reads after the snapshot)
// and many calls, in one array that stops growing and is not allocated
// again; readers racing a writer that laps the ring each keep their own
// buffer (under -race: no reader's array is written by anyone else).
func TestSinceIntoReusesBuffer(t *testing.T) {
	const history = 4
	s := NewStream(history, 0)
	raw := map[uint64]string{} // what the stream published, by seq
	s.Tap(func(it Item, closed bool) {
		if !closed {
			raw[it.Seq] = string(it.Raw)
		}
	})
	var buf []Item
	var last uint64
	read := func() Read {
		t.Helper()
		r := s.SinceInto(last, buf)
		buf = r.Events
		if r.Lagged {
			return r
		}
		for i, it := range r.Events {
			if want := last + 1 + uint64(i); it.Seq != want || string(it.Raw) != raw[want] {
				t.Fatalf("after %d, event %d: %d %s, want %d %s", last, i, it.Seq, it.Raw, want, raw[want])
			}
		}
		last = r.Last
		return r
	}
	// Batches of 1 to 4 events, the ring wrapping every 4: 60 reads.
	var arr *Item
	for i := range 60 {
		for range i%history + 1 {
			s.Publish("n", i)
		}
		if r := read(); r.Lagged || len(r.Events) != i%history+1 {
			t.Fatalf("read %d: %d events, lagged %v", i, len(r.Events), r.Lagged)
		}
		if i >= history && &buf[0] != arr {
			t.Fatalf("read %d: a new array once the buffer held a whole ring", i)
		}
		arr = &buf[:1][0]
	}
	if last != s.Seq() {
		t.Fatalf("read up to %d of %d", last, s.Seq())
	}
	// A lag: more events than the ring holds. The read is empty, and keeps
	// the buffer for the reads after the snapshot.
	for range history + 1 {
		s.Publish("m", nil)
	}
	if r := read(); !r.Lagged || len(r.Events) != 0 || cap(r.Events) < history || &r.Events[:1][0] != arr {
		t.Fatalf("after a lag: %+v (cap %d), want an empty lagged read in the same array", r, cap(r.Events))
	}
	last = s.Seq() // the snapshot's seq
	s.Publish("after", nil)
	s.Publish("after", nil)
	if r := read(); r.Lagged || len(r.Events) != 2 || &buf[0] != arr {
		t.Fatalf("after the snapshot: %+v", r)
	}
	// A warm buffer reads a whole ring without allocating.
	for range history {
		s.Publish("w", nil)
	}
	from := s.Seq() - history
	if n := testing.AllocsPerRun(100, func() { buf = s.SinceInto(from, buf).Events }); n != 0 || len(buf) != history {
		t.Fatalf("%v allocations per read of %d events, want 0", n, len(buf))
	}

	// Readers racing a writer that laps the ring, each with its buffer.
	s2 := NewStream(8, 0)
	lapRing(t, s2, 20000, s2.SinceInto)
}

// lapRing publishes events on s up to sequence number total (each one's
// data its own number) while four readers read them with read, passing
// back their last read's Events. Each must see contiguous events in order,
// each with its own bytes, or a lag (then it goes on from the head, as
// after a snapshot); each scribbles over its batch once it has used it, as
// a caller may: under -race, no other reader nor the stream may see that.
func lapRing(t *testing.T, s *Stream, total uint64, read func(after uint64, buf []Item) Read) {
	t.Helper()
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var buf []Item
			var last uint64
			for last < total {
				r := read(last, buf)
				buf = r.Events
				if r.Lagged {
					last = s.Seq()
					continue
				}
				for _, it := range r.Events {
					if it.Seq != last+1 || !strings.Contains(string(it.Raw), fmt.Sprintf(`"seq":%d,`, it.Seq)) ||
						!strings.Contains(string(it.Raw), fmt.Sprintf(`"data":%d}`, it.Seq)) {
						t.Errorf("after %d got event %d (%s)", last, it.Seq, it.Raw)
						return
					}
					last = it.Seq
				}
				for i := range buf {
					buf[i] = Item{}
				}
			}
		}()
	}
	for q := s.Seq() + 1; q <= total; q++ {
		s.Publish("b", q)
	}
	wg.Wait()
}
