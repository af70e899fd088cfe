package server

import (
	"net/http"
	"slices"
	"strings"
	"testing"
)

// people are the accounts of the permission tests.
type people struct {
	hostID, coID, co2ID, spID, sp2ID, lisID, reqID, blkID, susID, modID string
	host, co, co2, sp, sp2, lis, req, blk, sus, mod, admin              string
}

func makePeople(t *testing.T, ts *testServer) people {
	var p people
	p.hostID, p.host = ts.createUser(t, "host")
	p.coID, p.co = ts.createUser(t, "cohost")
	p.co2ID, p.co2 = ts.createUser(t, "cohost2")
	p.spID, p.sp = ts.createUser(t, "speaker")
	p.sp2ID, p.sp2 = ts.createUser(t, "speaker2")
	p.lisID, p.lis = ts.createUser(t, "listener")
	p.reqID, p.req = ts.createUser(t, "requester")
	p.blkID, p.blk = ts.createUser(t, "blocked")
	p.susID, p.sus = ts.createUser(t, "suspended")
	var m struct{ ID, Token string }
	if code := ts.call(t, "POST", "/api/v1/users", ts.AdminToken(), map[string]string{"name": "mod", "role": "moderator"}, &m); code != 201 {
		t.Fatalf("create moderator: %d", code)
	}
	p.modID, p.mod = m.ID, m.Token
	p.admin = ts.AdminToken()
	ts.must(t, 200, "POST", "/api/v1/users/"+p.susID+"/suspend", p.admin, `{"suspended":true}`)
	return p
}

// fixtureRoom is a live room: host, one co-host, two speakers, one pending
// request, one blocked user.
func fixtureRoom(t *testing.T, ts *testServer, p people) string {
	t.Helper()
	room := ts.liveRoom(t, p.host)
	base := "/api/v1/rooms/" + room
	ts.must(t, 200, "POST", base+"/cohosts/"+p.coID, p.host, "")
	ts.must(t, 200, "POST", base+"/speakers/"+p.spID, p.host, "")
	ts.must(t, 200, "POST", base+"/speakers/"+p.sp2ID, p.co, "")
	ts.must(t, 200, "POST", base+"/requests", p.req, "")
	ts.must(t, 200, "POST", base+"/blocks/"+p.blkID, p.host, "")
	return room
}

// TestRoomPermissions checks every room permission rule: who may do what to
// whom, with the status and error code of each refusal.
func TestRoomPermissions(t *testing.T) {
	ts := startServerWith(t, "", func(*Config) {})
	p := makePeople(t, ts)

	type step struct{ method, path, token, body string }
	cases := []struct {
		name   string
		prep   []step // run first, each must succeed
		method string
		path   string // relative to the room; {sp} etc. are replaced
		token  string
		body   string
		status int
		code   string
	}{
		// Requests to speak.
		{name: "listener requests", method: "POST", path: "/requests", token: p.lis, status: 200},
		{name: "anonymous cannot request", method: "POST", path: "/requests", status: 401, code: "unauthorized"},
		{name: "speaker cannot request", method: "POST", path: "/requests", token: p.sp, status: 409, code: "already_on_stage"},
		{name: "blocked cannot request", method: "POST", path: "/requests", token: p.blk, status: 403, code: "blocked"},
		{name: "suspended cannot request", method: "POST", path: "/requests", token: p.sus, status: 403, code: "suspended"},
		{name: "requester cancels", method: "DELETE", path: "/requests", token: p.req, status: 200},
		{name: "cancel without request", method: "DELETE", path: "/requests", token: p.lis, status: 404, code: "request_not_found"},
		// Approve and deny.
		{name: "host approves", method: "POST", path: "/requests/{req}/approve", token: p.host, status: 200},
		{name: "cohost approves", method: "POST", path: "/requests/{req}/approve", token: p.co, status: 200},
		{name: "moderator approves", method: "POST", path: "/requests/{req}/approve", token: p.mod, status: 200},
		{name: "admin approves", method: "POST", path: "/requests/{req}/approve", token: p.admin, status: 200},
		{name: "speaker cannot approve", method: "POST", path: "/requests/{req}/approve", token: p.sp, status: 403, code: "forbidden"},
		{name: "listener cannot approve", method: "POST", path: "/requests/{req}/approve", token: p.lis, status: 403, code: "forbidden"},
		{name: "requester cannot approve self", method: "POST", path: "/requests/{req}/approve", token: p.req, status: 403, code: "forbidden"},
		{name: "approve without request", method: "POST", path: "/requests/{lis}/approve", token: p.host, status: 404, code: "request_not_found"},
		{name: "cohost denies", method: "POST", path: "/requests/{req}/deny", token: p.co, status: 200},
		{name: "speaker cannot deny", method: "POST", path: "/requests/{req}/deny", token: p.sp, status: 403, code: "forbidden"},
		// Invite to speak.
		{name: "host invites", method: "POST", path: "/speakers/{lis}", token: p.host, status: 200},
		{name: "cohost invites", method: "POST", path: "/speakers/{lis}", token: p.co, status: 200},
		{name: "speaker cannot invite", method: "POST", path: "/speakers/{lis}", token: p.sp, status: 403, code: "forbidden"},
		{name: "listener cannot invite self", method: "POST", path: "/speakers/{lis}", token: p.lis, status: 403, code: "forbidden"},
		{name: "invite unknown user", method: "POST", path: "/speakers/nobody", token: p.host, status: 404, code: "user_not_found"},
		{name: "invite a speaker", method: "POST", path: "/speakers/{sp}", token: p.host, status: 409, code: "already_on_stage"},
		{name: "invite a blocked user", method: "POST", path: "/speakers/{blk}", token: p.host, status: 403, code: "blocked"},
		// Back to the audience.
		{name: "host moves speaker", method: "DELETE", path: "/speakers/{sp}", token: p.host, status: 200},
		{name: "cohost moves speaker", method: "DELETE", path: "/speakers/{sp}", token: p.co, status: 200},
		{name: "speaker leaves stage", method: "DELETE", path: "/speakers/me", token: p.sp, status: 200},
		{name: "cohost leaves stage", method: "DELETE", path: "/speakers/me", token: p.co, status: 200},
		{name: "host cannot leave own stage", method: "DELETE", path: "/speakers/me", token: p.host, status: 409, code: "bad_target"},
		{name: "speaker cannot move speaker", method: "DELETE", path: "/speakers/{sp}", token: p.sp2, status: 403, code: "forbidden"},
		{name: "listener cannot move speaker", method: "DELETE", path: "/speakers/{sp}", token: p.lis, status: 403, code: "forbidden"},
		{name: "cohost cannot move host", method: "DELETE", path: "/speakers/{host}", token: p.co, status: 403, code: "forbidden"},
		{name: "cohost cannot move cohost", prep: []step{{"POST", "/cohosts/{co2}", p.host, ""}},
			method: "DELETE", path: "/speakers/{co2}", token: p.co, status: 403, code: "forbidden"},
		{name: "host moves cohost", method: "DELETE", path: "/speakers/{co}", token: p.host, status: 200},
		{name: "move a listener", method: "DELETE", path: "/speakers/{lis}", token: p.host, status: 409, code: "bad_target"},
		// Co-hosts.
		{name: "host makes cohost", method: "POST", path: "/cohosts/{sp}", token: p.host, status: 200},
		{name: "moderator makes cohost", method: "POST", path: "/cohosts/{sp}", token: p.mod, status: 200},
		{name: "cohost cannot make cohost", method: "POST", path: "/cohosts/{sp}", token: p.co, status: 403, code: "forbidden"},
		{name: "speaker cannot make cohost", method: "POST", path: "/cohosts/{sp2}", token: p.sp, status: 403, code: "forbidden"},
		{name: "cohost seats full", prep: []step{{"POST", "/cohosts/{co2}", p.host, ""}},
			method: "POST", path: "/cohosts/{sp}", token: p.host, status: 409, code: "cohosts_full"},
		{name: "make the host cohost", method: "POST", path: "/cohosts/{host}", token: p.host, status: 409, code: "bad_target"},
		// Mutes.
		{name: "host force-mutes speaker", method: "POST", path: "/members/{sp}/mute", token: p.host, body: `{"muted":true}`, status: 200},
		{name: "cohost force-mutes speaker", method: "POST", path: "/members/{sp}/mute", token: p.co, body: `{"muted":true}`, status: 200},
		{name: "speaker mutes self", method: "POST", path: "/members/me/mute", token: p.sp, body: `{"muted":true}`, status: 200},
		{name: "speaker cannot mute speaker", method: "POST", path: "/members/{sp}/mute", token: p.sp2, body: `{"muted":true}`, status: 403, code: "forbidden"},
		{name: "cohost cannot mute host", method: "POST", path: "/members/{host}/mute", token: p.co, body: `{"muted":true}`, status: 403, code: "forbidden"},
		{name: "listener has nothing to mute", method: "POST", path: "/members/me/mute", token: p.lis, body: `{"muted":true}`, status: 409, code: "bad_target"},
		{name: "force-muted cannot unmute self", prep: []step{{"POST", "/members/{sp}/mute", p.host, `{"muted":true}`}},
			method: "POST", path: "/members/me/mute", token: p.sp, body: `{"muted":false}`, status: 403, code: "forced_mute"},
		{name: "host releases forced mute", prep: []step{{"POST", "/members/{sp}/mute", p.host, `{"muted":true}`}},
			method: "POST", path: "/members/{sp}/mute", token: p.host, body: `{"muted":false}`, status: 200},
		{name: "mute without body", method: "POST", path: "/members/{sp}/mute", token: p.host, body: `{}`, status: 400, code: "bad_json"},
		// Remove and block.
		{name: "host blocks listener", method: "POST", path: "/blocks/{lis}", token: p.host, status: 200},
		{name: "cohost blocks speaker", method: "POST", path: "/blocks/{sp}", token: p.co, status: 200},
		{name: "speaker cannot block", method: "POST", path: "/blocks/{lis}", token: p.sp, status: 403, code: "forbidden"},
		{name: "cohost cannot block host", method: "POST", path: "/blocks/{host}", token: p.co, status: 403, code: "forbidden"},
		{name: "host cannot block self", method: "POST", path: "/blocks/{host}", token: p.host, status: 403, code: "forbidden"},
		{name: "admin blocks host", method: "POST", path: "/blocks/{host}", token: p.admin, status: 200},
		{name: "host unblocks", method: "DELETE", path: "/blocks/{blk}", token: p.host, status: 200},
		{name: "listener cannot unblock", method: "DELETE", path: "/blocks/{blk}", token: p.lis, status: 403, code: "forbidden"},
		// Pin.
		{name: "host pins", method: "PUT", path: "/pin", token: p.host, body: `{"url":"https://example.org/x"}`, status: 200},
		{name: "cohost pins", method: "PUT", path: "/pin", token: p.co, body: `{"url":"https://example.org/x"}`, status: 200},
		{name: "speaker cannot pin", method: "PUT", path: "/pin", token: p.sp, body: `{"url":"https://example.org/x"}`, status: 403, code: "forbidden"},
		{name: "pin bad url", method: "PUT", path: "/pin", token: p.host, body: `{"url":"javascript:alert(1)"}`, status: 400, code: "bad_url"},
		{name: "cohost unpins", method: "DELETE", path: "/pin", token: p.co, status: 200},
		// Reactions.
		{name: "listener reacts", method: "POST", path: "/reactions", token: p.lis, body: `{"emoji":"👏"}`, status: 204},
		{name: "speaker reacts", method: "POST", path: "/reactions", token: p.sp, body: `{"emoji":"🔥"}`, status: 204},
		{name: "anonymous cannot react", method: "POST", path: "/reactions", body: `{"emoji":"👏"}`, status: 401, code: "unauthorized"},
		{name: "reaction outside the set", method: "POST", path: "/reactions", token: p.lis, body: `{"emoji":"💩"}`, status: 400, code: "bad_emoji"},
		{name: "blocked cannot react", method: "POST", path: "/reactions", token: p.blk, body: `{"emoji":"👏"}`, status: 403, code: "blocked"},
		{name: "suspended cannot react", method: "POST", path: "/reactions", token: p.sus, body: `{"emoji":"👏"}`, status: 403, code: "suspended"},
		// Publishing (a garbage offer gets past the permission check to bad_sdp).
		{name: "speaker may publish", method: "WHIP", path: "/whip", token: p.sp, status: 400, code: "bad_sdp"},
		{name: "cohost may publish", method: "WHIP", path: "/whip", token: p.co, status: 400, code: "bad_sdp"},
		{name: "listener cannot publish", method: "WHIP", path: "/whip", token: p.lis, status: 403, code: "forbidden"},
		{name: "requester cannot publish", method: "WHIP", path: "/whip", token: p.req, status: 403, code: "forbidden"},
		{name: "blocked cannot publish", method: "WHIP", path: "/whip", token: p.blk, status: 403, code: "blocked"},
		{name: "moved speaker cannot publish", prep: []step{{"DELETE", "/speakers/{sp}", p.host, ""}},
			method: "WHIP", path: "/whip", token: p.sp, status: 403, code: "forbidden"},
		// Joining with credentials.
		{name: "anonymous joins", method: "POST", path: "/join", status: 200},
		{name: "blocked user cannot join signed in", method: "POST", path: "/join", token: p.blk, status: 403, code: "blocked"},
		{name: "suspended user cannot join signed in", method: "POST", path: "/join", token: p.sus, status: 403, code: "suspended"},
		// Lifecycle.
		{name: "cohost ends", method: "POST", path: "/end", token: p.co, status: 200},
		{name: "speaker cannot end", method: "POST", path: "/end", token: p.sp, status: 403, code: "forbidden"},
		{name: "moderator ends", method: "POST", path: "/end", token: p.mod, status: 200},
		{name: "act in an ended room", prep: []step{{"POST", "/end", p.host, ""}},
			method: "POST", path: "/speakers/{lis}", token: p.host, status: 410, code: "room_ended"},
	}
	ids := map[string]string{"{host}": p.hostID, "{co}": p.coID, "{co2}": p.co2ID, "{sp}": p.spID, "{sp2}": p.sp2ID,
		"{lis}": p.lisID, "{req}": p.reqID, "{blk}": p.blkID}
	expand := func(s string) string {
		for k, v := range ids {
			s = strings.ReplaceAll(s, k, v)
		}
		return s
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			room := fixtureRoom(t, ts, p)
			base := "/api/v1/rooms/" + room
			defer ts.call(t, "POST", base+"/end", p.admin, nil, nil)
			for _, s := range c.prep {
				ts.must(t, 200, s.method, base+expand(s.path), s.token, s.body)
			}
			var r apiResult
			if c.method == "WHIP" {
				r = ts.do(t, "POST", base+c.path, c.token, "", map[string]string{"Content-Type": "application/sdp"})
			} else {
				r = ts.do(t, c.method, base+expand(c.path), c.token, c.body, nil)
			}
			if r.status != c.status || r.code != c.code {
				t.Fatalf("got %d %q (%s), want %d %q", r.status, r.code, r.body, c.status, c.code)
			}
		})
	}
}

// TestRoomLimitsAndLifecycle: seat limits, who may start a scheduled room,
// scheduling bounds.
func TestRoomLimitsAndLifecycle(t *testing.T) {
	ts := startServerWith(t, "", func(c *Config) { c.MaxSpeakers = 1 })
	p := makePeople(t, ts)
	room := ts.liveRoom(t, p.host)
	base := "/api/v1/rooms/" + room
	ts.must(t, 200, "POST", base+"/speakers/"+p.spID, p.host, "")
	if r := ts.do(t, "POST", base+"/speakers/"+p.sp2ID, p.host, "", nil); r.status != 409 || r.code != "stage_full" {
		t.Fatalf("second speaker with one seat: %d %s", r.status, r.code)
	}
	ts.must(t, 200, "POST", base+"/requests", p.lis, "")
	if r := ts.do(t, "POST", base+"/requests/"+p.lisID+"/approve", p.host, "", nil); r.status != 409 || r.code != "stage_full" {
		t.Fatalf("approve with no seat: %d %s", r.status, r.code)
	}

	// Scheduling.
	for _, c := range []struct {
		body   string
		status int
		code   string
	}{
		{`{"title":"later","description":"talk","scheduled_at":"` + futureRFC3339(48) + `"}`, 201, ""},
		{`{"title":"too late","scheduled_at":"` + futureRFC3339(15*24) + `"}`, 400, "bad_schedule"},
		{`{"title":"past","scheduled_at":"` + futureRFC3339(-2) + `"}`, 400, "bad_schedule"},
		{`{"title":"bad","scheduled_at":"tomorrow"}`, 400, "bad_json"},
		{`{"title":"x","description":"` + strings.Repeat("d", 2001) + `"}`, 400, "bad_description"},
	} {
		if r := ts.do(t, "POST", "/api/v1/rooms", p.host, c.body, nil); r.status != c.status || r.code != c.code {
			t.Errorf("create %s: %d %s, want %d %s", c.body[:min(len(c.body), 60)], r.status, r.code, c.status, c.code)
		}
	}
	var sched struct {
		ID          string `json:"id"`
		State       string `json:"state"`
		Description string `json:"description"`
		ScheduledAt string `json:"scheduled_at"`
	}
	if code := ts.call(t, "POST", "/api/v1/rooms", p.host, map[string]string{"title": "sched", "description": "about", "scheduled_at": futureRFC3339(1)}, &sched); code != 201 ||
		sched.State != "scheduled" || sched.Description != "about" || sched.ScheduledAt == "" {
		t.Fatalf("scheduled room: %d %+v", code, sched)
	}
	sb := "/api/v1/rooms/" + sched.ID
	var list struct{ Rooms []struct{ ID string } }
	if code := ts.call(t, "GET", "/api/v1/rooms?state=scheduled", "", nil, &list); code != 200 || !slices.ContainsFunc(list.Rooms, func(r struct{ ID string }) bool { return r.ID == sched.ID }) {
		t.Errorf("scheduled list: %d %+v", code, list)
	}
	if r := ts.do(t, "GET", "/api/v1/rooms?state=ended", "", "", nil); r.code != "bad_state" {
		t.Errorf("list ended: %d %s", r.status, r.code)
	}
	ts.must(t, 200, "POST", sb+"/cohosts/"+p.coID, p.host, "") // roles can be set up before the start
	for _, c := range []struct {
		tok    string
		status int
	}{{p.sp, 403}, {p.lis, 403}, {p.mod, 403}, {"", 401}, {p.co, 200}} {
		if r := ts.do(t, "POST", sb+"/start", c.tok, "", nil); r.status != c.status {
			t.Errorf("start by %q: %d, want %d", c.tok, r.status, c.status)
		}
	}
	if r := ts.do(t, "POST", sb+"/requests", p.lis, "", nil); r.status != http.StatusOK {
		t.Errorf("request after start: %d", r.status)
	}
}
