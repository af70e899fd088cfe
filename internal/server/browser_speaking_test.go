package server

import (
	"fmt"
	"net/http"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// Two speakers on stage publish over WHIP, one a tone and the other
// silence: on the listener page (the levels in the WebSocket chunks) and in
// the studio (the room's speaking events) only the talker's ring is lit,
// and it follows when they swap. In English, then in Arabic; then for an
// Ogg listener (the speaking events too).
func TestBrowserSpeakingRings(t *testing.T) {
	if inLoopbackNetns(t) {
		return
	}
	ts := startServer(t, "")
	hostID, hostTok := ts.createUser(t, "amal")
	guestID, guestTok := ts.createUser(t, "badr")
	room := ts.liveRoom(t, hostTok)
	if code := ts.call(t, "POST", "/api/v1/rooms/"+room+"/speakers/"+guestID, hostTok, nil, nil); code != http.StatusOK {
		t.Fatalf("invite speaker: %d", code)
	}
	// talker is who sends the tone: 0 the host, 1 the guest.
	var talker atomic.Int32
	voice := func(who int32, hz float64) func(int, []int16) {
		g := &tone{freq: hz, amp: toneAmp}
		return func(_ int, pcm []int16) {
			if talker.Load() == who {
				g.frame(pcm)
			} else {
				clear(pcm)
			}
		}
	}
	host := publishPCM(t, ts, room, hostTok, voice(0, lowHz), nil)
	defer host.stop()
	guest := publishPCM(t, ts, room, guestTok, voice(1, highHz), nil)
	defer guest.stop()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var r struct{ Stage []string }
		ts.call(t, "GET", "/api/v1/rooms/"+room, "", nil, &r)
		if slices.Contains(r.Stage, hostID) && slices.Contains(r.Stage, guestID) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("speakers never reached the stage: %v", r.Stage)
		}
		time.Sleep(100 * time.Millisecond)
	}

	browser := newBrowser(t)
	log := &browserLog{}
	listener := newTab(t, browser, "listener", log)
	studio := newTab(t, browser, "studio", log)
	signIn(t, studio, ts, hostTok, "/studio/"+room, log)

	// rings holds when, for 1.5 s in a row (15 polls), the ring of on is
	// lit and that of off is not.
	rings := func(on, off string) chromedp.Action[chromedp.Void] {
		return waitFor(fmt.Sprintf(`(() => {
			const lit = (id) => document.querySelector('.speaker[data-user="' + id + '"]')?.classList.contains("speaking");
			const ok = lit(%q) === true && lit(%q) === false;
			window.ringsOK = ok ? (window.ringsOK || 0) + 1 : 0;
			return window.ringsOK >= 15;
		})()`, on, off), 15*time.Second)
	}
	for _, lang := range []string{"en", "ar"} {
		talker.Store(0)
		run(t, listener, 40*time.Second, "listener page ("+lang+")", log,
			chromedp.Navigate(ts.base+"/r/"+room+"?lang="+lang),
			waitFor(fmt.Sprintf(`document.documentElement.lang === %q`, lang), 5*time.Second),
			chromedp.Click(chromedp.CSS("#play")),
			waitFor(`(() => { const s = window.majlisPlayer?.stats() ?? {}; return s.state === "playing" && s.transport === "ws" && s.levelChunks > 0; })()`, 20*time.Second),
			rings(hostID, guestID),
		)
		run(t, studio, 30*time.Second, "studio ("+lang+")", log,
			chromedp.Navigate(ts.base+"/studio/"+room+"?lang="+lang),
			waitFor(fmt.Sprintf(`document.documentElement.lang === %q`, lang), 5*time.Second),
			rings(hostID, guestID),
		)
		screenshot(t, listener, "speaking-listener-"+lang)
		screenshot(t, studio, "speaking-studio-"+lang)

		talker.Store(1)
		run(t, listener, 20*time.Second, "listener page, guest talks ("+lang+")", log, rings(guestID, hostID))
		run(t, studio, 20*time.Second, "studio, guest talks ("+lang+")", log, rings(guestID, hostID))
		talker.Store(0)
		run(t, listener, 20*time.Second, "listener page, host again ("+lang+")", log, rings(hostID, guestID))
		run(t, studio, 20*time.Second, "studio, host again ("+lang+")", log, rings(hostID, guestID))
		ps := eval[playerStats](t, listener, `window.majlisPlayer.stats()`)
		t.Logf("%s listener: %+v", lang, ps)
	}

	// An Ogg listener gets no chunk levels: its rings follow the room's
	// speaking events, as the studio's do.
	talker.Store(0)
	run(t, listener, 40*time.Second, "listener page (Ogg)", log,
		chromedp.Navigate(ts.base+"/r/"+room+"?transport=ogg"),
		chromedp.Click(chromedp.CSS("#play")),
		waitFor(`(() => { const s = window.majlisPlayer?.stats() ?? {}; return s.state === "playing" && s.transport === "ogg"; })()`, 20*time.Second),
		rings(hostID, guestID),
	)
	talker.Store(1)
	run(t, listener, 20*time.Second, "listener page (Ogg), guest talks", log, rings(guestID, hostID))
}
