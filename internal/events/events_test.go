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

// TestReadersTakeNoLock: with the writers' lock held (a stage commit
// encoding its event), readers still read; readers racing a writer that
// laps the ring see contiguous events in order or a lag, never a torn or
// foreign event.
func TestReadersTakeNoLock(t *testing.T) {
	s := NewStream(8, 0)
	s.Publish("a", nil)
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

	const total = 20000
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var last uint64
			for last < total {
				r := s.Since(last)
				if r.Lagged {
					last = s.Seq() // a snapshot, then on from the head
					continue
				}
				for _, it := range r.Events {
					if it.Seq != last+1 || !strings.Contains(string(it.Raw), fmt.Sprintf(`"seq":%d,`, it.Seq)) {
						t.Errorf("after %d got event %d (%s)", last, it.Seq, it.Raw)
						return
					}
					last = it.Seq
				}
			}
		}()
	}
	for range total - 1 {
		s.Publish("b", nil)
	}
	wg.Wait()
}
