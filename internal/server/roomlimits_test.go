package server

import (
	"net/http"
	"strings"
	"testing"

	"majlis/internal/admission"
)

// TestRoomCreationLimits: through the API, one user's room creations are
// limited (429 rate_limited with Retry-After) and so are their open rooms
// (409 room_quota); the admin is not.
func TestRoomCreationLimits(t *testing.T) {
	ts := startServerWith(t, "", func(c *Config) {
		c.MaxOpenRooms, c.RoomCreateRate = 2, admission.Rate{PerSecond: 1.0 / 3600, Burst: 3}
	})
	_, tok := ts.createUser(t, "amal")
	create := func(token string) apiResult {
		return ts.do(t, "POST", "/api/v1/rooms", token, `{"title":"r"}`, map[string]string{"Content-Type": "application/json"})
	}
	for i := range 2 {
		if r := create(tok); r.status != http.StatusCreated {
			t.Fatalf("room %d: %d %s", i, r.status, r.code)
		}
	}
	if r := create(tok); r.status != http.StatusConflict || r.code != "room_quota" {
		t.Fatalf("3rd open room (quota 2): %d %q, want 409 room_quota", r.status, r.code)
	}
	var list struct{ Rooms []struct{ ID string } }
	if code := ts.call(t, "GET", "/api/v1/rooms?state=scheduled", "", nil, &list); code != http.StatusOK || len(list.Rooms) != 2 {
		t.Fatalf("scheduled rooms: %d %d", code, len(list.Rooms))
	}
	ts.call(t, "POST", "/api/v1/rooms/"+list.Rooms[0].ID+"/start", tok, nil, nil)
	if code := ts.call(t, "POST", "/api/v1/rooms/"+list.Rooms[0].ID+"/end", tok, nil, nil); code != http.StatusOK {
		t.Fatalf("end: %d", code)
	}
	if r := create(tok); r.status != http.StatusCreated {
		t.Fatalf("after ending one: %d %s", r.status, r.code)
	}
	ts.call(t, "POST", "/api/v1/rooms/"+list.Rooms[1].ID+"/start", tok, nil, nil)
	ts.call(t, "POST", "/api/v1/rooms/"+list.Rooms[1].ID+"/end", tok, nil, nil)
	// Three of the burst of 3 are taken: the next is refused for the rate.
	req, _ := http.NewRequest("POST", ts.base+"/api/v1/rooms", strings.NewReader(`{"title":"r"}`))
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Content-Type", "application/json")
	resp, err := testHTTP.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("4th creation within the hour: %d Retry-After %q, want 429 with Retry-After", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	for i := range 5 {
		if r := create(testAdminToken); r.status != http.StatusCreated {
			t.Fatalf("admin room %d: %d %s", i, r.status, r.code)
		}
	}
}
