package server

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestBrowserPlayerFallsBackBehindProxy: behind a reverse proxy that does
// not pass WebSocket upgrades on (Debian's nginx with a plain proxy_pass,
// which also rewrites Host), every listen.ws attempt is refused. The player
// tries WebSocket a few times, then the next transport, and plays the
// room through the proxy, and says so: in English and in Arabic (right to
// left), a listener each, at once.
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
	listeners := map[string]context.Context{}
	for _, lang := range browserLangs {
		listeners[lang] = newTab(t, browser, "listener-"+lang, log)
		run(t, listeners[lang], 30*time.Second, lang+" listener page through the proxy", log,
			chromedp.Navigate(proxy.base+withLang("/r/"+room, lang)),
			waitFor(inDir(lang), 20*time.Second),
			chromedp.Click(chromedp.CSS("#play")))
	}
	for _, lang := range browserLangs {
		listener := listeners[lang]
		run(t, listener, 90*time.Second, lang+" listener through the proxy", log,
			waitFor(`(() => { const s = window.majlisPlayer?.stats() ?? {}; return s.fallback === "ws refused" && s.transport !== "ws" && s.state === "playing" && s.frames >= 25 && s.peak > 0.02; })()`, 85*time.Second),
		)
		ps := eval[playerStats](t, listener, `window.majlisPlayer.stats()`)
		t.Logf("%s player: %+v", lang, ps)
		playing, stop := inLang(t, lang, "Playing live", "player.playing"), inLang(t, lang, "Stop", "player.stop")
		if got := eval[[]string](t, listener, `[document.querySelector("[data-testid=player-status]").textContent, document.querySelector("#play").textContent]`); got[0] != playing || got[1] != stop {
			t.Errorf("%s: the playing player says %q and its button reads %q, want %q and %q", lang, got[0], got[1], playing, stop)
		}
	}
}
