package server

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

// The studio's people, in English and Arabic: the host sees a signed-in
// listener by name and the count of the anonymous ones, finds أمل by
// typing part of her name and invites her from the suggestions with the
// keyboard; then hands the room over to the co-host, and each studio
// changes: the old host's loses the host-only controls, the new host's
// gains them.
func TestBrowserPeople(t *testing.T) {
	if inLoopbackNetns(t) {
		return
	}
	ts := startServer(t, "")
	hostID, hostTok := ts.createUser(t, "hala")
	coID, coTok := ts.createUser(t, "samir")
	amalID, amalTok := ts.createUser(t, "أمل")
	ts.createUser(t, "أحمد") // shares no more than the first letter with her
	browser := newBrowser(t)
	log := &browserLog{}
	host := newTab(t, browser, "host", log)
	co := newTab(t, browser, "cohost", log)
	answerDialogs(t, host, true) // "Hand the room over to …?"
	signIn(t, host, ts, hostTok, "/", log)
	signIn(t, co, ts, coTok, "/", log)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	for _, c := range []struct{ lang, others, role string }{
		{"en", "1 other listener (not signed in, or on another server).", "Host"},
		{"ar", "مستمع آخر واحد (غير مسجّل الدخول، أو على خادم آخر).", "المضيف"},
	} {
		room := ts.liveRoom(t, hostTok)
		ts.must(t, 200, "POST", "/api/v1/rooms/"+room+"/cohosts/"+coID, hostTok, "")
		var j joinResp
		if code := ts.call(t, "POST", "/api/v1/rooms/"+room+"/join", amalTok, nil, &j); code != 200 {
			t.Fatalf("join signed in: %d", code)
		}
		listenOgg(t, ctx, ts.base+j.Listen.Ogg)
		listenOgg(t, ctx, ts.base+ts.join(t, room).Listen.Ogg)
		studio := ts.base + "/studio/" + room + "?lang=" + c.lang
		amal := fmt.Sprintf(`[data-testid=listener-list] [data-user=%q]`, amalID)
		run(t, host, 30*time.Second, c.lang+": the listener list", log,
			chromedp.Navigate(studio),
			waitFor(fmt.Sprintf(`document.querySelector(%q)?.textContent.includes("أمل") && !!document.querySelector(%q + " [data-action=invite]")`, amal, amal), 15*time.Second),
			waitFor(fmt.Sprintf(`document.querySelector("[data-testid=anonymous-count]")?.textContent === %q`, c.others), 15*time.Second))
		screenshot(t, host, "studio-listeners-"+c.lang)

		option := fmt.Sprintf(`[data-testid=invite-options] [role=option][data-user=%q]`, amalID)
		run(t, host, 30*time.Second, c.lang+": find أمل by part of her name", log,
			chromedp.Click(chromedp.CSS("#invite-user")),
			chromedp.SendKeys(chromedp.CSS("#invite-user"), "أم"),
			waitFor(fmt.Sprintf(`!!document.querySelector(%q) && document.querySelectorAll("[data-testid=invite-options] [role=option]").length === 1`, option), 10*time.Second),
			waitFor(fmt.Sprintf(`document.querySelector("#invite-user").getAttribute("aria-expanded") === "true" && document.querySelector("#invite-user").getAttribute("aria-activedescendant") === document.querySelector(%q).id`, option), 5*time.Second))
		screenshot(t, host, "studio-invite-"+c.lang)
		onStage := fmt.Sprintf(`[data-testid=stage] [data-user=%q]`, amalID)
		run(t, host, 20*time.Second, c.lang+": invite her with Enter", log,
			chromedp.KeyEvent(kb.Enter),
			waitFor(fmt.Sprintf(`!!document.querySelector(%q)`, onStage), 10*time.Second),
			waitFor(`document.querySelector("#invite-user").getAttribute("aria-expanded") === "false"`, 5*time.Second),
			// On the stage now: the listener list offers her no invitation.
			waitFor(fmt.Sprintf(`!!document.querySelector(%q) && !document.querySelector(%q + " [data-action=invite]")`, amal, amal), 10*time.Second))
		if r := ts.state(t, room).role(amalID); r != "speaker" {
			t.Fatalf("%s: أمل is %q after the invitation", c.lang, r)
		}

		// Hand-over.
		hostOnly := fmt.Sprintf(`[data-testid=stage] [data-user=%q] [data-action=host]`, coID)
		run(t, co, 30*time.Second, c.lang+": the co-host's studio", log,
			chromedp.Navigate(studio),
			waitFor(fmt.Sprintf(`!!document.querySelector('[data-testid=stage] [data-user=%q]')`, amalID), 15*time.Second))
		if eval[bool](t, co, `!!document.querySelector("[data-action=host], [data-action=demote], [data-action=cohost]")`) {
			t.Errorf("%s: a co-host's studio shows host-only controls", c.lang)
		}
		run(t, host, 20*time.Second, c.lang+": hand over to the co-host", log,
			waitFor(fmt.Sprintf(`!!document.querySelector(%q)`, hostOnly), 10*time.Second),
			chromedp.Click(chromedp.CSS(hostOnly)),
			waitFor(fmt.Sprintf(`document.querySelector('[data-testid=stage] [data-user=%q]')?.textContent.includes(%q)`, coID, c.role), 10*time.Second),
			waitFor(`!document.querySelector("[data-action=host], [data-action=demote], [data-action=cohost]")`, 10*time.Second),
			waitFor(visible("#step-down"), 5*time.Second))
		run(t, co, 20*time.Second, c.lang+": the new host's studio gains the host's controls", log,
			waitFor(fmt.Sprintf(`!!document.querySelector('[data-testid=stage] [data-user=%q] [data-action=demote]') && !!document.querySelector('[data-testid=stage] [data-user=%q] [data-action=host]')`, hostID, amalID), 10*time.Second))
		if eval[bool](t, co, visible("#step-down")) {
			t.Errorf("%s: the new host is offered to step down to speaker", c.lang)
		}
		screenshot(t, co, "studio-handover-"+c.lang)
		if v := ts.state(t, room); v.Host != coID || v.role(hostID) != "cohost" {
			t.Fatalf("%s: after the hand-over the host is %s, the old host %q", c.lang, v.Host, v.role(hostID))
		}
		// The old host, a co-host now, steps down to speaker.
		run(t, host, 20*time.Second, c.lang+": step down", log,
			chromedp.Click(chromedp.CSS("#step-down")),
			waitFor(`!`+visible("#step-down"), 10*time.Second))
		if r := ts.state(t, room).role(hostID); r != "speaker" {
			t.Fatalf("%s: the old host is %q after stepping down", c.lang, r)
		}
		// Back to the first host for the next language.
		ts.must(t, 200, "POST", "/api/v1/rooms/"+room+"/end", coTok, "")
	}
	if t.Failed() {
		fmt.Println(log)
	}
}
