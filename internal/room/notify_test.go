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
