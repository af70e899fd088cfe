package server

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"
)

const (
	lowHz, highHz = 440.0, 1000.0
	toneAmp       = 0.3
	win           = 4800 // 100 ms windows
)

// TestLiveAudioPath is the end-to-end check: two speakers publish
// tones over WHIP, an Ogg and a WebSocket listener decode the program and
// find both tones at their levels, with no gaps for over 5 s; when one
// speaker leaves its tone leaves the program while the stream goes on; the
// speakers hear each other; ending the room ends every listener cleanly.
func TestLiveAudioPath(t *testing.T) {
	// 500 ms chunks also make the mixer wake once per 5 frames
	// (audio.MaxBatchFrames) instead of per chunk of 2: the speakers'
	// real RTP must still play without a gap.
	for _, tc := range []struct {
		name  string
		chunk int
	}{{"default chunks", 0}, {"500ms chunks", 25}} {
		t.Run(tc.name, func(t *testing.T) { testLiveAudioPath(t, tc.chunk) })
	}
}

func testLiveAudioPath(t *testing.T, chunkFrames int) {
	var ts *testServer
	if chunkFrames == 0 {
		ts = startServer(t, "")
	} else {
		ts = startServerWith(t, "", func(c *Config) { c.ChunkFrames, c.ChunkMaxFrames = chunkFrames, chunkFrames })
	}
	_, hostTok := ts.createUser(t, "amal")
	room := ts.liveRoom(t, hostTok)

	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	j1, j2 := ts.join(t, room), ts.join(t, room)
	ogg := listenOgg(t, ctx, ts.base+j1.Listen.Ogg)
	ws := listenWS(t, ctx, strings.Replace(ts.base, "http", "ws", 1)+j2.Listen.WS)
	listenStart := time.Now()

	time.Sleep(300 * time.Millisecond)
	host := publishTone(t, ts, room, hostTok, &tone{freq: lowHz, amp: toneAmp})
	guest := publishTone(t, ts, room, ts.AdminToken(), &tone{freq: highHz, amp: toneAmp})

	var rv struct {
		Stage     []string `json:"stage"`
		Listeners int      `json:"listeners"`
		State     string   `json:"state"`
	}
	time.Sleep(6500 * time.Millisecond)
	ts.call(t, "GET", "/api/v1/rooms/"+room, "", nil, &rv)
	if len(rv.Stage) != 2 || rv.Listeners != 2 || rv.State != "live" {
		t.Errorf("room while both speak = %+v, want 2 on stage, 2 listeners, live", rv)
	}
	hostHeard, guestHeard := host.heardPCM(), guest.heardPCM()
	guest.stop()
	time.Sleep(2500 * time.Millisecond)
	ts.call(t, "GET", "/api/v1/rooms/"+room, "", nil, &rv)
	if len(rv.Stage) != 1 {
		t.Errorf("stage after the guest left = %v, want only the host", rv.Stage)
	}

	if code := ts.call(t, "POST", "/api/v1/rooms/"+room+"/end", hostTok, nil, nil); code != http.StatusOK {
		t.Fatalf("end room: %d", code)
	}
	listened := time.Since(listenStart)
	for name, l := range map[string]*listener{"ogg": ogg, "ws": ws} {
		select {
		case <-l.done:
		case <-time.After(5 * time.Second):
			t.Fatalf("%s listener still connected 5 s after the room ended", name)
		}
		if l.endErr != nil {
			t.Errorf("%s stream did not end cleanly: %v", name, l.endErr)
		}
		checkProgram(t, name, l, listened)
	}
	host.stop()

	// Speakers hear each other (look at the last 2 s before the guest left).
	checkHeard(t, "host", hostHeard, highHz, lowHz)
	checkHeard(t, "guest", guestHeard, lowHz, highHz)

	if code := ts.call(t, "POST", "/api/v1/rooms/"+room+"/join", "", nil, nil); code != http.StatusGone {
		t.Errorf("join after end = %d, want 410", code)
	}
}

func checkProgram(t *testing.T, name string, l *listener, listened time.Duration) {
	t.Helper()
	pcm := l.snapshot()
	if l.gaps != 0 {
		t.Errorf("%s: %d gaps in frame numbering", name, l.gaps)
	}
	// The listener got audio at the stream's rate (pre-roll may add a little).
	got := time.Duration(len(pcm)) * time.Second / 48000
	if got < listened*9/10 || got > listened+time.Second {
		t.Errorf("%s: received %v of audio in %v of listening", name, got, listened)
	}
	lv := windowLevels(pcm, win, lowHz, highHz)
	// Find the run of windows carrying the high tone (the guest).
	first, last := -1, -1
	for i, w := range lv {
		if w[1] > toneAmp/3 {
			if first < 0 {
				first = i
			}
			last = i
		}
	}
	if first < 0 {
		t.Fatalf("%s: the guest's %v Hz tone never reached the program", name, highHz)
	}
	if d := last - first + 1; d < 50 {
		t.Errorf("%s: guest tone lasted %d windows of 100 ms, want ≥ 50 (5 s)", name, d)
	}
	// Both tones, at their levels, in every window of the run (edges excepted): no gaps.
	for i := first + 2; i <= last-2; i++ {
		w := lv[i]
		if !within(w[0], toneAmp, 3) || !within(w[1], toneAmp, 3) {
			t.Errorf("%s: window %d (%.1f s): %v Hz at %.3f, %v Hz at %.3f, want both ≈ %.2f", name, i, float64(i)/10, lowHz, w[0], highHz, w[1], toneAmp)
		}
	}
	// After the guest left: the host's tone alone, the stream going on.
	after := 0
	for i := last + 3; i < len(lv)-2; i++ {
		w := lv[i]
		if w[1] > 0.02 {
			t.Errorf("%s: window %d: guest tone %.3f still present after the guest left", name, i, w[1])
		}
		if !within(w[0], toneAmp, 3) {
			t.Errorf("%s: window %d: host tone %.3f, want ≈ %.2f", name, i, w[0], toneAmp)
		}
		after++
	}
	if after < 15 {
		t.Errorf("%s: only %d windows after the guest left, want ≥ 15", name, after)
	}
	t.Logf("%s: %v of audio, guest tone windows %d..%d, %d windows after", name, got, first, last, after)
}

func checkHeard(t *testing.T, who string, pcm []int16, want, notWant float64) {
	t.Helper()
	if len(pcm) < 2*48000 {
		t.Fatalf("%s heard only %d samples from the stage", who, len(pcm))
	}
	tail := pcm[len(pcm)-2*48000:]
	for i, w := range windowLevels(tail, win, want, notWant) {
		if !within(w[0], toneAmp, 3) || w[1] > 0.02 {
			t.Errorf("%s hears window %d: %v Hz at %.3f (want ≈ %.2f), own %v Hz at %.3f (want none)", who, i, want, w[0], toneAmp, notWant, w[1])
		}
	}
}
