package server

import (
	"context"
	"net/http"
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
	for i, row := range windowLevels(pcm, win, lowHz) {
		if !within(row[0], toneAmp, 3) {
			t.Fatalf("window %d after the refused re-publish: tone at %.3f, want %.2f (the working session went silent)", i, row[0], toneAmp)
		}
	}
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
