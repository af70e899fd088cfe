package server

import (
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestBrowserPlayerFallsBackBehindProxy: behind a reverse proxy that does
// not pass WebSocket upgrades on (Debian's nginx with a plain proxy_pass,
// which also rewrites Host), every listen.ws attempt is refused. The player
// tries WebSocket a few times, then the next transport, and plays the
// room through the proxy.
func TestBrowserPlayerFallsBackBehindProxy(t *testing.T) {
	if inLoopbackNetns(t) {
		return
	}
	ts := startServer(t, "")
	_, hostTok := ts.createUser(t, "amal")
	room := ts.liveRoom(t, hostTok)
	sp := publishTone(t, ts, room, hostTok, &tone{freq: lowHz, amp: toneAmp})
	defer sp.stop()
	proxy := startNginx(t, strings.TrimPrefix(ts.base, "http://"))
	browser := newBrowser(t)
	log := &browserLog{}
	listener := newTab(t, browser, "listener", log)
	run(t, listener, 90*time.Second, "listener through the proxy", log,
		chromedp.Navigate(proxy.base+"/r/"+room),
		chromedp.Click(chromedp.CSS("#play")),
		waitFor(`(() => { const s = window.majlisPlayer?.stats() ?? {}; return s.fallback === "ws refused" && s.transport !== "ws" && s.state === "playing" && s.frames >= 25 && s.peak > 0.02; })()`, 85*time.Second),
	)
	ps := eval[playerStats](t, listener, `window.majlisPlayer.stats()`)
	t.Logf("player: %+v", ps)
}
