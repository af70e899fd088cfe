package server

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestBrowserStudioRepublishes: the server restarts under publishing
// studios, one in English and one in Arabic (same address, same data).
// While the server is down each studio shows that it lost the session and
// publishes again, in its language (and the Arabic one right to left); it
// does so by itself once the server is back: the restarted server sees
// each host publishing, the studio says so, and a listener of each room
// hears its host's microphone again.
func TestBrowserStudioRepublishes(t *testing.T) {
	if inLoopbackNetns(t) {
		return
	}
	dir := t.TempDir()
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	at := func(c *Config) { c.HTTPAddr = addr }
	ts := startServerWith(t, dir, at)
	browser := newBrowser(t)
	log := &browserLog{}
	type studio struct {
		lang, room, hostID string
		tab                context.Context
		reconnecting       *regexp.Regexp
		live               string
	}
	var studios []*studio
	for i, lang := range browserLangs {
		s := &studio{lang: lang, reconnecting: pluralForms(t, lang, "studio.status.reconnecting"),
			live: inLang(t, lang, "On stage: you are being heard", "studio.status.live")}
		var hostTok string
		s.hostID, hostTok = ts.createUser(t, []string{"amal", "huda"}[i])
		s.room = ts.liveRoom(t, hostTok)
		s.tab = newTab(t, browser, "host-"+lang, log)
		signIn(t, s.tab, ts, hostTok, "/studio/"+s.room, log)
		run(t, s.tab, 30*time.Second, lang+" studio", log,
			chromedp.Navigate(ts.base+withLang("/studio/"+s.room, lang)),
			waitFor(inDir(lang)+` && document.querySelector("#go-live")?.disabled === false`, 15*time.Second),
			chromedp.Click(chromedp.CSS("#go-live")),
			waitFor(`window.majlisStudio?.publisher.s.state === "live"`, 15*time.Second),
		)
		studios = append(studios, s)
	}
	publishing := func(ts *testServer, s *studio, what string) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			v := ts.state(t, s.room)
			if slices.ContainsFunc(v.Stage, func(m stageView) bool { return m.ID == s.hostID && m.Publishing }) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s %s: the host is not publishing: %+v\n%s", s.lang, what, v.Stage, log)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	// status is a script: the studio's status line if shown, else "".
	status := `(() => { const el = document.querySelector("[data-testid=studio-status]"); return el && el.getClientRects().length > 0 ? el.textContent : ""; })()`
	for _, s := range studios {
		publishing(ts, s, "before the restart")
		if got := eval[string](t, s.tab, status); got != s.live {
			t.Errorf("%s: the studio on stage says %q, want %q", s.lang, got, s.live)
		}
	}

	ts.stop()
	// While the server is down the studio says it lost the session and
	// will publish again.
	for _, s := range studios {
		run(t, s.tab, 30*time.Second, s.lang+" the studio shows the lost session", log,
			waitFor(fmt.Sprintf(`new RegExp(%q).test(%s)`, s.reconnecting.String(), status), 25*time.Second))
		screenshot(t, s.tab, "studio-reconnecting-"+s.lang)
	}
	ts2 := startServerWith(t, dir, at)
	for _, s := range studios {
		run(t, s.tab, 60*time.Second, s.lang+" the studio publishes again", log,
			waitFor(`(() => { const s = window.majlisStudio?.publisher.s ?? {}; return s.reconnects > 0 && s.state === "live"; })()`, 55*time.Second),
			waitFor(fmt.Sprintf(`%s === %q`, status, s.live), 5*time.Second))
		publishing(ts2, s, "after the restart")
		loss := eval[string](t, s.tab, `window.majlisStudio.publisher.s.lastLoss`)
		t.Logf("%s: the studio saw the session lost by: %s", s.lang, loss)
	}
	// The microphone (Chromium's fake device: a tone) is in each program again.
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Second)
	defer cancel()
	var ls []*listener
	for _, s := range studios {
		ls = append(ls, listenOgg(t, ctx, ts2.base+ts2.join(t, s.room).Listen.Ogg))
	}
	for i, l := range ls {
		<-l.done
		peak := 0
		for _, v := range l.snapshot() {
			peak = max(peak, int(v), -int(v))
		}
		if peak < 1000 {
			t.Fatalf("%s: the program after the re-publish peaks at %d of 32767: the host is not heard", studios[i].lang, peak)
		}
	}
}
