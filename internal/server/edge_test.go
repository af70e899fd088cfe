package server

import (
	"context"
	"math"
	"net/http"
	"strings"
	"testing"
	"time"

	"majlis/internal/admission"
	"majlis/internal/audio"
	"majlis/internal/program"
)

// TestEdgeServesProgram: listeners of an edge, placed there by their joins
// at the origin, hear the host's tone (and the speaker levels) that the
// edge receives over the cluster, with no gaps, and their streams end
// cleanly when the room ends at the origin; the edge refuses a bad ticket.
func TestEdgeServesProgram(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(t, dir)
	cfg.MaxOpenRooms, cfg.RoomCreateRate = 1<<20, admission.Rate{PerSecond: 1e6, Burst: 1e6}
	withCluster(&cfg)
	ts := runServer(t, cfg)
	e, edgeBase := startEdgeWith(t, ts, dir, func(*EdgeConfig) {})
	hostID, hostTok := ts.createUser(t, "amal")
	room := ts.liveRoom(t, hostTok)

	resp, err := testHTTP.Get(edgeBase + "/api/v1/rooms/" + room + "/listen.ogg?t=forged")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("forged ticket on the edge: %d, want 401", resp.StatusCode)
	}

	host := publishTone(t, ts, room, hostTok, &tone{freq: lowHz, amp: toneAmp})
	defer host.stop()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	ogg := listenOgg(t, ctx, edgeBase+ts.joinOnEdge(t, room, e).Listen.Ogg)
	ws := listenWS(t, ctx, strings.Replace(edgeBase, "http", "ws", 1)+ts.joinOnEdge(t, room, e).Listen.WS)
	time.Sleep(3 * time.Second)
	if code := ts.call(t, "POST", "/api/v1/rooms/"+room+"/end", hostTok, nil, nil); code != http.StatusOK {
		t.Fatalf("end room: %d", code)
	}
	for name, l := range map[string]*listener{"ogg": ogg, "ws": ws} {
		select {
		case <-l.done:
		case <-time.After(5 * time.Second):
			t.Fatalf("%s edge listener still connected 5 s after the room ended", name)
		}
		if l.endErr != nil {
			t.Errorf("%s edge stream did not end cleanly: %v", name, l.endErr)
		}
		pcm := l.snapshot()
		if len(pcm) < 2*48000 {
			t.Fatalf("%s: heard %d samples, want at least 2 s", name, len(pcm))
		}
		// The last second before the end carries the host's tone.
		tail := windowLevels(pcm[len(pcm)-48000:], win, lowHz, highHz)
		for i, row := range tail {
			if !within(row[0], toneAmp, 3) || row[1] > toneAmp/10 {
				t.Fatalf("%s window %d: %.0f Hz at %.3f, %.0f Hz at %.3f; want the host's tone at %.2f", name, i, lowHz, row[0], highHz, row[1], toneAmp)
			}
		}
		if l.gaps != 0 {
			t.Errorf("%s: %d gaps", name, l.gaps)
		}
	}
	// The origin's chunk levels reach the edge's WebSocket listeners: the
	// host's tone at toneAmp (RMS toneAmp/√2), under the host's key.
	want := program.LevelFromRMS(toneAmp / math.Sqrt2)
	if got := ws.levels[audio.SpeakerKey(hostID)]; got < want-3 || got > want+3 || len(ws.levels) != 1 {
		t.Errorf("edge ws levels %v: want the host's key %d at about %d", ws.levels, audio.SpeakerKey(hostID), want)
	}
}
