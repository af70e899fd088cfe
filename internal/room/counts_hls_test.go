package room

import (
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
