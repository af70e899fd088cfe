package live

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// TestBehindNamesTheRoom: a room's late and slow ticks are logged with the
// room's id and what happened, at most once per behindEvery, and a room
// on time is not logged at all.
func TestBehindNamesTheRoom(t *testing.T) {
	var out bytes.Buffer
	now := time.Unix(1000, 0)
	b := &behind{room: "r1", log: slog.New(slog.NewTextHandler(&out, nil)), now: func() time.Time { return now }}
	for range 100 {
		b.note(2*time.Millisecond, false)
	}
	if out.Len() != 0 {
		t.Fatalf("a room on time was logged: %s", out.String())
	}
	b.note(time.Millisecond, true)
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 1 || !strings.Contains(lines[0], "room=r1") || !strings.Contains(lines[0], "late_ticks=1") || !strings.Contains(lines[0], "slow_ticks=0") {
		t.Fatalf("a late tick logged as %q", out.String())
	}
	// Within the interval: counted, not logged; then one line for them all.
	b.note(45*time.Millisecond, false)
	b.note(30*time.Millisecond, true)
	now = now.Add(behindEvery - time.Millisecond)
	b.note(time.Millisecond, true)
	if n := strings.Count(out.String(), "\n"); n != 1 {
		t.Fatalf("%d lines within %v, want 1: %s", n, behindEvery, out.String())
	}
	now = now.Add(time.Millisecond)
	b.note(time.Millisecond, false)
	lines = strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 2 || !strings.Contains(lines[1], "late_ticks=2") || !strings.Contains(lines[1], "slow_ticks=2") || !strings.Contains(lines[1], "longest_tick=45ms") {
		t.Fatalf("the interval's ticks logged as %q", lines[len(lines)-1])
	}
	// Counts start again after a line.
	now = now.Add(2 * behindEvery)
	b.note(time.Millisecond, false)
	if n := strings.Count(out.String(), "\n"); n != 2 {
		t.Fatalf("a room back on time was logged again: %s", out.String())
	}
}
