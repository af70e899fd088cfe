package server

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

// dialogs answers a tab's JavaScript dialogs (confirm, alert) and keeps
// their messages; accept says how the next ones are answered.
type dialogs struct {
	mu     sync.Mutex
	accept bool
	seen   []string
}

func (d *dialogs) setAccept(a bool) { d.mu.Lock(); d.accept = a; d.mu.Unlock() }

func (d *dialogs) messages() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]string(nil), d.seen...)
}

// answerDialogs answers every dialog the tab opens (the page and the action
// that opened one wait until it is answered).
func answerDialogs(t *testing.T, tab context.Context, accept bool) *dialogs {
	t.Helper()
	d := &dialogs{accept: accept}
	evs := chromedp.Events(tab, page.JavascriptDialogOpening)
	go func() {
		for ev, err := range evs {
			if err != nil {
				return
			}
			d.mu.Lock()
			d.seen = append(d.seen, ev.Message)
			a := d.accept
			d.mu.Unlock()
			if _, err := chromedp.Call(tab, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: a}); err != nil {
				return
			}
		}
	}()
	return d
}

// waitDialogs waits until the tab has opened n dialogs.
func waitDialogs(t *testing.T, d *dialogs, n int, within time.Duration) []string {
	t.Helper()
	deadline := time.Now().Add(within)
	for len(d.messages()) < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d dialogs opened, want %d", len(d.messages()), n)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return d.messages()
}

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

// "End room" in the moderation console asks first, as the studio's does:
// dismissed, the room stays live; confirmed, it ends.
func TestBrowserModEndConfirms(t *testing.T) {
	if inLoopbackNetns(t) {
		return
	}
	ts := startServer(t, "")
	_, hostTok := ts.createUser(t, "rana")
	roomID := ts.liveRoom(t, hostTok)
	var mod struct{ Token string }
	if code := ts.call(t, "POST", "/api/v1/users", ts.AdminToken(), map[string]string{"name": "nour", "role": "moderator"}, &mod); code != http.StatusCreated {
		t.Fatalf("create moderator: %d", code)
	}
	browser := newBrowser(t)
	log := &browserLog{}
	tab := newTab(t, browser, "moderator", log)
	dlg := answerDialogs(t, tab, false)
	signIn(t, tab, ts, mod.Token, "/mod", log)
	row := fmt.Sprintf(`[data-testid=mod-rooms] li[data-room=%q]`, roomID)
	run(t, tab, 15*time.Second, "console lists the room", log,
		waitFor(fmt.Sprintf(`document.querySelector(%q) !== null`, row), 10*time.Second),
		chromedp.Click(chromedp.CSS(row+" button.danger")))
	if m := waitDialogs(t, dlg, 1, 10*time.Second); m[0] != "End the room for everyone?" {
		t.Errorf("confirmation %q", m[0])
	}
	var r struct{ State string }
	ts.call(t, "GET", "/api/v1/rooms/"+roomID, "", nil, &r)
	if r.State != "live" {
		t.Fatalf("after a dismissed confirmation the room is %q, want live", r.State)
	}
	dlg.setAccept(true)
	run(t, tab, 15*time.Second, "confirmed end", log,
		chromedp.Click(chromedp.CSS(row+" button.danger")),
		waitFor(fmt.Sprintf(`document.querySelector(%q) === null`, row), 10*time.Second))
	ts.call(t, "GET", "/api/v1/rooms/"+roomID, "", nil, &r)
	if r.State != "ended" {
		t.Fatalf("after a confirmed end the room is %q", r.State)
	}
}
