package room

import (
	"context"
	"strings"
	"testing"
	"time"
)

// TestNotify: another domain's event reaches a live room's subscribers;
// a room not loaded takes none.
func TestNotify(t *testing.T) {
	s, st, _ := newService(t, nil)
	id, _ := liveRoom(t, s, st)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	sub, err := s.Subscribe(ctx, id, 0)
	if err != nil {
		t.Fatal(err)
	}
	sub.Next(ctx) // the snapshot
	if !s.Notify(id, "safety_decision", map[string]string{"decision": "d1"}) {
		t.Fatal("not published")
	}
	batch, _, err := sub.Next(ctx)
	if err != nil || len(batch) != 1 || eventType(batch[0].Raw) != "safety_decision" || !strings.Contains(string(batch[0].Raw), `"decision":"d1"`) {
		t.Fatalf("batch %v %v", batch, err)
	}
	if s.Notify("nope", "safety_decision", nil) {
		t.Fatal("published to a room not loaded")
	}
}

// TestEventsNamePlatformNotModerator: a change made by platform staff from
// outside the room's roles names "platform" in the room's events (the
// audit log names the moderator); the host's own change names the host.
func TestEventsNamePlatformNotModerator(t *testing.T) {
	s, st, _ := newService(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	id, host, speaker := stageRoom(t, s, st)
	mod := Actor{ID: "mod-1", Platform: PlatformModerator}
	sub, err := s.Subscribe(ctx, id, 0)
	if err != nil {
		t.Fatal(err)
	}
	sub.Next(ctx) // the snapshot
	next := func() string {
		t.Helper()
		batch, _, err := sub.Next(ctx)
		if err != nil || len(batch) == 0 {
			t.Fatalf("no event: %v", err)
		}
		return string(batch[len(batch)-1].Raw)
	}
	if err := s.Mute(ctx, mod, id, speaker.ID, true); err != nil {
		t.Fatal(err)
	}
	if ev := next(); !strings.Contains(ev, `"by":"platform"`) || strings.Contains(ev, mod.ID) {
		t.Errorf("a platform moderator's mute: %s, want by platform and no moderator id", ev)
	}
	if err := s.Mute(ctx, host, id, speaker.ID, false); err != nil {
		t.Fatal(err)
	}
	if ev := next(); !strings.Contains(ev, `"by":"`+host.ID+`"`) {
		t.Errorf("the host's unmute: %s, want by the host", ev)
	}
}
