package server

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestBrowserStudioRepublishes: the server restarts under a publishing
// studio (same address, same data). The studio notices the lost session
// (ICE, or the room's state saying it no longer publishes), says it is
// publishing again, and does so by itself: the restarted server sees the
// host publishing, and a listener hears the host's microphone again.
func TestBrowserStudioRepublishes(t *testing.T) {
	if inLoopbackNetns(t) {
		return
	}
	dir := t.TempDir()
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	at := func(c *Config) { c.HTTPAddr = addr }
	ts := startServerWith(t, dir, at)
	hostID, hostTok := ts.createUser(t, "amal")
	room := ts.liveRoom(t, hostTok)
	browser := newBrowser(t)
	log := &browserLog{}
	host := newTab(t, browser, "host", log)
	signIn(t, host, ts, hostTok, "/studio/"+room, log)
	run(t, host, 30*time.Second, "studio", log,
		waitFor(`document.querySelector("#go-live")?.disabled === false`, 15*time.Second),
		chromedp.Click(chromedp.CSS("#go-live")),
		waitFor(`window.majlisStudio?.publisher.s.state === "live"`, 15*time.Second),
	)
	publishing := func(ts *testServer, what string) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			v := ts.state(t, room)
			if slices.ContainsFunc(v.Stage, func(m stageView) bool { return m.ID == hostID && m.Publishing }) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: the host is not publishing: %+v\n%s", what, v.Stage, log)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	publishing(ts, "before the restart")

	ts.stop()
	ts2 := startServerWith(t, dir, at)
	run(t, host, 60*time.Second, "the studio publishes again", log,
		waitFor(`(() => { const s = window.majlisStudio?.publisher.s ?? {}; return s.reconnects > 0 && s.state === "live"; })()`, 55*time.Second))
	publishing(ts2, "after the restart")
	loss := eval[string](t, host, `window.majlisStudio.publisher.s.lastLoss`)
	t.Logf("the studio saw the session lost by: %s", loss)
	// The microphone (Chromium's fake device: a tone) is in the program again.
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Second)
	defer cancel()
	l := listenOgg(t, ctx, ts2.base+ts2.join(t, room).Listen.Ogg)
	<-l.done
	peak := 0
	for _, v := range l.snapshot() {
		peak = max(peak, int(v), -int(v))
	}
	if peak < 1000 {
		t.Fatalf("the program after the re-publish peaks at %d of 32767: the host is not heard", peak)
	}
}
