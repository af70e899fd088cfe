package server

import (
	"net/http"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// The REC badge shows on the listener page and in the studio while the room
// is recorded (the studio tells the speaker, and that audio is kept for
// review); once
// the room ends, the same page offers the replay: it plays, seeks and
// changes speed (Chromium's own Ogg/Opus demuxer and decoder, with the
// Range requests it makes).
func TestBrowserReplay(t *testing.T) {
	if inLoopbackNetns(t) {
		return
	}
	ts := startServer(t, "")
	_, hostTok := ts.createUser(t, "sahar")
	room := ts.liveRoom(t, hostTok)
	browser := newBrowser(t)
	log := &browserLog{}
	tab := newTab(t, browser, "listener", log)
	roomURL := ts.base + "/r/" + room

	run(t, tab, 15*time.Second, "listener page, not recording", log,
		chromedp.Navigate(roomURL),
		waitFor(`document.querySelector('[data-testid=state]')?.textContent === "Live"`, 10*time.Second),
		waitFor(`document.querySelector('[data-testid=rec]') === null`, 5*time.Second))
	ts.must(t, 200, "POST", "/api/v1/rooms/"+room+"/recording", hostTok, `{"on":true}`)
	run(t, tab, 15*time.Second, "REC badge", log,
		waitFor(`document.querySelector('[data-testid=rec]')?.textContent === "REC"`, 10*time.Second))
	screenshot(t, tab, "listener-rec")
	// The studio shows it too, and tells the speaker; and that audio is kept for review.
	studio := newTab(t, browser, "studio", log)
	signIn(t, studio, ts, hostTok, "/studio/"+room, log)
	run(t, studio, 15*time.Second, "studio REC badge and notices", log,
		waitFor(`document.querySelector('[data-testid=rec]')?.textContent === "REC"`, 10*time.Second),
		waitFor(`document.querySelector('[data-testid=rec-notice] span')?.hidden === false`, 5*time.Second),
		waitFor(`document.querySelector('[data-testid=evidence-notice]')?.textContent.includes("review")`, 5*time.Second),
		waitFor(`document.querySelector('#recording-toggle')?.getAttribute('aria-pressed') === "true"`, 5*time.Second))

	sp := publishTone(t, ts, room, hostTok, &tone{freq: lowHz, amp: toneAmp})
	time.Sleep(6 * time.Second)
	sp.stop()
	ts.must(t, http.StatusOK, "POST", "/api/v1/rooms/"+room+"/end", hostTok, "")
	ts.must(t, http.StatusOK, "PATCH", "/api/v1/rooms/"+room+"/recording", hostTok, `{"public":true}`)

	// Generous bounds: on a loaded CI machine Chromium takes its time to
	// fetch, demux and start the replay; what is checked is unchanged.
	run(t, tab, 90*time.Second, "replay plays, seeks and changes speed", log,
		chromedp.Navigate(roomURL),
		waitFor(`document.querySelector('[data-testid=replay-audio]') !== null`, 20*time.Second),
		waitFor(`document.querySelector('[data-testid=rec]') === null`, 15*time.Second),
		waitFor(`document.querySelector('[data-testid=next-speaker]') !== null`, 15*time.Second),
		waitFor(`(() => { const a = document.querySelector('[data-testid=replay-audio]'); return a.readyState >= 1 && a.duration > 5; })()`, 20*time.Second),
		chromedp.Evaluate[chromedp.Void](`void document.querySelector('[data-testid=replay-audio]').play()`),
		waitFor(`document.querySelector('[data-testid=replay-audio]').currentTime > 0.5`, 20*time.Second),
		chromedp.Evaluate[chromedp.Void](`void (document.querySelector('[data-testid=replay-audio]').currentTime = 4)`),
		waitFor(`(() => { const a = document.querySelector('[data-testid=replay-audio]'); return !a.seeking && a.currentTime >= 4 && !a.paused; })()`, 20*time.Second),
		chromedp.Click(chromedp.CSS(`[data-speed="2"]`)),
		waitFor(`document.querySelector('[data-testid=replay-audio]').playbackRate === 2 && document.querySelector('[data-speed="2"]').getAttribute('aria-pressed') === "true"`, 15*time.Second),
		waitFor(`(() => { const a = document.querySelector('[data-testid=replay-audio]'); return a.ended || a.currentTime > 5; })()`, 20*time.Second),
	)
	if errs := eval[int](t, tab, `document.querySelector('[data-testid=replay-audio]').error ? 1 : 0`); errs != 0 {
		t.Fatalf("the replay's media element has an error\n%s", log)
	}
	screenshot(t, tab, "replay")
}
