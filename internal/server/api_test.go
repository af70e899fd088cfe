package server

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
)

const audioNoOpusSDP = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 0\r\nc=IN IP4 0.0.0.0\r\na=ice-ufrag:abcd\r\na=ice-pwd:abcdefghijklmnopqrstuvwx\r\na=fingerprint:sha-256 00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF\r\na=setup:actpass\r\na=rtpmap:0 PCMU/8000\r\na=sendonly\r\na=mid:0\r\n"

// TestBadInput checks that every kind of bad request gets its status and
// stable JSON error code, never a crash or a hang.
func TestBadInput(t *testing.T) {
	ts := startServer(t, "")
	_, hostTok := ts.createUser(t, "host1")
	_, otherTok := ts.createUser(t, "other1")
	live := ts.liveRoom(t, hostTok)
	var sched struct{ ID string }
	ts.call(t, "POST", "/api/v1/rooms", hostTok, map[string]string{"title": "later"}, &sched)
	ended := ts.liveRoom(t, hostTok)
	ts.call(t, "POST", "/api/v1/rooms/"+ended+"/end", hostTok, nil, nil)
	ticket := ts.join(t, live).Ticket
	otherTicket := ts.join(t, ts.liveRoom(t, hostTok)).Ticket

	cases := []struct {
		name, method, path, token, ctype, body string
		status                                 int
		code                                   string
	}{
		{"unknown room", "GET", "/api/v1/rooms/nope", "", "", "", 404, "room_not_found"},
		{"unknown endpoint", "GET", "/api/v1/nothing", "", "", "", 404, "not_found"},
		{"create without token", "POST", "/api/v1/rooms", "", "application/json", `{"title":"x"}`, 401, "unauthorized"},
		{"create with bad token", "POST", "/api/v1/rooms", "nope", "application/json", `{"title":"x"}`, 401, "unauthorized"},
		{"create bad json", "POST", "/api/v1/rooms", hostTok, "application/json", `{"title":`, 400, "bad_json"},
		{"create unknown field", "POST", "/api/v1/rooms", hostTok, "application/json", `{"title":"x","evil":1}`, 400, "bad_json"},
		{"create empty title", "POST", "/api/v1/rooms", hostTok, "application/json", `{"title":"  "}`, 400, "bad_title"},
		{"create long title", "POST", "/api/v1/rooms", hostTok, "application/json", `{"title":"` + strings.Repeat("x", 201) + `"}`, 400, "bad_title"},
		{"title with an RTL override", "POST", "/api/v1/rooms", hostTok, "application/json", `{"title":"evil\u202etxt"}`, 400, "bad_title"},
		{"title of zero-width spaces", "POST", "/api/v1/rooms", hostTok, "application/json", `{"title":"\u200b\u200b"}`, 400, "bad_title"},
		{"title with NUL", "POST", "/api/v1/rooms", hostTok, "application/json", `{"title":"a\u0000b"}`, 400, "bad_title"},
		{"title with a terminal escape", "POST", "/api/v1/rooms", hostTok, "application/json", `{"title":"\u001b[31mred"}`, 400, "bad_title"},
		{"description with an isolate", "POST", "/api/v1/rooms", hostTok, "application/json", `{"title":"ok","description":"a\u2067b"}`, 400, "bad_description"},
		{"pin with credentials", "PUT", "/api/v1/rooms/" + live + "/pin", hostTok, "application/json", `{"url":"https://user:pw@example.com/"}`, 400, "bad_url"},
		{"pin with a control character", "PUT", "/api/v1/rooms/" + live + "/pin", hostTok, "application/json", `{"url":"https://example.com/\u001b"}`, 400, "bad_url"},
		{"create oversize body", "POST", "/api/v1/rooms", hostTok, "application/json", `{"title":"` + strings.Repeat("x", 20000) + `"}`, 413, "body_too_large"},
		{"user by non-admin", "POST", "/api/v1/users", hostTok, "application/json", `{"name":"z"}`, 403, "forbidden"},
		{"user bad name", "POST", "/api/v1/users", testAdminToken, "application/json", `{"name":"a b"}`, 400, "bad_name"},
		{"user taken", "POST", "/api/v1/users", testAdminToken, "application/json", `{"name":"host1"}`, 409, "name_taken"},
		{"start by other", "POST", "/api/v1/rooms/" + live + "/start", otherTok, "", "", 403, "forbidden"},
		{"start ended", "POST", "/api/v1/rooms/" + ended + "/start", hostTok, "", "", 410, "room_ended"},
		{"end unknown", "POST", "/api/v1/rooms/nope/end", hostTok, "", "", 404, "room_not_found"},
		{"join scheduled", "POST", "/api/v1/rooms/" + sched.ID + "/join", "", "", "", 409, "room_not_live"},
		{"join ended", "POST", "/api/v1/rooms/" + ended + "/join", "", "", "", 410, "room_ended"},
		{"listen without ticket", "GET", "/api/v1/rooms/" + live + "/listen.ogg", "", "", "", 401, "bad_ticket"},
		{"listen bad ticket", "GET", "/api/v1/rooms/" + live + "/listen.ogg?t=abc", "", "", "", 401, "bad_ticket"},
		{"listen other room's ticket", "GET", "/api/v1/rooms/" + live + "/listen.ogg?t=" + otherTicket, "", "", "", 401, "bad_ticket"},
		{"listen ws without upgrade", "GET", "/api/v1/rooms/" + live + "/listen.ws?t=" + ticket, "", "", "", 400, "websocket_required"},
		{"whip without token", "POST", "/api/v1/rooms/" + live + "/whip", "", "application/sdp", "v=0", 401, "unauthorized"},
		{"whip by listener", "POST", "/api/v1/rooms/" + live + "/whip", otherTok, "application/sdp", "v=0", 403, "forbidden"},
		{"whip wrong type", "POST", "/api/v1/rooms/" + live + "/whip", hostTok, "text/plain", "v=0", 415, "unsupported_media_type"},
		{"whip garbage sdp", "POST", "/api/v1/rooms/" + live + "/whip", hostTok, "application/sdp", "hello", 400, "bad_sdp"},
		{"whip empty sdp", "POST", "/api/v1/rooms/" + live + "/whip", hostTok, "application/sdp", "", 400, "bad_sdp"},
		{"whip no opus", "POST", "/api/v1/rooms/" + live + "/whip", hostTok, "application/sdp", audioNoOpusSDP, 400, "no_opus"},
		{"whip oversize", "POST", "/api/v1/rooms/" + live + "/whip", hostTok, "application/sdp", strings.Repeat("a=x\r\n", 20000), 413, "body_too_large"},
		{"whip ended room", "POST", "/api/v1/rooms/" + ended + "/whip", hostTok, "application/sdp", audioNoOpusSDP, 410, "room_ended"},
		{"whip unknown session", "DELETE", "/api/v1/rooms/" + live + "/whip/nope", hostTok, "", "", 404, "session_not_found"},
		{"patch unknown session", "PATCH", "/api/v1/rooms/" + live + "/whip/nope", hostTok, "application/trickle-ice-sdpfrag", "", 404, "session_not_found"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req, _ := http.NewRequest(c.method, ts.base+c.path, bytes.NewBufferString(c.body))
			if c.token != "" {
				req.Header.Set("Authorization", "Bearer "+c.token)
			}
			if c.ctype != "" {
				req.Header.Set("Content-Type", c.ctype)
			}
			resp, err := testHTTP.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			raw, _ := io.ReadAll(resp.Body)
			var e struct {
				Error struct{ Code, Message string } `json:"error"`
			}
			if err := json.Unmarshal(raw, &e); err != nil {
				t.Fatalf("status %d, body %q is not the JSON error format", resp.StatusCode, raw)
			}
			if resp.StatusCode != c.status || e.Error.Code != c.code || e.Error.Message == "" {
				t.Fatalf("got %d %s (%q), want %d %s", resp.StatusCode, e.Error.Code, e.Error.Message, c.status, c.code)
			}
		})
	}
}

// TestRoomsSurviveRestart: a live room is still live, with its program
// running, after the server restarts on the same data dir.
func TestRoomsSurviveRestart(t *testing.T) {
	dir := t.TempDir()
	ts := startServer(t, dir)
	_, hostTok := ts.createUser(t, "host1")
	room := ts.liveRoom(t, hostTok)
	ts.stop()

	ts = startServer(t, dir)
	var rv struct{ State, Title string }
	if code := ts.call(t, "GET", "/api/v1/rooms/"+room, "", nil, &rv); code != 200 || rv.State != "live" || rv.Title != "Test room" {
		t.Fatalf("after restart: %d %+v", code, rv)
	}
	// The host's token still works and the room can be joined.
	ts.join(t, room)
	if code := ts.call(t, "POST", "/api/v1/rooms/"+room+"/end", hostTok, nil, nil); code != 200 {
		t.Fatalf("end after restart: %d", code)
	}
}

// TestAdminPort: health, readiness, metrics with the series, pprof.
func TestAdminPort(t *testing.T) {
	ts := startServer(t, "")
	_, hostTok := ts.createUser(t, "host1")
	ts.liveRoom(t, hostTok)
	ts.call(t, "GET", "/api/v1/rooms/nope", "", nil, nil) // one error, counted
	get := func(path string) (int, string) {
		resp, err := testHTTP.Get("http://" + ts.AdminAddr() + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for _, p := range []string{"/healthz", "/readyz", "/debug/pprof/"} {
		if code, _ := get(p); code != 200 {
			t.Errorf("%s = %d", p, code)
		}
	}
	_, m := get("/metrics")
	for _, want := range []string{"majlis_rooms_live 1", "majlis_stage_members 0", `majlis_listeners{proto="ogg"} 0`, `majlis_slow_listener_drops_total{proto="ws"} 0`, "majlis_mixer_tick_seconds_bucket",
		"majlis_mixer_concealed_frames_total", `majlis_http_errors_total{code="room_not_found"} 1`, "go_goroutines"} {
		if !strings.Contains(m, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}
