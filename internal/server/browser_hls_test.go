package server

import (
	"strconv"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestBrowserPlaysLLHLS: the listener page, told to use LL-HLS
// (?transport=hls, as a browser without WebCodecs would), plays the room
// through the vendored hls.js in Chromium: the decoded audio is the host's
// tone (a real level), frames advance, no errors, and the heartbeat counts
// the listener in the room. Tickets live 10 s here: the player renews its
// ticket for the heartbeat without interrupting the playback, and the room
// counts it once across the renewal.
func TestBrowserPlaysLLHLS(t *testing.T) {
	if inLoopbackNetns(t) {
		return
	}
	ts := startServerWith(t, "", func(c *Config) { c.TicketTTL = 10 * time.Second })
	_, hostTok := ts.createUser(t, "amal")
	room := ts.liveRoom(t, hostTok)
	sp := publishTone(t, ts, room, hostTok, &tone{freq: lowHz, amp: toneAmp})
	defer sp.stop()
	browser := newBrowser(t)
	log := &browserLog{}
	listener := newTab(t, browser, "listener", log)
	run(t, listener, 45*time.Second, "LL-HLS listener", log,
		chromedp.Navigate(ts.base+"/r/"+room+"?transport=hls&lang=en"),
		chromedp.Click(chromedp.CSS("#play")),
		waitFor(`(() => { const s = window.majlisPlayer?.stats() ?? {}; return s.transport === "hls" && s.state === "playing" && s.frames >= 50 && s.peak > 0.02; })()`, 40*time.Second),
	)
	before := eval[playerStats](t, listener, `window.majlisPlayer.stats()`)
	run(t, listener, 15*time.Second, "LL-HLS frames advance", log,
		waitFor(`window.majlisPlayer.stats().frames >= `+strconv.Itoa(before.Frames+50)+` && window.majlisPlayer.stats().level > 0.02`, 10*time.Second))
	after := eval[playerStats](t, listener, `window.majlisPlayer.stats()`)
	t.Logf("LL-HLS listener: %+v (last error %q, hls.js latency %.2f s behind live)", after, eval[string](t, listener, `window.majlisPlayer.stats().lastError ?? ""`),
		eval[float64](t, listener, `window.majlisPlayer.stats().latency ?? 0`))
	if after.Errors != 0 || after.Transport != "hls" {
		t.Errorf("player %+v: want hls without errors", after)
	}
	// Past the ticket's life: a beat is refused, the player joins again in
	// the background, and the audio goes on without a reconnect.
	run(t, listener, 30*time.Second, "LL-HLS ticket renewal", log,
		waitFor(`(window.majlisPlayer.stats().renewals ?? 0) >= 1`, 25*time.Second))
	run(t, listener, 15*time.Second, "LL-HLS frames advance after the renewal", log,
		waitFor(`window.majlisPlayer.stats().frames >= `+strconv.Itoa(after.Frames+300)+` && window.majlisPlayer.stats().level > 0.02`, 12*time.Second))
	if renewed := eval[playerStats](t, listener, `window.majlisPlayer.stats()`); renewed.Reconnects != 0 || renewed.Errors != 0 || renewed.State != "playing" {
		t.Errorf("after the ticket renewal: %+v, want playing without reconnects or errors", renewed)
	}
	var rm struct{ Listeners int64 }
	ts.call(t, "GET", "/api/v1/rooms/"+room, "", nil, &rm)
	if rm.Listeners != 1 { // the renewal's first beat named the old ticket (prev=): it counts no more
		t.Errorf("room listeners %d with one LL-HLS player just after its ticket renewal, want 1", rm.Listeners)
	}
}
