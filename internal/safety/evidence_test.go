package safety

import (
	"context"
	"testing"
	"time"

	"majlis/internal/recording"
)

// TestEvidenceHeld: the segments around a reported moment are held from
// the notice on, and after the decision until its complaint window (and a
// day) has closed; segments elsewhere in the room are not.
func TestEvidenceHeld(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	start := e.f.rooms["r1"].StartedAt
	seg := func(id string, from, to time.Duration) recording.Segment {
		return recording.Segment{ID: id, Room: "r1", Track: "program", Start: start.Add(from), End: start.Add(to)}
	}
	e.f.segs = []recording.Segment{seg("s0", 0, time.Minute), seg("s1", time.Minute, 2*time.Minute), seg("s2", 2*time.Minute, 3*time.Minute), seg("s9", 9*time.Minute, 10*time.Minute)}
	rc, err := e.Report(ctx, anon, speakerNotice()) // 95 s to 110 s, 30 s either side: s1 and s2
	if err != nil {
		t.Fatal(err)
	}
	held := func() map[string]time.Time {
		e.f.mu.Lock()
		defer e.f.mu.Unlock()
		m := map[string]time.Time{}
		for _, s := range e.f.segs {
			m[s.ID] = s.HoldUntil
		}
		return m
	}
	h := held()
	if !h["s1"].Equal(rc.Notice.Created.Add(noticeHold)) || !h["s2"].Equal(h["s1"]) || !h["s0"].IsZero() || !h["s9"].IsZero() {
		t.Fatalf("after the notice: %v", h)
	}
	e.clk.Add(60 * 24 * time.Hour) // decided two months later: the hold follows the decision
	d, err := e.Decide(ctx, mod1, rc.Notice.ID, muteDecision())
	if err != nil {
		t.Fatal(err)
	}
	if h = held(); !h["s1"].Equal(ComplaintWindow(d).Add(24 * time.Hour)) {
		t.Fatalf("after the decision: %v, want %v", h["s1"], ComplaintWindow(d).Add(24*time.Hour))
	}
}
