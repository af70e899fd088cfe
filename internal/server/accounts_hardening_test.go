package server

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"majlis/internal/admission"
	"majlis/internal/audio"
	"majlis/internal/overload"
	"majlis/internal/ratelimit"
)

// apiReply is one answer as the account tests read it.
type apiReply struct {
	status int
	code   string
	retry  string
	body   map[string]json.RawMessage
	raw    []byte
	resp   *http.Response
}

// send does one request with a client that has a timeout (timedClient).
func send(t *testing.T, c *http.Client, method, url, contentType, body string, hdr map[string]string) apiReply {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	r := apiReply{status: resp.StatusCode, retry: resp.Header.Get("Retry-After"), raw: raw, resp: resp}
	json.Unmarshal(raw, &r.body)
	var e struct{ Code string }
	json.Unmarshal(r.body["error"], &e)
	r.code = e.Code
	return r
}

// TestAccountsLoginFlood: a flood of wrong-password logins from several
// loopback addresses, at the real argon2id cost, while a host publishes a
// tone. Hashing waits for its small pool and the addresses' limits refuse
// most attempts before any hash, so the listener hears the tone in every
// 100 ms window of the flood, and every refusal says when to come back.
func TestAccountsLoginFlood(t *testing.T) {
	ts := startServerWith(t, "", func(c *Config) { c.PasswordTime, c.PasswordMemoryKiB = 0, 0 }) // the default cost
	_, hostTok := ts.createUser(t, "amal")
	ts.must(t, 201, "POST", "/api/v1/users", ts.AdminToken(), `{"name":"zed","password":"correct horse"}`)
	room := ts.liveRoom(t, hostTok)
	host := publishTone(t, ts, room, hostTok, &tone{freq: lowHz, amp: toneAmp})
	defer host.stop()
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	l := listenOgg(t, ctx, ts.base+ts.join(t, room).Listen.Ogg)
	for deadline := time.Now().Add(10 * time.Second); len(l.snapshot()) < audio.SampleRate; {
		if time.Now().After(deadline) {
			t.Fatal("no audio before the flood")
		}
		time.Sleep(20 * time.Millisecond)
	}

	const floodFor, addrs, perAddr = 4 * time.Second, 4, 4
	var mu sync.Mutex
	answers := map[string]int{}
	var bad []string
	from := len(l.snapshot())
	floodStart := time.Now()
	var wg sync.WaitGroup
	for a := range addrs {
		c := timedClient(fmt.Sprintf("127.0.0.%d", a+2))
		for g := range perAddr {
			wg.Go(func() {
				for i := 0; time.Since(floodStart) < floodFor; i++ {
					body := fmt.Sprintf(`{"name":"%s","password":"wrong password %d"}`, []string{"zed", "ZED", fmt.Sprintf("nobody%d", g)}[i%3], i)
					req, _ := http.NewRequest("POST", ts.base+"/api/v1/login", strings.NewReader(body))
					req.Header.Set("Content-Type", "application/json")
					resp, err := c.Do(req)
					if err != nil {
						mu.Lock()
						bad = append(bad, err.Error())
						mu.Unlock()
						return
					}
					var e struct{ Error struct{ Code string } }
					json.NewDecoder(resp.Body).Decode(&e)
					resp.Body.Close()
					key := fmt.Sprintf("%d %s", resp.StatusCode, e.Error.Code)
					mu.Lock()
					answers[key]++
					switch key {
					case "401 bad_credentials", "429 pow_required":
					case "429 rate_limited", "503 busy":
						if resp.Header.Get("Retry-After") == "" {
							bad = append(bad, key+" without Retry-After")
						}
					default:
						bad = append(bad, key)
					}
					mu.Unlock()
				}
			})
		}
	}
	wg.Wait()
	flood := time.Since(floodStart)
	to := len(l.snapshot())
	t.Logf("flood of %v: answers %v", flood, answers)
	for _, b := range bad {
		t.Errorf("flood answer: %s", b)
	}
	if answers["429 rate_limited"] == 0 {
		t.Error("no attempt was refused for its address or network")
	}
	pcm := l.snapshot()[from:to]
	if got := time.Duration(len(pcm)) * time.Second / audio.SampleRate; got < floodFor*9/10 {
		t.Errorf("the listener received %v of audio during %v of flood", got, flood)
	}
	toneCarriesOn(t, "during the flood", windowLevels(pcm, win, lowHz))
	if l.gaps != 0 {
		t.Errorf("%d gaps in the listener's frame numbering", l.gaps)
	}
	// The owner still gets in, from an address of their own network once it refills, or another one.
	if r := send(t, timedClient("127.0.1.1"), "POST", ts.base+"/api/v1/login", "application/json", `{"name":"zed","password":"correct horse"}`, nil); r.status != 200 && r.code != "pow_required" {
		t.Errorf("login from another network after the flood: %d %s", r.status, r.code)
	}
}

// TestAccountsOwnerNotLockedOut: failed logins for an account from other
// addresses make strangers solve a puzzle (429 pow_required, the join
// path's shape) but never refuse the owner at an address they logged in from.
func TestAccountsOwnerNotLockedOut(t *testing.T) {
	ts := startServerWith(t, "", func(*Config) {})
	ts.must(t, 201, "POST", "/api/v1/users", ts.AdminToken(), `{"name":"zed","password":"correct horse"}`)
	login := func(src, name, password, pow string) apiReply {
		t.Helper()
		hdr := map[string]string{}
		if pow != "" {
			hdr["Majlis-Pow"] = pow
		}
		return send(t, timedClient(src), "POST", ts.base+"/api/v1/login", "application/json", `{"name":"`+name+`","password":"`+password+`"}`, hdr)
	}
	if r := login("127.0.0.1", "zed", "correct horse", ""); r.status != 200 {
		t.Fatalf("owner's first login: %d %s", r.status, r.code)
	}
	// Attackers on other networks (each /24 its own budget) spend the account's failures.
	var pow struct {
		Algorithm  string `json:"algorithm"`
		Challenge  string `json:"challenge"`
		Difficulty int    `json:"difficulty"`
	}
	var r apiReply
	for i := range 8 {
		r = login(fmt.Sprintf("127.0.%d.1", 10+i), []string{"zed", "ZED"}[i%2], "guess guess", "")
		if r.status != 401 && r.code != "pow_required" {
			t.Fatalf("attack %d: %d %s", i, r.status, r.code)
		}
	}
	if r.status != 429 || r.code != "pow_required" || json.Unmarshal(r.body["pow"], &pow) != nil ||
		pow.Algorithm != "sha256-leading-zero-bits" || pow.Challenge == "" || pow.Difficulty <= 0 {
		t.Fatalf("a stranger past the account's budget: %d %s %s", r.status, r.code, r.body["pow"])
	}
	// The owner at their address: straight in.
	if r := login("127.0.0.1", "zed", "correct horse", ""); r.status != 200 {
		t.Errorf("owner at a known address while attacked: %d %s", r.status, r.code)
	}
	// The owner elsewhere: the puzzle, then in.
	r = login("127.0.30.1", "zed", "correct horse", "")
	if r.code != "pow_required" || json.Unmarshal(r.body["pow"], &pow) != nil {
		t.Fatalf("owner at a new address: %d %s", r.status, r.code)
	}
	if r := login("127.0.30.1", "zed", "correct horse", admission.Solve(pow.Challenge)); r.status != 200 {
		t.Errorf("owner with the solved puzzle: %d %s", r.status, r.code)
	}
}

// TestAccountsLoginLimitSetting: the per-address login limit is the
// server's setting: with a budget of 2, the third wrong password from one
// address is refused 429 before it is hashed, and another address still
// gets its answer.
func TestAccountsLoginLimitSetting(t *testing.T) {
	ts := startServerWith(t, "", func(c *Config) { c.LoginsPerIP = ratelimit.Rate{PerSecond: 0.001, Burst: 2} })
	ts.must(t, 201, "POST", "/api/v1/users", ts.AdminToken(), `{"name":"zed","password":"correct horse"}`)
	login := func(src string) apiReply {
		t.Helper()
		return send(t, timedClient(src), "POST", ts.base+"/api/v1/login", "application/json", `{"name":"zed","password":"guess guess"}`, nil)
	}
	for i := range 2 {
		if r := login("127.0.0.1"); r.status != 401 {
			t.Fatalf("wrong password %d within the budget: %d %s", i, r.status, r.code)
		}
	}
	if r := login("127.0.0.1"); r.status != 429 || r.code != "rate_limited" {
		t.Fatalf("third wrong password from the address: %d %s, want 429 rate_limited", r.status, r.code)
	}
	if r := login("127.0.5.1"); r.status != 401 {
		t.Fatalf("another address: %d %s, want its 401", r.status, r.code)
	}
}

// TestAccountsLoginCSRF: login and sign-up take only application/json (a
// cross-site form or simple request cannot send it), and the Origin that
// stands in for the CSRF header must match the scheme as well as the host.
func TestAccountsLoginCSRF(t *testing.T) {
	ts := startServerWith(t, "", func(c *Config) { c.Signup = true })
	ts.must(t, 201, "POST", "/api/v1/users", ts.AdminToken(), `{"name":"zed","password":"correct horse"}`)
	c := timedClient("127.0.0.1")
	creds := `{"name":"zed","password":"correct horse"}`
	for _, path := range []string{"/api/v1/login", "/api/v1/signup"} {
		for _, ct := range []string{"", "text/plain", "text/plain; charset=utf-8", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"} {
			if r := send(t, c, "POST", ts.base+path, ct, creds, nil); r.status != http.StatusUnsupportedMediaType || r.code != "unsupported_media_type" {
				t.Errorf("%s as %q: %d %s, want 415 unsupported_media_type", path, ct, r.status, r.code)
			}
		}
	}
	r := send(t, c, "POST", ts.base+"/api/v1/login", "application/json; charset=utf-8", creds, nil)
	if r.status != 200 {
		t.Fatalf("login as application/json: %d %s", r.status, r.code)
	}
	var cookie *http.Cookie
	for _, ck := range r.resp.Cookies() {
		if ck.Name == "majlis_session" {
			cookie = ck
		}
	}
	if cookie == nil {
		t.Fatal("no session cookie")
	}
	host := strings.TrimPrefix(ts.base, "http://")
	for _, tc := range []struct {
		origin string
		want   int
	}{
		{"https://" + host, 403}, {"ws://" + host, 403}, {"http://evil.example", 403}, {"null", 403},
		{"http://" + host, 201}, {"HTTP://" + strings.ToUpper(host), 201},
	} {
		hdr := map[string]string{"Origin": tc.origin, "Cookie": cookie.Name + "=" + cookie.Value}
		r := send(t, c, "POST", ts.base+"/api/v1/me/tokens", "application/json", `{"name":"t"}`, hdr)
		if r.status != tc.want || tc.want == 403 && r.code != "csrf" {
			t.Errorf("cookie change with Origin %q: %d %s, want %d", tc.origin, r.status, r.code, tc.want)
		}
	}
}

// TestAccountsNames: names are one whatever their case, and self sign-up
// cannot take reserved names.
func TestAccountsNames(t *testing.T) {
	ts := startServerWith(t, "", func(c *Config) { c.Signup = true })
	c := timedClient("127.0.0.1")
	if r := send(t, c, "POST", ts.base+"/api/v1/signup", "application/json", `{"name":"alice","password":"correct horse"}`, nil); r.status != 201 {
		t.Fatalf("sign-up alice: %d %s", r.status, r.code)
	}
	for _, tc := range []struct{ name, code string }{
		{"ALICE", "name_taken"}, {"Alice", "name_taken"}, {"admin", "name_reserved"}, {"Root", "name_reserved"}, {"support", "name_reserved"},
	} {
		if r := send(t, c, "POST", ts.base+"/api/v1/signup", "application/json", `{"name":"`+tc.name+`","password":"correct horse"}`, nil); r.code != tc.code {
			t.Errorf("sign-up %s: %d %s, want %s", tc.name, r.status, r.code, tc.code)
		}
	}
	if r := ts.do(t, "POST", "/api/v1/users", ts.AdminToken(), `{"name":"ALICE"}`, nil); r.status != 409 || r.code != "name_taken" {
		t.Errorf("admin creating ALICE: %d %s", r.status, r.code)
	}
	if r := send(t, c, "POST", ts.base+"/api/v1/login", "application/json", `{"name":"Alice","password":"correct horse"}`, nil); r.status != 200 {
		t.Errorf("login as Alice: %d %s", r.status, r.code)
	}
}

// TestAccountsUnicodeNames: names in any language, end to end: an Arabic
// name signs up, logs in and hosts a room under its own name; the same
// name in Arabic presentation forms (NFKC folds them) is the same name;
// mixed scripts and bidi controls are refused.
func TestAccountsUnicodeNames(t *testing.T) {
	ts := startServerWith(t, "", func(c *Config) { c.Signup = true })
	c := timedClient("127.0.0.1")
	signup := func(name string) apiReply {
		t.Helper()
		b, _ := json.Marshal(map[string]string{"name": name, "password": "correct horse"})
		return send(t, c, "POST", ts.base+"/api/v1/signup", "application/json", string(b), nil)
	}
	if r := signup("أمل"); r.status != 201 {
		t.Fatalf("sign-up أمل: %d %s", r.status, r.code)
	}
	for _, tc := range []struct{ name, code string }{
		{"\ufe83\ufee3\ufede", "name_taken"}, // أمل in presentation forms
		{"pаypal", "bad_name"},               // a Cyrillic а among Latin letters
		{"أمل\u202e", "bad_name"},            // a bidi override
		{"amalأمل", "bad_name"},              // two scripts
	} {
		if r := signup(tc.name); r.code != tc.code {
			t.Errorf("sign-up %q: %d %s, want %s", tc.name, r.status, r.code, tc.code)
		}
	}
	if r := send(t, c, "POST", ts.base+"/api/v1/login", "application/json", `{"name":"أمل","password":"correct horse"}`, nil); r.status != 200 {
		t.Fatalf("login as أمل: %d %s", r.status, r.code)
	}
	id, tok := ts.createUser(t, "Дмитрий")
	room := ts.liveRoom(t, tok)
	if v := ts.state(t, room); len(v.Stage) == 0 || v.Stage[0].ID != id || v.Stage[0].Name != "Дмитрий" {
		t.Fatalf("the host on stage: %+v, want Дмитрий", v.Stage)
	}
}

// TestAccountsTokenRevokeEndsStage: deleting the API token a speaker
// publishes with ends their stage session, and the token publishes no more;
// deleting another of their tokens leaves their session alone.
func TestAccountsTokenRevokeEndsStage(t *testing.T) {
	ts := startServerWith(t, "", func(*Config) {})
	_, hostTok := ts.createUser(t, "amal")
	room := ts.liveRoom(t, hostTok)
	var obs struct{ ID, Token string }
	if code := ts.call(t, "POST", "/api/v1/me/tokens", hostTok, map[string]string{"name": "obs"}, &obs); code != 201 {
		t.Fatalf("create token: %d", code)
	}
	sp := publishTone(t, ts, room, obs.Token, &tone{freq: lowHz, amp: toneAmp})
	defer sp.stop()
	c := timedClient("127.0.0.1")
	stage := func() []string {
		var rv struct{ Stage []string }
		r := send(t, c, "GET", ts.base+"/api/v1/rooms/"+room, "", "", nil)
		json.Unmarshal(r.body["stage"], &rv.Stage)
		return rv.Stage
	}
	waitStage := func(want int) {
		t.Helper()
		for deadline := time.Now().Add(5 * time.Second); len(stage()) != want; {
			if time.Now().After(deadline) {
				t.Fatalf("stage = %v, want %d members", stage(), want)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	waitStage(1)
	bearer := func(tok string) map[string]string { return map[string]string{"Authorization": "Bearer " + tok} }
	if r := send(t, c, "DELETE", ts.base+"/api/v1/me/tokens/"+obs.ID, "", "", bearer(hostTok)); r.status != 204 {
		t.Fatalf("delete token: %d %s", r.status, r.code)
	}
	waitStage(0)
	if r := send(t, c, "DELETE", sp.c.Location, "", "", bearer(hostTok)); r.status != 404 || r.code != "session_not_found" {
		t.Errorf("DELETE of the ended WHIP session: %d %s, want 404 session_not_found", r.status, r.code)
	}
	if r := send(t, c, "POST", ts.base+"/api/v1/rooms/"+room+"/whip", "application/sdp", "v=0", bearer(obs.Token)); r.status != 401 || r.code != "unauthorized" {
		t.Errorf("publishing with the revoked token: %d %s, want 401 unauthorized", r.status, r.code)
	}
	// The host's remaining token still publishes.
	again := publishTone(t, ts, room, hostTok, &tone{freq: lowHz, amp: toneAmp})
	defer again.stop()
	waitStage(1)
	// Revoking a token the session was not opened with leaves it on stage.
	var spare struct{ ID, Token string }
	if code := ts.call(t, "POST", "/api/v1/me/tokens", hostTok, map[string]string{"name": "spare"}, &spare); code != 201 {
		t.Fatalf("create token: %d", code)
	}
	if r := send(t, c, "DELETE", ts.base+"/api/v1/me/tokens/"+spare.ID, "", "", bearer(hostTok)); r.status != 204 {
		t.Fatalf("delete the spare token: %d %s", r.status, r.code)
	}
	for range 20 { // a second: the session would be gone by then (it went in well under that above)
		if st := stage(); len(st) != 1 {
			t.Fatalf("stage after revoking another token: %v, want the host still on it", st)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if r := send(t, c, "DELETE", again.c.Location, "", "", bearer(hostTok)); r.status != 200 && r.status != 204 {
		t.Errorf("the session opened with the kept token: DELETE answers %d %s, want it still there", r.status, r.code)
	}
}

// TestAdminTokenStrength: a weak admin token, configured or in the data
// dir, stops the server at start with an error naming where it came from.
func TestAdminTokenStrength(t *testing.T) {
	base := func(dir string) Config {
		return Config{DataDir: dir, HTTPAddr: "127.0.0.1:0", AdminAddr: "127.0.0.1:0", WebRTCUDP: "127.0.0.1:0",
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	}
	for _, weak := range []string{"x", "test-admin-token", strings.Repeat("a", 42)} {
		cfg := base(t.TempDir())
		cfg.AdminToken = weak
		if s, err := New(cfg); err == nil || !strings.Contains(err.Error(), "MAJLIS_ADMIN_TOKEN") {
			if s != nil {
				s.closeAll()
			}
			t.Errorf("AdminToken %q: %v, want an error naming MAJLIS_ADMIN_TOKEN", weak, err)
		}
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "admin.token"), []byte("short\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if s, err := New(base(dir)); err == nil || !strings.Contains(err.Error(), "admin.token") {
		if s != nil {
			s.closeAll()
		}
		t.Errorf("a weak stored token: %v, want an error naming the file", err)
	}
}

// TestAccountsLogoutEndsStage: a speaker publishing from a web session
// (the studio, cookie-authenticated) leaves the stage when that session
// logs out; logging out another session of the same user does not.
func TestAccountsLogoutEndsStage(t *testing.T) {
	ts := startServerWith(t, "", func(*Config) {})
	var u struct{ ID, Token string }
	if code := ts.call(t, "POST", "/api/v1/users", ts.AdminToken(), map[string]string{"name": "zed", "password": "correct horse"}, &u); code != 201 {
		t.Fatalf("create user: %d", code)
	}
	room := ts.liveRoom(t, u.Token)
	c := timedClient("127.0.0.1")
	login := func() *http.Cookie {
		t.Helper()
		r := send(t, c, "POST", ts.base+"/api/v1/login", "application/json", `{"name":"zed","password":"correct horse"}`, nil)
		if r.status != 200 {
			t.Fatalf("login: %d %s", r.status, r.code)
		}
		for _, ck := range r.resp.Cookies() {
			if ck.Name == "majlis_session" {
				return ck
			}
		}
		t.Fatal("login set no session cookie")
		return nil
	}
	studio, other := login(), login()
	web := func(ck *http.Cookie) map[string]string {
		return map[string]string{"Cookie": ck.Name + "=" + ck.Value, "X-Majlis-CSRF": "1"}
	}
	hdr := http.Header{}
	for k, v := range web(studio) {
		hdr.Set(k, v)
	}
	g := &tone{freq: lowHz, amp: toneAmp}
	sp := publishPCMWith(t, ts, room, "", hdr, func(_ int, pcm []int16) { g.frame(pcm) }, nil)
	defer sp.stop()
	publishing := func() bool {
		for _, m := range ts.state(t, room).Stage {
			if m.ID == u.ID && m.Publishing {
				return true
			}
		}
		return false
	}
	for deadline := time.Now().Add(5 * time.Second); !publishing(); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the studio's session never published: %+v", ts.state(t, room).Stage)
		}
	}
	if r := send(t, c, "POST", ts.base+"/api/v1/logout", "", "", web(other)); r.status != 204 {
		t.Fatalf("logout of the other session: %d %s", r.status, r.code)
	}
	for range 20 { // a second: the logout below ends the session well within it
		if !publishing() {
			t.Fatalf("logging out another session ended the studio's: %+v", ts.state(t, room).Stage)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if r := send(t, c, "POST", ts.base+"/api/v1/logout", "", "", web(studio)); r.status != 204 {
		t.Fatalf("logout of the studio's session: %d %s", r.status, r.code)
	}
	for deadline := time.Now().Add(5 * time.Second); publishing(); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("still publishing after the studio's session logged out: %+v", ts.state(t, room).Stage)
		}
	}
	if r := send(t, c, "DELETE", sp.c.Location, "", "", map[string]string{"Authorization": "Bearer " + u.Token}); r.status != 404 || r.code != "session_not_found" {
		t.Errorf("DELETE of the ended WHIP session: %d %s, want 404 session_not_found", r.status, r.code)
	}
}

// TestAccountsLoginPoWUnderLoad: while the overload level is elevated, a
// login from an address the account's owner has not logged in from, with
// the right password even, answers 429 pow_required before any hash; the
// solved puzzle gets in; the owner at home is not slowed; at normal load
// a new address logs in straight away.
func TestAccountsLoginPoWUnderLoad(t *testing.T) {
	ts := startServerWith(t, "", func(*Config) {})
	ts.must(t, 201, "POST", "/api/v1/users", ts.AdminToken(), `{"name":"zed","password":"correct horse"}`)
	login := func(src, pow string) apiReply {
		t.Helper()
		hdr := map[string]string{}
		if pow != "" {
			hdr["Majlis-Pow"] = pow
		}
		return send(t, timedClient(src), "POST", ts.base+"/api/v1/login", "application/json", `{"name":"zed","password":"correct horse"}`, hdr)
	}
	if r := login("127.0.0.1", ""); r.status != 200 {
		t.Fatalf("owner's first login: %d %s", r.status, r.code)
	}
	ts.Overload().Force(overload.Elevated)
	r := login("127.0.40.1", "")
	var pow struct{ Challenge string }
	if r.status != 429 || r.code != "pow_required" || json.Unmarshal(r.body["pow"], &pow) != nil || pow.Challenge == "" {
		t.Fatalf("a new address under load: %d %s %s, want 429 pow_required with a puzzle", r.status, r.code, r.body["pow"])
	}
	if r := login("127.0.40.1", admission.Solve(pow.Challenge)); r.status != 200 {
		t.Errorf("with the solved puzzle: %d %s", r.status, r.code)
	}
	if r := login("127.0.0.1", ""); r.status != 200 {
		t.Errorf("the owner at home under load: %d %s", r.status, r.code)
	}
	ts.Overload().Force(overload.Normal)
	if r := login("127.0.41.1", ""); r.status != 200 {
		t.Errorf("a new address at normal load: %d %s", r.status, r.code)
	}
}
