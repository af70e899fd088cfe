package server

import (
	"context"
	"encoding/json"
	"net/url"
	"testing"
	"time"
)

type candidatesAnswer struct {
	Users []struct{ ID, Name, Role string } `json:"users"`
}

type listenersAnswer struct {
	Listeners []struct {
		ID    string    `json:"id"`
		Name  string    `json:"name"`
		Since time.Time `json:"since"`
	} `json:"listeners"`
	SignedIn  int   `json:"signed_in"`
	Unlisted  int   `json:"unlisted"`
	Anonymous int64 `json:"anonymous"`
}

// TestRoomPeopleAPI: the user search, the listener list, the host
// hand-over and the co-host demotion as HTTP sees them: who may, the
// status codes and the JSON error codes.
func TestRoomPeopleAPI(t *testing.T) {
	ts := startServerWith(t, t.TempDir(), func(*Config) {})
	hostID, host := ts.createUser(t, "people-host")
	coID, co := ts.createUser(t, "people-co")
	amalID, amal := ts.createUser(t, "أمل")
	_, lis := ts.createUser(t, "people-lis")
	room := ts.liveRoom(t, host)
	base := "/api/v1/rooms/" + room
	ts.must(t, 200, "POST", base+"/cohosts/"+coID, host, "")

	// Search.
	var c candidatesAnswer
	r := ts.must(t, 200, "GET", base+"/candidates?q="+url.QueryEscape("أم"), co, "")
	if err := json.Unmarshal(r.body, &c); err != nil || len(c.Users) != 1 || c.Users[0].ID != amalID || c.Users[0].Name != "أمل" || c.Users[0].Role != "listener" {
		t.Fatalf("search أم: %s", r.body)
	}
	r = ts.must(t, 200, "GET", base+"/candidates?q=PEOPLE-C", host, "")
	if err := json.Unmarshal(r.body, &c); err != nil || len(c.Users) != 1 || c.Users[0].Role != "cohost" {
		t.Fatalf("search PEOPLE-C: %s", r.body)
	}
	for _, q := range []struct {
		path, token string
		status      int
		code        string
	}{
		{base + "/candidates?q=ab", "", 401, "unauthorized"},
		{base + "/candidates?q=ab", lis, 403, "forbidden"},
		{"/api/v1/rooms/nosuchroom/candidates?q=ab", host, 404, "room_not_found"},
		{base + "/candidates?q=a", host, 400, "bad_query"},
		{base + "/candidates", host, 400, "bad_query"},
		{base + "/candidates?q=" + url.QueryEscape("a b"), host, 400, "bad_query"},
		{base + "/candidates?q=" + url.QueryEscape(string(make([]byte, 65))), host, 400, "bad_query"},
		{base + "/listeners", "", 401, "unauthorized"},
		{base + "/listeners", lis, 403, "forbidden"},
		{base + "/listeners?limit=0", host, 400, "bad_query"},
		{base + "/listeners?limit=x", host, 400, "bad_query"},
	} {
		if r := ts.do(t, "GET", q.path, q.token, "", nil); r.status != q.status || r.code != q.code {
			t.Errorf("GET %s = %d %s, want %d %s", q.path, r.status, r.code, q.status, q.code)
		}
	}
	// A user's searches are rate limited (a burst, then a few a second).
	limited := false
	for range 40 {
		if r := ts.do(t, "GET", base+"/candidates?q=zz", co, "", nil); r.status == 429 {
			if r.code != "rate_limited" || r.header.Get("Retry-After") == "" {
				t.Fatalf("429 %s without Retry-After", r.code)
			}
			limited = true
			break
		}
	}
	if !limited {
		t.Fatal("40 searches in a row were all answered")
	}

	// Listeners: amal joins signed in, one listener anonymously.
	var j joinResp
	if code := ts.call(t, "POST", base+"/join", amal, nil, &j); code != 200 {
		t.Fatalf("join signed in: %d", code)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	amalCtx, amalLeaves := context.WithCancel(ctx)
	listenOgg(t, amalCtx, ts.base+j.Listen.Ogg)
	anon := ts.join(t, room)
	listenOgg(t, ctx, ts.base+anon.Listen.Ogg)
	var l listenersAnswer
	until(t, "amal and one anonymous listener", func() bool {
		r := ts.must(t, 200, "GET", base+"/listeners", co, "")
		l = listenersAnswer{}
		json.Unmarshal(r.body, &l)
		return len(l.Listeners) == 1 && l.Anonymous == 1
	})
	if l.Listeners[0].ID != amalID || l.Listeners[0].Name != "أمل" || l.SignedIn != 1 || l.Listeners[0].Since.IsZero() {
		t.Fatalf("listeners: %+v", l)
	}
	amalLeaves()
	until(t, "amal gone from the list", func() bool {
		r := ts.must(t, 200, "GET", base+"/listeners", host, "")
		l = listenersAnswer{}
		json.Unmarshal(r.body, &l)
		return len(l.Listeners) == 0 && l.SignedIn == 0 && l.Anonymous == 1
	})

	// An HLS player signed in is listed while it beats.
	var hj hlsJoin
	if code := ts.call(t, "POST", base+"/join", amal, nil, &hj); code != 200 || hj.Listen.Heartbeat == "" {
		t.Fatalf("join signed in for HLS: %d %+v", code, hj)
	}
	if code := ts.call(t, "POST", hj.Listen.Heartbeat, "", nil, nil); code != 200 {
		t.Fatalf("heartbeat: %d", code)
	}
	r = ts.must(t, 200, "GET", base+"/listeners", host, "")
	l = listenersAnswer{}
	json.Unmarshal(r.body, &l)
	if len(l.Listeners) != 1 || l.Listeners[0].ID != amalID || l.Anonymous != 1 {
		t.Fatalf("with amal's HLS player: %s", r.body)
	}

	// Hand-over.
	for _, q := range []struct {
		token, body string
		status      int
		code        string
	}{
		{"", `{"user":"` + coID + `"}`, 401, "unauthorized"},
		{co, `{"user":"` + coID + `"}`, 403, "forbidden"},
		{host, `{"user":"` + amalID + `"}`, 409, "bad_target"}, // a listener
		{host, `{"user":"` + hostID + `"}`, 409, "bad_target"},
		{host, `{"user":"nobody"}`, 404, "user_not_found"},
		{host, `{}`, 400, "bad_json"},
		{host, `{"user":`, 400, "bad_json"},
	} {
		if r := ts.do(t, "POST", base+"/host", q.token, q.body, nil); r.status != q.status || r.code != q.code {
			t.Errorf("POST host %s = %d %s, want %d %s", q.body, r.status, r.code, q.status, q.code)
		}
	}
	r = ts.must(t, 200, "POST", base+"/host", host, `{"user":"`+coID+`"}`)
	var v roomView
	json.Unmarshal(r.body, &v)
	if v.Host != coID || v.role(coID) != "host" || v.role(hostID) != "cohost" {
		t.Fatalf("after the hand-over: %s", r.body)
	}
	ts.must(t, 403, "POST", base+"/host", host, `{"user":"`+coID+`"}`)
	if r := ts.do(t, "DELETE", base+"/cohosts/"+coID, hostID, "", nil); r.status != 401 {
		t.Fatalf("demote without a token: %d", r.status)
	}
	if r := ts.do(t, "DELETE", base+"/cohosts/"+coID, host, "", nil); r.status != 403 || r.code != "forbidden" {
		t.Fatalf("the old host demotes the new: %d %s", r.status, r.code)
	}
	r = ts.must(t, 200, "DELETE", base+"/cohosts/"+hostID, co, "")
	json.Unmarshal(r.body, &v)
	if v.role(hostID) != "speaker" {
		t.Fatalf("after the demotion: %s", r.body)
	}
	if r := ts.do(t, "DELETE", base+"/cohosts/"+hostID, co, "", nil); r.status != 409 || r.code != "bad_target" {
		t.Fatalf("demote a speaker: %d %s", r.status, r.code)
	}
	// The new host searches and lists; the old one, now a speaker, may not.
	ts.must(t, 200, "GET", base+"/listeners", co, "")
	ts.must(t, 403, "GET", base+"/listeners", host, "")
}

// until polls cond every 50 ms for up to 10 s.
func until(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
