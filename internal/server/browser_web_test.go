package server

import (
	"fmt"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// inputHeights is a script that reports the rendered height of each input
// the selectors name (0 when absent).
func inputHeights(sels ...string) string {
	q := ""
	for _, s := range sels {
		q += fmt.Sprintf("%q: document.querySelector(%q)?.getBoundingClientRect().height ?? 0, ", s, s)
	}
	return "({" + q + "})"
}

// Text inputs in a column form (sign-in, sign-up, the token form, create
// room) are one line tall, not stretched along the column by the row
// layout's flex basis.
func TestBrowserFormInputs(t *testing.T) {
	if inLoopbackNetns(t) {
		return
	}
	ts := startServer(t, "")
	_, tok := ts.createUser(t, "huda")
	browser := newBrowser(t)
	log := &browserLog{}
	tab := newTab(t, browser, "user", log)
	check := func(page string, sels ...string) {
		t.Helper()
		hs := eval[map[string]float64](t, tab, inputHeights(sels...))
		for _, s := range sels {
			if h := hs[s]; h < 30 || h > 64 {
				t.Errorf("%s: %s is %.0f px tall, want one line (44-64 px)", page, s, h)
			}
		}
	}
	run(t, tab, 15*time.Second, "sign-in page", log,
		chromedp.Navigate(ts.base+"/signin"),
		waitFor(`document.querySelector("#signin-name") !== null`, 10*time.Second),
		chromedp.Click(chromedp.CSS("summary")))
	check("sign-in", "#signin-name", "#signin-password", "#token")
	run(t, tab, 15*time.Second, "sign-up page", log,
		chromedp.Navigate(ts.base+"/signup"),
		waitFor(`document.querySelector("#signup-name") !== null`, 10*time.Second))
	check("sign-up", "#signup-name", "#signup-password")
	signIn(t, tab, ts, tok, "/", log)
	run(t, tab, 15*time.Second, "create-room form", log, waitFor(`document.querySelector("#room-title") !== null`, 10*time.Second))
	check("home", "#room-title", "#room-when", "#room-id")
}
