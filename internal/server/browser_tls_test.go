package server

import (
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"majlis/internal/certs"
)

// TestBrowserTLSListener: with TLS terminated in majlis, Chromium (which
// is told to accept the test's self-signed certificate) opens the listener
// page over https and plays the host's tone over each transport: the
// WebSocket player over wss (in English and in Arabic), LL-HLS, and the
// Ogg fallback, which Chromium fetches over HTTP/2.
func TestBrowserTLSListener(t *testing.T) {
	if inLoopbackNetns(t) {
		return
	}
	pairs := writeTLSPairs(t)
	ts := startServerWith(t, "", func(c *Config) { c.TLS = certs.Config{CertFile: pairs.cert, KeyFile: pairs.key} })
	ts.base = "https://" + ts.HTTPAddr()
	ts.client = httpsClient(pairs.pool, true, 30*time.Second)
	_, hostTok := ts.createUser(t, "amal")
	room := ts.liveRoom(t, hostTok)
	sp := publishTone(t, ts, room, hostTok, &tone{freq: lowHz, amp: toneAmp})
	defer sp.stop()
	browser := newBrowser(t, chromedp.Flag("ignore-certificate-errors", true))
	log := &browserLog{}
	listener := newTab(t, browser, "listener", log)
	roomURL := ts.base + "/r/" + room
	for _, tc := range []struct {
		name, query, transport string
		within                 time.Duration
	}{
		{"wss", "?lang=en", "ws", 20 * time.Second},
		{"wss (Arabic)", "?lang=ar", "ws", 20 * time.Second},
		{"LL-HLS", "?transport=hls&lang=en", "hls", 40 * time.Second},
		// Chromium buffers a live Ogg stream by bytes before it plays
		// (TestBrowserStudioToListener): hence the long bound.
		{"Ogg", "?transport=ogg&lang=en", "ogg", 90 * time.Second},
	} {
		run(t, listener, tc.within+5*time.Second, "listener over https: "+tc.name, log,
			chromedp.Navigate(roomURL+tc.query),
			chromedp.Click(chromedp.CSS("#play")),
			waitFor(`(() => { const s = window.majlisPlayer?.stats() ?? {}; return s.transport === "`+tc.transport+`" && s.state === "playing" && s.frames >= 50 && s.peak > 0.02; })()`, tc.within),
		)
		ps := eval[playerStats](t, listener, `window.majlisPlayer.stats()`)
		t.Logf("%s: %+v", tc.name, ps)
		if ps.Errors != 0 {
			t.Errorf("%s: player %+v, want no errors", tc.name, ps)
		}
		if eval[string](t, listener, `location.protocol`) != "https:" {
			t.Errorf("%s: the page is not on https", tc.name)
		}
		if want := map[bool]string{true: "rtl", false: "ltr"}[tc.query == "?lang=ar"]; eval[string](t, listener, `document.documentElement.dir || "ltr"`) != want {
			t.Errorf("%s: page direction is not %s", tc.name, want)
		}
	}
	if t.Failed() {
		t.Log(log)
	}
}
