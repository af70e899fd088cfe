package server

import (
	"net/http"
	"slices"
	"testing"

	"majlis/internal/room"
)

// TestReactionSetServed: the web app reads the allowed reactions from the
// server (one definition, room.Reactions), and each of them is accepted.
func TestReactionSetServed(t *testing.T) {
	ts := startServerWith(t, "", func(*Config) {})
	var got struct{ Reactions []string }
	if code := ts.call(t, "GET", "/api/v1/reactions", "", nil, &got); code != http.StatusOK {
		t.Fatalf("GET /api/v1/reactions = %d", code)
	}
	if !slices.Equal(got.Reactions, room.Reactions()) || len(got.Reactions) == 0 {
		t.Fatalf("reaction set %q, want room.Reactions %q", got.Reactions, room.Reactions())
	}
	_, tok := ts.createUser(t, "rana")
	id := ts.liveRoom(t, tok)
	for _, em := range got.Reactions {
		if code := ts.call(t, "POST", "/api/v1/rooms/"+id+"/reactions", tok, map[string]string{"emoji": em}, nil); code != http.StatusNoContent {
			t.Fatalf("reaction %q from the served set = %d, want 204", em, code)
		}
	}
	if code := ts.call(t, "POST", "/api/v1/rooms/"+id+"/reactions", tok, map[string]string{"emoji": "🦄"}, nil); code != http.StatusBadRequest {
		t.Fatalf("reaction outside the set = %d, want 400", code)
	}
}
