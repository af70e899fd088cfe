package server

import (
	"net/http"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestBrowserSignInAfterFailures: after guesses at an account from this
// address, the server asks a browser it has not seen the owner sign in
// from for proof of work instead of locking the account: the sign-in page
// solves it and signs the owner in.
func TestBrowserSignInAfterFailures(t *testing.T) {
	if inLoopbackNetns(t) {
		return
	}
	ts := startServer(t, "")
	if code := ts.call(t, "POST", "/api/v1/users", ts.AdminToken(), map[string]string{"name": "salma", "password": "correct horse battery"}, nil); code != http.StatusCreated {
		t.Fatalf("create user: %d", code)
	}
	var answer struct{ Error struct{ Code string } }
	for i := 0; ; i++ {
		code := ts.call(t, "POST", "/api/v1/login", "", map[string]string{"name": "salma", "password": "wrong guess " + string(rune('a'+i))}, &answer)
		if code == http.StatusTooManyRequests && answer.Error.Code == "pow_required" {
			break
		}
		if code != http.StatusUnauthorized || i > 10 {
			t.Fatalf("guess %d: %d %q, want 401 until the server asks for proof of work", i, code, answer.Error.Code)
		}
	}
	browser := newBrowser(t)
	log := &browserLog{}
	tab := newTab(t, browser, "owner", log)
	run(t, tab, 60*time.Second, "sign in with a puzzle", log,
		chromedp.Navigate(ts.base+"/signin?next=/"),
		chromedp.SendKeys(chromedp.CSS("#signin-name"), "salma"),
		chromedp.SendKeys(chromedp.CSS("#signin-password"), "correct horse battery"),
		chromedp.Click(chromedp.CSS(`#signin-password ~ button[type=submit]`)),
		waitFor(`location.pathname === "/"`, 45*time.Second))
	if name := eval[string](t, tab, `fetch("/api/v1/me").then((r) => r.json()).then((u) => u.name)`); name != "salma" {
		t.Fatalf("signed in as %q, want salma", name)
	}
}
