package server

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"net/http/cookiejar"
	"strings"
	"testing"
	"time"
)

// TestAccounts: sign-up (off, then on), password login with an HttpOnly
// SameSite=Lax session cookie, the CSRF rule on cookie mutations, personal
// API tokens (create, list, revoke), suspension.
func TestAccounts(t *testing.T) {
	off := startServerWith(t, "", func(*Config) {})
	if r := off.do(t, "POST", "/api/v1/signup", "", `{"name":"zed","password":"correct horse"}`, nil); r.status != 403 || r.code != "signup_disabled" {
		t.Fatalf("signup when disabled: %d %s", r.status, r.code)
	}
	off.stop()

	ts := startServerWith(t, "", func(c *Config) { c.Signup = true })
	for _, c := range []struct {
		body, code string
		status     int
	}{
		{`{"name":"a b","password":"correct horse"}`, "bad_name", 400},
		{`{"name":"zed","password":"short"}`, "bad_password", 400},
		{`{"name":"zed"}`, "bad_password", 400},
		{`{"name":"zed","password":"correct horse","role":"admin"}`, "bad_json", 400},
	} {
		if r := ts.do(t, "POST", "/api/v1/signup", "", c.body, nil); r.status != c.status || r.code != c.code {
			t.Errorf("signup %s: %d %s, want %d %s", c.body, r.status, r.code, c.status, c.code)
		}
	}
	jar, _ := cookiejar.New(nil)
	web := &http.Client{Jar: jar, Timeout: 30 * time.Second}
	post := func(path, body string, hdr map[string]string) *http.Response {
		req, _ := http.NewRequest("POST", ts.base+path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		resp, err := web.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	resp := post("/api/v1/signup", `{"name":"zed","password":"correct horse"}`, nil)
	if resp.StatusCode != 201 {
		t.Fatalf("signup: %d", resp.StatusCode)
	}
	sc := resp.Header.Get("Set-Cookie")
	if !strings.Contains(sc, "majlis_session=") || !strings.Contains(sc, "HttpOnly") || !strings.Contains(sc, "SameSite=Lax") {
		t.Fatalf("session cookie %q", sc)
	}
	if r := ts.do(t, "POST", "/api/v1/signup", "", `{"name":"zed","password":"another one"}`, nil); r.code != "name_taken" {
		t.Errorf("signup twice: %s", r.code)
	}

	// Cookie mutations need the CSRF header or a same-origin Origin.
	if resp := post("/api/v1/rooms", `{"title":"web room"}`, nil); resp.StatusCode != 403 {
		t.Errorf("cookie create without CSRF proof: %d, want 403", resp.StatusCode)
	}
	if resp := post("/api/v1/rooms", `{"title":"web room"}`, map[string]string{"Origin": "https://evil.example"}); resp.StatusCode != 403 {
		t.Errorf("cookie create cross-origin: %d, want 403", resp.StatusCode)
	}
	if resp := post("/api/v1/rooms", `{"title":"web room"}`, map[string]string{"X-Majlis-CSRF": "1"}); resp.StatusCode != 201 {
		t.Errorf("cookie create with header: %d", resp.StatusCode)
	}
	if resp := post("/api/v1/rooms", `{"title":"web room"}`, map[string]string{"Origin": ts.base}); resp.StatusCode != 201 {
		t.Errorf("cookie create same-origin: %d", resp.StatusCode)
	}

	// Login: wrong password, unknown user, right password.
	for _, body := range []string{`{"name":"zed","password":"wrong horse"}`, `{"name":"nobody","password":"correct horse"}`} {
		if r := ts.do(t, "POST", "/api/v1/login", "", body, nil); r.status != 401 || r.code != "bad_credentials" {
			t.Errorf("login %s: %d %s", body, r.status, r.code)
		}
	}
	jar2, _ := cookiejar.New(nil)
	web = &http.Client{Jar: jar2, Timeout: 30 * time.Second}
	if resp := post("/api/v1/login", `{"name":"zed","password":"correct horse"}`, nil); resp.StatusCode != 200 {
		t.Fatalf("login: %d", resp.StatusCode)
	}
	meResp, err := web.Get(ts.base + "/api/v1/me")
	if err != nil {
		t.Fatal(err)
	}
	var me struct{ ID, Name, Role string }
	json.NewDecoder(meResp.Body).Decode(&me)
	meResp.Body.Close()
	if me.Name != "zed" || me.Role != "user" {
		t.Fatalf("me = %+v", me)
	}

	// Personal tokens: create with the cookie, use, list, revoke.
	req, _ := http.NewRequest("POST", ts.base+"/api/v1/me/tokens", strings.NewReader(`{"name":"obs"}`))
	req.Header.Set("X-Majlis-CSRF", "1")
	resp, err = web.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var tok struct{ ID, Name, Token string }
	json.NewDecoder(resp.Body).Decode(&tok)
	resp.Body.Close()
	if resp.StatusCode != 201 || tok.Token == "" {
		t.Fatalf("create token: %d %+v", resp.StatusCode, tok)
	}
	var list struct{ Tokens []struct{ ID, Name string } }
	if code := ts.call(t, "GET", "/api/v1/me/tokens", tok.Token, nil, &list); code != 200 || len(list.Tokens) != 1 || list.Tokens[0].Name != "obs" {
		t.Fatalf("list tokens: %d %+v", code, list)
	}
	_, otherTok := ts.createUser(t, "other")
	if r := ts.do(t, "DELETE", "/api/v1/me/tokens/"+tok.ID, otherTok, "", nil); r.code != "token_not_found" {
		t.Errorf("revoking someone else's token: %d %s", r.status, r.code)
	}
	ts.must(t, 204, "DELETE", "/api/v1/me/tokens/"+tok.ID, tok.Token, "")
	if r := ts.do(t, "GET", "/api/v1/me", tok.Token, "", nil); r.status != 401 {
		t.Errorf("revoked token still works: %d", r.status)
	}

	// Suspension: only admins; the user can no longer act or log in.
	if r := ts.do(t, "POST", "/api/v1/users/"+me.ID+"/suspend", otherTok, `{"suspended":true}`, nil); r.code != "forbidden" {
		t.Errorf("suspend by a user: %s", r.code)
	}
	if r := ts.do(t, "POST", "/api/v1/users/nobody/suspend", ts.AdminToken(), `{"suspended":true}`, nil); r.code != "user_not_found" {
		t.Errorf("suspend unknown: %s", r.code)
	}
	ts.must(t, 200, "POST", "/api/v1/users/"+me.ID+"/suspend", ts.AdminToken(), `{"suspended":true}`)
	if r := ts.do(t, "POST", "/api/v1/login", "", `{"name":"zed","password":"correct horse"}`, nil); r.code != "suspended" {
		t.Errorf("login while suspended: %s", r.code)
	}
	if resp := post("/api/v1/rooms", `{"title":"x"}`, map[string]string{"X-Majlis-CSRF": "1"}); resp.StatusCode != 401 {
		t.Errorf("old session after suspension: %d, want 401", resp.StatusCode)
	}
	ts.must(t, 200, "POST", "/api/v1/users/"+me.ID+"/suspend", ts.AdminToken(), `{"suspended":false}`)
	// Guessing: five failures per account, then a stranger's address must
	// solve a puzzle; the owner's known address is not slowed (docs/api.md).
	for i := 0; i < 5; i++ {
		if r := ts.do(t, "POST", "/api/v1/login", "", `{"name":"other","password":"guess guess"}`, nil); r.code != "bad_credentials" {
			t.Fatalf("guess %d: %d %s", i, r.status, r.code)
		}
	}
	if r := ts.do(t, "POST", "/api/v1/login", "", `{"name":"other","password":"guess guess"}`, nil); r.status != 429 || r.code != "pow_required" {
		t.Errorf("sixth failure: %d %s", r.status, r.code)
	}
	if r := ts.do(t, "POST", "/api/v1/login", "", `{"name":"zed","password":"correct horse"}`, nil); r.status != 200 {
		t.Errorf("login after reinstatement: %d %s", r.status, r.code)
	}
}

// TestRemovalsEndStageSessions: moving a speaker to the audience, blocking
// them and suspending their account each close their stage session at once.
func TestRemovalsEndStageSessions(t *testing.T) {
	ts := startServerWith(t, "", func(*Config) {})
	_, hostTok := ts.createUser(t, "host")
	room := ts.liveRoom(t, hostTok)
	base := "/api/v1/rooms/" + room
	ids, toks := make([]string, 3), make([]string, 3)
	for i := range ids {
		ids[i], toks[i] = ts.createUser(t, "speaker"+string(rune('a'+i)))
		ts.must(t, 200, "POST", base+"/speakers/"+ids[i], hostTok, "")
		sp := publishTone(t, ts, room, toks[i], &tone{freq: highHz, amp: toneAmp})
		defer sp.stop()
	}
	waitStage := func(want int) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for {
			var rv struct{ Stage []string }
			ts.call(t, "GET", base, "", nil, &rv)
			if len(rv.Stage) == want {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("stage = %v, want %d members", rv.Stage, want)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	waitStage(3)
	ts.must(t, 200, "DELETE", base+"/speakers/"+ids[0], hostTok, "")
	waitStage(2)
	ts.must(t, 200, "POST", base+"/blocks/"+ids[1], hostTok, "")
	waitStage(1)
	ts.must(t, 200, "POST", "/api/v1/users/"+ids[2]+"/suspend", ts.AdminToken(), `{"suspended":true}`)
	waitStage(0)
	for i, code := range []string{"forbidden", "blocked", "suspended"} {
		if r := ts.do(t, "POST", base+"/whip", toks[i], "v=0", map[string]string{"Content-Type": "application/sdp"}); r.code != code {
			t.Errorf("speaker %d publishing again: %d %s, want %s", i, r.status, r.code, code)
		}
	}
}

// TestRoomRestartAndResume: roles, mutes, requests and the pin survive a
// restart; the SSE fallback resumes with ?since= and gets a snapshot for a
// cursor it cannot resume.
func TestRoomRestartAndResume(t *testing.T) {
	dir := t.TempDir()
	ts := startServerWith(t, dir, func(*Config) {})
	_, hostTok := ts.createUser(t, "host")
	coID, coTok := ts.createUser(t, "co")
	spID, _ := ts.createUser(t, "sp")
	reqID, reqTok := ts.createUser(t, "req")
	room := ts.liveRoom(t, hostTok)
	base := "/api/v1/rooms/" + room
	ts.must(t, 200, "POST", base+"/cohosts/"+coID, hostTok, "")
	ts.must(t, 200, "POST", base+"/speakers/"+spID, coTok, "")
	ts.must(t, 200, "POST", base+"/members/"+spID+"/mute", coTok, `{"muted":true}`)
	ts.must(t, 200, "POST", base+"/requests", reqTok, "")
	ts.must(t, 200, "PUT", base+"/pin", hostTok, `{"url":"https://example.org/agenda"}`)
	ts.must(t, 200, "POST", base+"/members/me/mute", hostTok, `{"muted":true}`)
	before := ts.state(t, room)
	ts.stop()

	ts = startServerWith(t, dir, func(*Config) {})
	after := ts.state(t, room)
	if after.State != "live" || after.role(coID) != "cohost" || after.role(spID) != "speaker" || after.Pin != "https://example.org/agenda" ||
		len(after.Requests) != 1 || after.Requests[0].ID != reqID {
		t.Fatalf("after restart: %+v", after)
	}
	for _, m := range after.Stage {
		if m.ID == spID && !m.ForcedMute {
			t.Errorf("forced mute lost in the restart")
		}
		if m.Role == "host" && (!m.Muted || m.ForcedMute) {
			t.Errorf("host's self mute lost in the restart: %+v", m)
		}
	}
	if len(before.Stage) != len(after.Stage) {
		t.Errorf("stage before %d, after %d", len(before.Stage), len(after.Stage))
	}

	// SSE: a snapshot first, then live events with ids.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	readSSE := func(query string, n int) []roomEvent {
		t.Helper()
		req, _ := http.NewRequestWithContext(ctx, "GET", ts.base+base+"/events"+query, nil)
		resp, err := streamHTTP.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
			t.Fatalf("events content type %q", ct)
		}
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		var out []roomEvent
		var id string
		for len(out) < n && sc.Scan() {
			line := sc.Text()
			switch {
			case strings.HasPrefix(line, "id: "):
				id = line[4:]
			case strings.HasPrefix(line, "data: "):
				var ev roomEvent
				if err := json.Unmarshal([]byte(line[6:]), &ev); err != nil {
					t.Fatal(err)
				}
				if id == "" || id != jsonNumber(ev.Seq) {
					t.Errorf("SSE id %q for seq %d", id, ev.Seq)
				}
				out = append(out, ev)
			}
		}
		return out
	}
	first := readSSE("", 1)
	if len(first) != 1 || first[0].Type != "snapshot" {
		t.Fatalf("first SSE event: %+v", first)
	}
	snapSeq := first[0].Seq
	ts.must(t, 200, "DELETE", base+"/pin", coTok, "")
	ts.must(t, 200, "POST", base+"/requests/"+reqID+"/deny", hostTok, "")
	resumed := readSSE("?since="+jsonNumber(snapSeq), 2)
	if len(resumed) != 2 || resumed[0].Type != "pin_changed" || resumed[1].Type != "request_denied" || resumed[0].Seq != snapSeq+1 {
		t.Fatalf("resumed: %+v", resumed)
	}
	stale := readSSE("?since=5", 1)
	if len(stale) != 1 || stale[0].Type != "snapshot" {
		t.Fatalf("stale cursor: %+v", stale)
	}
	if r := ts.do(t, "GET", base+"/events?since=x", "", "", nil); r.code != "bad_since" {
		t.Errorf("bad since: %d %s", r.status, r.code)
	}
	if r := ts.do(t, "GET", "/api/v1/rooms/nope/events", "", "", nil); r.code != "room_not_found" {
		t.Errorf("events of unknown room: %d %s", r.status, r.code)
	}
}

func jsonNumber(v uint64) string {
	b, _ := json.Marshal(v)
	return string(b)
}
