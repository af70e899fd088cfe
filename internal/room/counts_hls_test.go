package room

import (
	"sync/atomic"
	"testing"
)

// TestHLSHeartbeatCounts: HLS players count in Listeners by their tickets:
// a flood of beats of one ticket counts once, a new ticket can be refused
// (shedding) while known ones go on, the unique count includes them, and a
// room not live takes no beats.
func TestHLSHeartbeatCounts(t *testing.T) {
	s, st, m := newService(t, nil)
	id, _ := liveRoom(t, s, st)
	m.listeners.Store(2) // two Ogg/WebSocket listeners
	for range 1000 {
		if ok, err := s.HLSHeartbeat(id, 7, true); !ok || err != nil {
			t.Fatalf("beat: %v %v", ok, err)
		}
	}
	if ok, _ := s.HLSHeartbeat(id, 8, true); !ok {
		t.Fatal("second player refused")
	}
	if ok, err := s.HLSHeartbeat(id, 9, false); ok || err != nil {
		t.Fatalf("new session while refusing them: %v %v", ok, err)
	}
	if ok, _ := s.HLSHeartbeat(id, 7, false); !ok {
		t.Fatal("known session refused")
	}
	c, _ := s.Counts(id)
	if c.Listeners != 4 || c.Unique != 2 || c.Peak != 4 {
		t.Fatalf("counts %+v: want 4 listeners (2 streams + 2 HLS), 2 unique, peak 4", c)
	}
	if _, err := s.HLSHeartbeat("nope", 1, true); err != ErrNotLive {
		t.Fatalf("unknown room: %v", err)
	}
}

// TestHLSShardRotation: a shard forgets tickets two intervals old and
// counts the larger of the current and the previous interval.
func TestHLSShardRotation(t *testing.T) {
	var a audience
	a.hls[0].cur, a.hls[0].prev = map[uint64]struct{}{}, map[uint64]struct{}{}
	h := &a.hls[0]
	h.rotate(10)
	for i := range uint64(5) {
		h.cur[i] = struct{}{}
		h.curN++
	}
	h.rotate(11) // the next interval: the five are the previous one
	if h.prvN != 5 || h.curN != 0 {
		t.Fatalf("after one interval: prev %d cur %d", h.prvN, h.curN)
	}
	h.rotate(13) // two more: forgotten
	if h.prvN != 0 || h.curN != 0 || len(h.prev) != 0 {
		t.Fatalf("after three intervals: prev %d cur %d", h.prvN, h.curN)
	}
}

// TestHLSRenewalCountsOnce: a player that renews its ticket and names the
// old one on its first beat counts once, not twice for two intervals; the
// renewal goes on while new sessions are refused and is not a new unique
// listener. Naming a ticket never heard from (someone's ticket of another
// room is refused before, by the signature check) just counts the beat.
func TestHLSRenewalCountsOnce(t *testing.T) {
	s, st, _ := newService(t, nil)
	id, _ := liveRoom(t, s, st)
	for _, n := range []uint64{1, 2, 3} {
		if ok, err := s.HLSHeartbeat(id, n, true); !ok || err != nil {
			t.Fatalf("beat %d: %v %v", n, ok, err)
		}
	}
	// Player 1 renews (ticket 11), at high load: new sessions are refused.
	if ok, err := s.HLSRenewed(id, 1, 11, false); !ok || err != nil {
		t.Fatalf("renewal while shedding: %v %v", ok, err)
	}
	if c, _ := s.Counts(id); c.Listeners != 3 || c.Unique != 3 {
		t.Fatalf("after a renewal: %+v, want 3 listeners, 3 unique", c)
	}
	// Renewing again from the same old ticket (a retried request) counts
	// the new ticket once; a renewal naming a ticket not heard from is a
	// new session, refused while shedding and counted otherwise.
	if ok, _ := s.HLSRenewed(id, 1, 11, false); !ok {
		t.Fatal("retried renewal refused")
	}
	if ok, _ := s.HLSRenewed(id, 99, 12, false); ok {
		t.Fatal("unknown old ticket taken as a continuation while shedding")
	}
	if ok, _ := s.HLSRenewed(id, 99, 12, true); !ok {
		t.Fatal("unknown old ticket, new sessions welcome: refused")
	}
	if c, _ := s.Counts(id); c.Listeners != 4 || c.Unique != 4 {
		t.Fatalf("%+v, want 4 listeners (1→11, 2, 3, 12), 4 unique", c)
	}
	if _, err := s.HLSRenewed("nope", 2, 13, true); err != ErrNotLive {
		t.Fatalf("unknown room: %v", err)
	}
}

// BenchmarkHLSHeartbeat: the room's cost of one beat (shard lock, interval
// rotation, set lookup) over 100,000 distinct tickets already counted, one
// goroutine per core.
//
//	go test -run '^$' -bench HLSHeartbeat -cpu 1,2 ./internal/room/
func BenchmarkHLSHeartbeat(b *testing.B) {
	s, st, _ := newService(b, nil)
	id, _ := liveRoom(b, s, st)
	const tickets = 100_000
	nonces := make([]uint64, tickets)
	for i := range nonces {
		nonces[i] = uint64(i+1) * 0x9e3779b97f4a7c15 // distinct, spread like random nonces
		s.HLSHeartbeat(id, nonces[i], true)
	}
	var next atomic.Uint64
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := next.Add(7919)
		for pb.Next() {
			i++
			if ok, err := s.HLSHeartbeat(id, nonces[i%tickets], true); !ok || err != nil {
				b.Errorf("beat: %v %v", ok, err)
				return
			}
		}
	})
}
