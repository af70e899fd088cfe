package server

import (
	"context"
	"io"
	"net/http"
	"path"
	"strings"
	"testing"
	"time"
)

// negotiateFails is an offer that passes the offer check (Opus, ICE
// credentials, a fingerprint) but that the WebRTC stack refuses while
// negotiating: its media section has no mid.
const negotiateFails = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n" +
	"a=fingerprint:sha-256 AA:BB\r\na=ice-ufrag:abcd\r\na=ice-pwd:abcdefghijklmnopqrstuvwx\r\n" +
	"m=audio 9 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 0.0.0.0\r\na=sendonly\r\na=setup:actpass\r\n" +
	"a=rtcp-mux\r\na=rtpmap:111 opus/48000/2\r\n"

// TestRefusedRepublishKeepsSession: a member's new WHIP offer that fails
// leaves their working session untouched: the program still carries their
// tone in every window, and the stage still shows them publishing.
func TestRefusedRepublishKeepsSession(t *testing.T) {
	ts := startServerWith(t, "", func(*Config) {})
	hostID, hostTok := ts.createUser(t, "amal")
	room := ts.liveRoom(t, hostTok)
	host := publishTone(t, ts, room, hostTok, &tone{freq: lowHz, amp: toneAmp})
	defer host.stop()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	l := listenOgg(t, ctx, ts.base+ts.join(t, room).Listen.Ogg)
	waitSamples := func(n int) {
		deadline := time.Now().Add(10 * time.Second)
		for len(l.snapshot()) < n && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		if got := len(l.snapshot()); got < n {
			t.Fatalf("listener heard %d samples, want %d", got, n)
		}
	}
	waitSamples(48000)

	r := ts.do(t, "POST", "/api/v1/rooms/"+room+"/whip", hostTok, negotiateFails, map[string]string{"Content-Type": "application/sdp"})
	if r.status != http.StatusBadRequest || r.code != "bad_sdp" {
		t.Fatalf("an offer the stack refuses: %d %q, want 400 bad_sdp", r.status, r.code)
	}
	from := len(l.snapshot())
	waitSamples(from + 2*48000)      // two more seconds of program
	pcm := l.snapshot()[from+24000:] // past any chunk in flight at the refusal
	toneCarriesOn(t, "after the refused re-publish", windowLevels(pcm, win, lowHz))
	var v roomView
	if code := ts.call(t, "GET", "/api/v1/rooms/"+room+"/state", "", nil, &v); code != http.StatusOK {
		t.Fatalf("state: %d", code)
	}
	for _, m := range v.Stage {
		if m.ID == hostID && !m.Publishing {
			t.Fatalf("host shown not publishing after a refused re-publish: %+v", v.Stage)
		}
	}
}

// neverConnects is a valid audio offer with no candidates and no client
// behind it: the server answers it (201), and its ICE never completes.
const neverConnects = "v=0\r\no=- 2 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0\r\n" +
	"a=fingerprint:sha-256 AB:AB:AB:AB:AB:AB:AB:AB:AB:AB:AB:AB:AB:AB:AB:AB:AB:AB:AB:AB:AB:AB:AB:AB:AB:AB:AB:AB:AB:AB:AB:AB\r\n" +
	"a=ice-ufrag:wxyz\r\na=ice-pwd:zyxwvutsrqponmlkjihgfedc\r\n" +
	"m=audio 9 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 0.0.0.0\r\na=mid:0\r\na=sendonly\r\na=setup:actpass\r\n" +
	"a=rtcp-mux\r\na=rtpmap:111 opus/48000/2\r\n"

// TestPendingRepublishKeepsSession: a member's new WHIP offer that is
// accepted but never connects does not take over: the program carries
// their tone in every window while it is pending and after it timed out,
// the stage shows them publishing throughout, and the pending session is
// gone after the stage's connect timeout.
func TestPendingRepublishKeepsSession(t *testing.T) {
	const connectTimeout = 3 * time.Second
	ts := startServerWith(t, "", func(c *Config) { c.StageConnectTimeout = connectTimeout })
	hostID, hostTok := ts.createUser(t, "amal")
	room := ts.liveRoom(t, hostTok)
	host := publishTone(t, ts, room, hostTok, &tone{freq: lowHz, amp: toneAmp})
	defer host.stop()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	l := listenOgg(t, ctx, ts.base+ts.join(t, room).Listen.Ogg)
	waitSamples := func(n int) {
		t.Helper()
		deadline := time.Now().Add(15 * time.Second)
		for len(l.snapshot()) < n && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		if got := len(l.snapshot()); got < n {
			t.Fatalf("listener heard %d samples, want %d", got, n)
		}
	}
	hostPublishing := func(when string) {
		t.Helper()
		for _, m := range ts.state(t, room).Stage {
			if m.ID == hostID {
				if !m.Publishing {
					t.Fatalf("%s: host shown not publishing", when)
				}
				return
			}
		}
		t.Fatalf("%s: host not on stage", when)
	}
	waitSamples(48000)

	req, _ := http.NewRequest("POST", ts.base+"/api/v1/rooms/"+room+"/whip", strings.NewReader(neverConnects))
	req.Header.Set("Authorization", "Bearer "+hostTok)
	req.Header.Set("Content-Type", "application/sdp")
	resp, err := testHTTP.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("re-publish: %d, want 201", resp.StatusCode)
	}
	pending := path.Base(resp.Header.Get("Location"))
	from := len(l.snapshot())
	waitSamples(from + 48000)
	hostPublishing("while the re-publish is pending")
	if s := ts.stage.Session(pending); s == nil || !s.Pending() {
		t.Fatal("the re-publish is not pending on the stage")
	}

	// Past the pending session's connect timeout, and two seconds on.
	waitSamples(from + int(connectTimeout.Seconds()+2)*48000)
	// The working session must carry on (the fault this guards against
	// silenced every window from the offer on).
	pcm := l.snapshot()[from+24000:] // past any chunk in flight at the offer
	toneCarriesOn(t, "after the re-publish", windowLevels(pcm, win, lowHz))
	if ts.stage.Session(pending) != nil {
		t.Fatal("the re-publish that never connected is still there after its connect timeout")
	}
	hostPublishing("after the re-publish timed out")
}

// toneCarriesOn: the tone (rows of windowLevels, first column) at its level
// in at least 95 % of the 100 ms windows and never missing for more than
// two in a row. A loaded box can make a speaker's packets late on
// loopback, and the mixer then conceals them for every listener alike; a
// session that went silent misses every window.
func toneCarriesOn(t *testing.T, when string, rows [][]float64) {
	t.Helper()
	quiet, run := 0, 0
	for i, row := range rows {
		if within(row[0], toneAmp, 3) {
			run = 0
			continue
		}
		quiet, run = quiet+1, run+1
		t.Logf("window %d (%.1f s) %s: tone at %.3f, want %.2f", i, float64(i)/10, when, row[0], toneAmp)
		if run > 2 {
			t.Fatalf("the tone missing from %d windows in a row at %.1f s %s (the session went silent)", run, float64(i)/10, when)
		}
	}
	if len(rows) == 0 || quiet*20 > len(rows) {
		t.Fatalf("the tone missing from %d of %d windows %s, want at most 5 %%", quiet, len(rows), when)
	}
}
