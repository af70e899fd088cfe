package server

import (
	"context"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"majlis/internal/web"
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
// layout's flex basis: in English and in Arabic (right to left, the
// pages' titles translated).
func TestBrowserFormInputs(t *testing.T) {
	if inLoopbackNetns(t) {
		return
	}
	ts := startServerWith(t, "", func(c *Config) { c.Signup = true }) // the sign-up form shows only then
	_, tok := ts.createUser(t, "huda")
	browser := newBrowser(t)
	log := &browserLog{}
	h1 := func(want string) string {
		return fmt.Sprintf(`document.querySelector("main h1")?.textContent === %q`, want)
	}
	for _, lang := range browserLangs {
		tab := newTab(t, browser, "user-"+lang, log)
		check := func(page string, sels ...string) {
			t.Helper()
			hs := eval[map[string]float64](t, tab, inputHeights(sels...))
			for _, s := range sels {
				if h := hs[s]; h < 30 || h > 64 {
					t.Errorf("%s %s: %s is %.0f px tall, want one line (44-64 px)", lang, page, s, h)
				}
			}
		}
		run(t, tab, 15*time.Second, lang+" sign-in page", log,
			chromedp.Navigate(ts.base+withLang("/signin", lang)),
			waitFor(`document.querySelector("#signin-name") !== null`, 10*time.Second),
			waitFor(inDir(lang)+" && "+h1(inLang(t, lang, "Sign in", "auth.signin.title")), 5*time.Second),
			chromedp.Click(chromedp.CSS("summary")))
		check("sign-in", "#signin-name", "#signin-password", "#token")
		run(t, tab, 15*time.Second, lang+" sign-up page", log,
			chromedp.Navigate(ts.base+withLang("/signup", lang)),
			waitFor(`document.querySelector("#signup-name") !== null`, 10*time.Second),
			waitFor(inDir(lang)+" && "+h1(inLang(t, lang, "Sign up", "auth.signup.title")), 5*time.Second))
		check("sign-up", "#signup-name", "#signup-password")
		signIn(t, tab, ts, tok, "/", log)
		run(t, tab, 15*time.Second, lang+" create-room form", log,
			chromedp.Navigate(ts.base+withLang("/", lang)),
			waitFor(`document.querySelector("#room-title") !== null`, 10*time.Second),
			waitFor(inDir(lang), 5*time.Second))
		check("home", "#room-title", "#room-when", "#room-id")
	}
}

// "End room" in the moderation console asks first, as the studio's does:
// dismissed, the room stays live; confirmed, it ends. In English and in
// Arabic (right to left; the button and the question translated), a room
// each.
func TestBrowserModEndConfirms(t *testing.T) {
	if inLoopbackNetns(t) {
		return
	}
	ts := startServer(t, "")
	_, hostTok := ts.createUser(t, "rana")
	rooms := map[string]string{}
	for _, lang := range browserLangs {
		rooms[lang] = ts.liveRoom(t, hostTok)
	}
	var mod struct{ Token string }
	if code := ts.call(t, "POST", "/api/v1/users", ts.AdminToken(), map[string]string{"name": "nour", "role": "moderator"}, &mod); code != http.StatusCreated {
		t.Fatalf("create moderator: %d", code)
	}
	browser := newBrowser(t)
	log := &browserLog{}
	tab := newTab(t, browser, "moderator", log)
	dlg := answerDialogs(t, tab, false)
	signIn(t, tab, ts, mod.Token, "/mod", log)
	for i, lang := range browserLangs {
		roomID := rooms[lang]
		dlg.setAccept(false)
		row := fmt.Sprintf(`[data-testid=mod-rooms] li[data-room=%q]`, roomID)
		run(t, tab, 15*time.Second, lang+" console lists the room", log,
			chromedp.Navigate(ts.base+withLang("/mod", lang)),
			waitFor(fmt.Sprintf(`document.querySelector(%q) !== null`, row), 10*time.Second),
			waitFor(inDir(lang), 5*time.Second))
		if label := eval[string](t, tab, fmt.Sprintf(`document.querySelector(%q).textContent`, row+" button.danger")); label != inLang(t, lang, "End room", "mod.end") {
			t.Errorf("%s: the console's end button reads %q", lang, label)
		}
		run(t, tab, 15*time.Second, lang+" end the room", log, chromedp.Click(chromedp.CSS(row+" button.danger")))
		if m := waitDialogs(t, dlg, 2*i+1, 10*time.Second); m[2*i] != inLang(t, lang, "End the room for everyone?", "studio.end.confirm") {
			t.Errorf("%s: confirmation %q", lang, m[2*i])
		}
		var r struct{ State string }
		ts.call(t, "GET", "/api/v1/rooms/"+roomID, "", nil, &r)
		if r.State != "live" {
			t.Fatalf("%s: after a dismissed confirmation the room is %q, want live", lang, r.State)
		}
		dlg.setAccept(true)
		run(t, tab, 15*time.Second, lang+" confirmed end", log,
			chromedp.Click(chromedp.CSS(row+" button.danger")),
			waitFor(fmt.Sprintf(`document.querySelector(%q) === null`, row), 10*time.Second))
		if m := waitDialogs(t, dlg, 2*i+2, 10*time.Second); m[2*i+1] != inLang(t, lang, "End the room for everyone?", "studio.end.confirm") {
			t.Errorf("%s: confirmation %q", lang, m[2*i+1])
		}
		ts.call(t, "GET", "/api/v1/rooms/"+roomID, "", nil, &r)
		if r.State != "ended" {
			t.Fatalf("%s: after a confirmed end the room is %q", lang, r.State)
		}
	}
}

// An unknown room says so and offers no Play; an unknown path is the app's
// not-found page with a 404 status; unknown API paths answer JSON.
func TestBrowserNotFound(t *testing.T) {
	if inLoopbackNetns(t) {
		return
	}
	ts := startServer(t, "")
	for _, path := range []string{"/api/v1/no/such/endpoint", "/api/v2/rooms", "/api/"} {
		if res := ts.do(t, "GET", path, "", "", nil); res.status != http.StatusNotFound || res.code != "not_found" {
			t.Errorf("GET %s: %d %q, want 404 not_found", path, res.status, res.body)
		}
	}
	for _, path := range []string{"/no/such/page", "/r/a/b", "/js/"} {
		code, body, hdr := ts.get(t, path, "", nil)
		if code != http.StatusNotFound || !strings.HasPrefix(hdr.Get("Content-Type"), "text/html") || !strings.Contains(string(body), `id="main"`) {
			t.Errorf("GET %s: %d %q %.80q, want 404 with the app's page", path, code, hdr.Get("Content-Type"), body)
		}
	}
	browser := newBrowser(t)
	log := &browserLog{}
	tab := newTab(t, browser, "visitor", log)
	// In English and in Arabic (right to left, the titles and the way home translated).
	for _, lang := range browserLangs {
		run(t, tab, 15*time.Second, lang+" unknown page", log,
			chromedp.Navigate(ts.base+withLang("/no/such/page", lang)),
			waitFor(fmt.Sprintf(`document.querySelector("main h1")?.textContent === %q`, inLang(t, lang, "Page not found", "notfound.title")), 10*time.Second),
			waitFor(`document.querySelector('main a[href="/"]') !== null`, 5*time.Second),
			waitFor(inDir(lang), 5*time.Second))
		if home := eval[string](t, tab, `document.querySelector('main a[href="/"]').textContent`); home != inLang(t, lang, "Go to the rooms", "notfound.home") {
			t.Errorf("%s: the not-found page's way home reads %q", lang, home)
		}
		screenshot(t, tab, "notfound-"+lang)
		run(t, tab, 15*time.Second, lang+" unknown room", log,
			chromedp.Navigate(ts.base+withLang("/r/nosuchroom", lang)),
			waitFor(fmt.Sprintf(`document.querySelector("main h1")?.textContent === %q`, inLang(t, lang, "Room not found", "state.notfound")), 10*time.Second),
			waitFor(inDir(lang), 5*time.Second))
		if shown := eval[bool](t, tab, `(() => { const p = document.querySelector("#play"); const s = document.querySelector("[data-testid=stage]"); return !!(p && p.offsetParent) || !!(s && s.offsetParent); })()`); shown {
			t.Errorf("%s: an unknown room shows Play or a stage\n%s", lang, log)
		}
	}
}

// The sign-up link shows only when the server has sign-up on; without
// it the sign-up page says so. In English and in Arabic (right to left,
// the notice translated).
func TestBrowserSignupLink(t *testing.T) {
	if inLoopbackNetns(t) {
		return
	}
	browser := newBrowser(t)
	log := &browserLog{}
	for _, on := range []bool{false, true} {
		ts := startServerWith(t, "", func(c *Config) { c.Signup = on })
		tab := newTab(t, browser, fmt.Sprint("signup-", on), log)
		for _, lang := range browserLangs {
			run(t, tab, 15*time.Second, lang+" sign-in page", log,
				chromedp.Navigate(ts.base+withLang("/signin", lang)),
				waitFor(`document.querySelector("#signin-name") !== null`, 10*time.Second),
				waitFor(inDir(lang), 5*time.Second))
			links := eval[int](t, tab, `[...document.querySelectorAll('a[href="/signup"]')].filter((a) => a.offsetParent !== null).length`)
			if on && links == 0 || !on && links != 0 {
				t.Errorf("%s sign-up %v: %d visible links to /signup", lang, on, links)
			}
			run(t, tab, 15*time.Second, lang+" sign-up page", log,
				chromedp.Navigate(ts.base+withLang("/signup", lang)),
				waitFor(`document.querySelector("main h1") !== null`, 10*time.Second),
				waitFor(inDir(lang), 5*time.Second))
			if form := eval[bool](t, tab, `document.querySelector("#signup-name") !== null`); form != on {
				t.Errorf("%s sign-up %v: the sign-up page shows the form: %v", lang, on, form)
			}
			unavailable := inLang(t, lang, "This server has no self-service sign-up yet. Ask an admin for an API token.", "auth.signup.unavailable")
			if said := eval[bool](t, tab, fmt.Sprintf(`[...document.querySelectorAll("main p")].some((p) => p.getClientRects().length > 0 && p.textContent === %q)`, unavailable)); said == on {
				t.Errorf("%s sign-up %v: the sign-up page says sign-up is unavailable: %v", lang, on, said)
			}
		}
	}
}

// Play on a scheduled room waits for the start and says so: it does not
// turn into Stop while nothing plays.
func TestBrowserScheduledPlay(t *testing.T) {
	if inLoopbackNetns(t) {
		return
	}
	ts := startServer(t, "")
	_, hostTok := ts.createUser(t, "sami")
	room := ts.newRoom(t, hostTok, "Later")
	browser := newBrowser(t)
	log := &browserLog{}
	tab := newTab(t, browser, "listener", log)
	// In English and in Arabic (right to left, the badge, the button and
	// the status line translated).
	for _, lang := range browserLangs {
		run(t, tab, 20*time.Second, lang+" play a scheduled room", log,
			chromedp.Navigate(ts.base+withLang("/r/"+room, lang)),
			waitFor(fmt.Sprintf(`document.querySelector('[data-testid=state]')?.textContent === %q`, inLang(t, lang, "Scheduled", "state.scheduled")), 10*time.Second),
			waitFor(inDir(lang), 5*time.Second),
			chromedp.Click(chromedp.CSS("#play")),
			waitFor(`window.majlisPlayer?.stats().state === "scheduled"`, 10*time.Second))
		if label := eval[string](t, tab, `document.querySelector("#play").textContent`); label != inLang(t, lang, "Waiting for the start…", "player.waitstart") {
			t.Errorf("%s: Play on a scheduled room reads %q, want that it waits", lang, label)
		}
		body := inLang(t, lang, "This room has not started yet. It will start playing as soon as it goes live.", "room.scheduled.body")
		if said := eval[string](t, tab, `document.querySelector("[data-testid=player-status]").textContent`); said != body {
			t.Errorf("%s: while it waits the player says %q, want %q", lang, said, body)
		}
		run(t, tab, 10*time.Second, lang+" cancel waiting", log,
			chromedp.Click(chromedp.CSS("#play")),
			waitFor(fmt.Sprintf(`document.querySelector("#play").textContent === %q && window.majlisPlayer.stats().state === "stopped"`, inLang(t, lang, "Play", "player.play")), 5*time.Second))
	}
}

// The studio keeps the room's figures (listeners, peak, unique) when the
// host, on stage, ends the room from it.
func TestBrowserStudioKeepsFigures(t *testing.T) {
	if inLoopbackNetns(t) {
		return
	}
	ts := startServer(t, "")
	browser := newBrowser(t)
	log := &browserLog{}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	// In English and in Arabic (right to left, the figures' names, the
	// badge and the numbers as the language writes them), a host and a
	// room each.
	for i, lang := range browserLangs {
		_, hostTok := ts.createUser(t, []string{"dana", "rima"}[i])
		roomID := ts.liveRoom(t, hostTok)
		tab := newTab(t, browser, "host-"+lang, log)
		answerDialogs(t, tab, true) // "End the room for everyone?"
		signIn(t, tab, ts, hostTok, "/studio/"+roomID, log)
		run(t, tab, 30*time.Second, lang+" host on stage", log,
			chromedp.Navigate(ts.base+withLang("/studio/"+roomID, lang)),
			waitFor(`document.querySelector("#go-live")?.disabled === false`, 10*time.Second),
			waitFor(inDir(lang), 5*time.Second),
			chromedp.Click(chromedp.CSS("#go-live")),
			waitFor(`window.majlisStudio?.publisher.s.state === "live"`, 20*time.Second))
		one := eval[string](t, tab, fmt.Sprintf(`(1).toLocaleString(%q)`, lang))
		listenOgg(t, ctx, ts.base+ts.join(t, roomID).Listen.Ogg)
		run(t, tab, 15*time.Second, lang+" studio figures", log, waitFor(fmt.Sprintf(`document.querySelector("[data-testid=count-listeners]")?.textContent === %q`, one), 10*time.Second))
		before := eval[string](t, tab, `document.querySelector(".counts").textContent`)
		run(t, tab, 15*time.Second, lang+" host ends the room", log,
			chromedp.Click(chromedp.CSS("#end-room")),
			waitFor(fmt.Sprintf(`document.querySelector("[data-testid=state]")?.textContent === %q`, inLang(t, lang, "Ended", "state.ended")), 10*time.Second))
		var r struct{ State string }
		ts.call(t, "GET", "/api/v1/rooms/"+roomID, "", nil, &r)
		if r.State != "ended" {
			t.Fatalf("%s: room %q after End", lang, r.State)
		}
		after := eval[string](t, tab, `document.querySelector(".counts")?.textContent ?? ""`)
		if !strings.Contains(after, inLang(t, lang, "Peak", "studio.counts.peak")+one) || !strings.Contains(after, inLang(t, lang, "Unique listeners", "studio.counts.unique")+one) {
			t.Errorf("%s: the studio's figures were %q while live and %q once the room ended, want the peak and unique listeners kept\n%s", lang, before, after, log)
		}
	}
}

// visible is a script: whether the selector names a rendered element.
func visible(sel string) string {
	return fmt.Sprintf(`(() => { const el = document.querySelector(%q); return !!el && el.getClientRects().length > 0; })()`, sel)
}

// The pages show what the signed-in user's role allows: the moderation
// console to moderators and admins only, "Go on stage" to those on the
// stage only; and an error after a password sign-in speaks of the session.
// In English and in Arabic (right to left; the badge, the console's refusal
// and the error translated).
func TestBrowserRoleGating(t *testing.T) {
	if inLoopbackNetns(t) {
		return
	}
	ts := startServer(t, "")
	_, hostTok := ts.createUser(t, "karim")
	roomID := ts.liveRoom(t, hostTok)
	if code := ts.call(t, "POST", "/api/v1/users", ts.AdminToken(), map[string]string{"name": "lina", "password": "a long password"}, nil); code != http.StatusCreated {
		t.Fatalf("create user: %d", code)
	}
	var mod struct{ Token string }
	if code := ts.call(t, "POST", "/api/v1/users", ts.AdminToken(), map[string]string{"name": "reem", "role": "moderator"}, &mod); code != http.StatusCreated {
		t.Fatalf("create moderator: %d", code)
	}
	browser := newBrowser(t)
	log := &browserLog{}
	anon := newTab(t, browser, "anonymous", log)
	moderator := newTab(t, browser, "moderator", log)
	signIn(t, moderator, ts, mod.Token, "/", log)
	host := newTab(t, browser, "host", log)
	signIn(t, host, ts, hostTok, "/studio/"+roomID, log)

	for _, lang := range browserLangs {
		run(t, anon, 15*time.Second, lang+" anonymous home", log,
			chromedp.Navigate(ts.base+withLang("/", lang)),
			waitFor(`document.querySelector("main h1") !== null`, 10*time.Second),
			waitFor(inDir(lang), 5*time.Second))
		if eval[bool](t, anon, visible(`nav a[href="/mod"]`)) {
			t.Errorf("%s: an anonymous visitor is offered the moderation console", lang)
		}

		// A tab of its own: the English one's session ends below.
		user := newTab(t, browser, "user-"+lang, log)
		run(t, user, 20*time.Second, lang+" password sign-in", log,
			chromedp.Navigate(ts.base+withLang("/signin?next=/studio/"+roomID, lang)),
			chromedp.SendKeys(chromedp.CSS("#signin-name"), "lina"),
			chromedp.SendKeys(chromedp.CSS("#signin-password"), "a long password"),
			chromedp.Click(chromedp.CSS(`#signin-password ~ button[type=submit]`)),
			waitFor(`location.pathname.startsWith("/studio/")`, 10*time.Second),
			waitFor(fmt.Sprintf(`document.querySelector("[data-testid=state]")?.textContent === %q`, inLang(t, lang, "Live", "state.live")), 10*time.Second),
			waitFor(inDir(lang), 5*time.Second))
		for _, sel := range []string{"#go-live", "#mute", "#start-room", "#end-room", "#invite-user", "#pin-url"} {
			if eval[bool](t, user, visible(sel)) {
				t.Errorf("%s: a listener's studio shows %s\n%s", lang, sel, log)
			}
		}
		if eval[bool](t, user, visible(`nav a[href="/mod"]`)) {
			t.Errorf("%s: a user is offered the moderation console", lang)
		}
		screenshot(t, user, "listener-signed-in-"+lang)
		run(t, user, 15*time.Second, lang+" user opens /mod", log,
			chromedp.Navigate(ts.base+withLang("/mod", lang)),
			waitFor(`document.querySelector("main h1") !== null`, 10*time.Second),
			waitFor(inDir(lang), 5*time.Second))
		if eval[bool](t, user, `document.querySelector("[data-testid=mod-rooms], main button.danger, #mod-room") !== null`) {
			t.Errorf("%s: a user sees the moderation console's controls", lang)
		}
		forbidden := inLang(t, lang, "Only moderators and admins can use the moderation console.", "mod.forbidden")
		if said := eval[bool](t, user, fmt.Sprintf(`[...document.querySelectorAll("main p")].some((p) => p.getClientRects().length > 0 && p.textContent === %q)`, forbidden)); !said {
			t.Errorf("%s: the console does not tell a user %q", lang, forbidden)
		}

		// The session ends elsewhere (signed out in another tab): what the page
		// then says names the session, not a token.
		run(t, user, 15*time.Second, lang+" create a room without a session", log,
			chromedp.Navigate(ts.base+withLang("/", lang)),
			waitFor(`document.querySelector("#room-title") !== null`, 10*time.Second),
			chromedp.Evaluate[chromedp.Void](`fetch("/api/v1/logout", {method: "POST", headers: {"X-Majlis-CSRF": "1"}})`, chromedp.EvalAwaitPromise),
			chromedp.SendKeys(chromedp.CSS("#room-title"), "Too late"),
			chromedp.Click(chromedp.CSS(`#room-title ~ button[type=submit]`)),
			waitFor(`document.querySelector("main [role=alert]") !== null`, 10*time.Second))
		msg := eval[string](t, user, `document.querySelector("main [role=alert]").textContent`)
		if lang == "en" && (strings.Contains(strings.ToLower(msg), "token") || !strings.Contains(msg, "session")) {
			t.Errorf("after a password sign-in the error reads %q: want it to speak of the session", msg)
		}
		session := inLang(t, lang, "Your session has ended. Sign in again.", "error.unauthorized")
		if token := web.Text(lang, "error.unauthorized.token"); !strings.Contains(msg, session) || strings.Contains(msg, token) {
			t.Errorf("%s: after a password sign-in the error reads %q: want %q, not %q", lang, msg, session, token)
		}

		run(t, moderator, 15*time.Second, lang+" moderator home", log,
			chromedp.Navigate(ts.base+withLang("/", lang)),
			waitFor(`document.querySelector("main h1") !== null`, 10*time.Second),
			waitFor(inDir(lang), 5*time.Second))
		if !eval[bool](t, moderator, visible(`nav a[href="/mod"]`)) {
			t.Errorf("%s: a moderator is not offered the moderation console", lang)
		}
		run(t, host, 15*time.Second, lang+" host studio", log,
			chromedp.Navigate(ts.base+withLang("/studio/"+roomID, lang)),
			waitFor(visible("#go-live")+` && document.querySelector("#go-live").disabled === false`, 10*time.Second),
			waitFor(inDir(lang), 5*time.Second))
		if label := eval[string](t, host, `document.querySelector("#go-live").textContent`); label != inLang(t, lang, "Go on stage", "studio.golive") {
			t.Errorf("%s: the host's studio offers %q", lang, label)
		}
	}
}

// Every page runs under the app's Content-Security-Policy without a
// violation (newTab fails the test on any), in both languages, and the
// policy is in force: an injected inline script does not run.
func TestBrowserCSP(t *testing.T) {
	if inLoopbackNetns(t) {
		return
	}
	ts := startServerWith(t, "", func(c *Config) { c.Signup = true })
	_, hostTok := ts.createUser(t, "farah")
	roomID := ts.liveRoom(t, hostTok)
	var mod struct{ Token string }
	if code := ts.call(t, "POST", "/api/v1/users", ts.AdminToken(), map[string]string{"name": "hind", "role": "moderator"}, &mod); code != http.StatusCreated {
		t.Fatalf("create moderator: %d", code)
	}
	browser := newBrowser(t)
	log := &browserLog{}
	visitor := newTab(t, browser, "visitor", log)
	host := newTab(t, browser, "host", log)
	moderator := newTab(t, browser, "moderator", log)
	signIn(t, host, ts, hostTok, "/", log)
	signIn(t, moderator, ts, mod.Token, "/", log)
	loaded := `document.querySelector("main h1") !== null && document.querySelector("main h1").textContent !== ""`
	for _, lang := range []string{"en", "ar"} {
		for _, p := range []struct {
			tab  context.Context
			path string
		}{
			{visitor, "/"}, {visitor, "/signin"}, {visitor, "/signup"}, {visitor, "/mod"}, {visitor, "/no/such/page"},
			{visitor, "/r/nosuchroom"}, {host, "/"}, {moderator, "/mod"},
		} {
			run(t, p.tab, 15*time.Second, lang+" "+p.path, log,
				chromedp.Navigate(ts.base+p.path+"?lang="+lang),
				waitFor(loaded, 10*time.Second))
		}
		run(t, visitor, 30*time.Second, lang+" listener plays", log,
			chromedp.Navigate(ts.base+"/r/"+roomID+"?lang="+lang),
			waitFor(loaded, 10*time.Second),
			chromedp.Click(chromedp.CSS("#play")),
			waitFor(`window.majlisPlayer?.stats().state === "playing"`, 20*time.Second))
		run(t, host, 30*time.Second, lang+" host on stage", log,
			chromedp.Navigate(ts.base+"/studio/"+roomID+"?lang="+lang),
			waitFor(`document.querySelector("#go-live")?.disabled === false`, 10*time.Second),
			chromedp.Click(chromedp.CSS("#go-live")),
			waitFor(`window.majlisStudio?.publisher.s.state === "live"`, 20*time.Second),
			chromedp.Click(chromedp.CSS("#go-live")))
	}

	probe := newTab(t, browser, "probe", log)
	log.expectCSP("probe")
	run(t, probe, 15*time.Second, "probe page", log, chromedp.Navigate(ts.base+"/"), waitFor(loaded, 10*time.Second))
	ran := eval[bool](t, probe, `(() => { const s = document.createElement("script"); s.textContent = "window.inlineRan = true"; document.head.append(s); return window.inlineRan === true; })()`)
	if ran {
		t.Fatalf("an inline script ran: no Content-Security-Policy in force")
	}
	deadline := time.Now().Add(5 * time.Second)
	for len(log.cspViolations("probe")) == 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond) // the console event is read by newTab's goroutine
	}
	if len(log.cspViolations("probe")) == 0 {
		t.Errorf("the refused inline script was not reported as a violation: the test cannot see violations\n%s", log)
	}
}

// Arabic pages: errors in Arabic (by code, not the server's English
// message), URL fields and Latin names kept left-to-right inside the
// right-to-left page, and counts in the right plural form.
func TestBrowserArabic(t *testing.T) {
	if inLoopbackNetns(t) {
		return
	}
	ts := startServer(t, "")
	hostID, hostTok := ts.createUser(t, "amal")
	room := ts.newRoom(t, hostTok, "Evening majlis")
	ts.must(t, http.StatusOK, "POST", "/api/v1/rooms/"+room+"/start", hostTok, "")
	if code := ts.call(t, "POST", "/api/v1/users", ts.AdminToken(), map[string]string{"name": "noor", "password": "a long password"}, nil); code != http.StatusCreated {
		t.Fatalf("create user: %d", code)
	}
	browser := newBrowser(t)
	log := &browserLog{}
	latin := regexp.MustCompile(`[A-Za-z]`)

	visitor := newTab(t, browser, "visitor", log)
	run(t, visitor, 20*time.Second, "wrong password (Arabic)", log,
		chromedp.Navigate(ts.base+"/signin?lang=ar"),
		waitFor(`document.documentElement.dir === "rtl"`, 10*time.Second),
		chromedp.SendKeys(chromedp.CSS("#signin-name"), "noor"),
		chromedp.SendKeys(chromedp.CSS("#signin-password"), "not the password"),
		chromedp.Click(chromedp.CSS(`#signin-password ~ button[type=submit]`)),
		waitFor(`document.querySelector("main [role=alert]") !== null`, 10*time.Second))
	if msg := eval[string](t, visitor, `document.querySelector("main [role=alert]").textContent`); latin.MatchString(msg) {
		t.Errorf("the Arabic page says %q: the server's English message, not a translation of its code", msg)
	}

	// Counts agree with their number: Arabic has six plural forms.
	run(t, visitor, 15*time.Second, "listener page (Arabic)", log,
		chromedp.Navigate(ts.base+"/r/"+room+"?lang=ar"),
		waitFor(`(document.querySelector("[data-testid=listeners]")?.textContent ?? "") !== ""`, 10*time.Second))
	listeners := func(want string) {
		t.Helper()
		c, cancel := context.WithTimeout(visitor, 10*time.Second)
		defer cancel()
		if err := chromedp.Do(c, waitFor(fmt.Sprintf(`document.querySelector("[data-testid=listeners]").textContent === %q`, want), 9*time.Second)); err != nil {
			t.Errorf("the listener count reads %q, want %q", eval[string](t, visitor, `document.querySelector("[data-testid=listeners]").textContent`), want)
		}
	}
	listeners("لا أحد يستمع")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	listenOgg(t, ctx, ts.base+ts.join(t, room).Listen.Ogg)
	listeners("مستمع واحد")
	listenOgg(t, ctx, ts.base+ts.join(t, room).Listen.Ogg)
	listeners("مستمعان")
	for n, form := range map[int]string{3: "مستمعين", 11: "مستمعًا", 100: "مستمع"} {
		want := eval[string](t, visitor, fmt.Sprintf(`(%d).toLocaleString("ar")`, n)) + " " + form
		if got := eval[string](t, visitor, fmt.Sprintf(`import("/js/i18n.js").then((m) => m.tn ? m.tn("room.listeners", %d) : "no tn")`, n)); got != want {
			t.Errorf("%d listeners reads %q, want %q", n, got, want)
		}
	}

	// A Latin title and name in the right-to-left page run left to right.
	dir := func(sel string) string {
		return eval[string](t, visitor, fmt.Sprintf(`(() => { const el = document.querySelector(%q); return el ? getComputedStyle(el).direction : "absent"; })()`, sel))
	}
	if d := dir("#room-title"); d != "ltr" {
		t.Errorf("the Latin room title runs %s in the Arabic page", d)
	}
	host := newTab(t, browser, "host", log)
	signIn(t, host, ts, hostTok, "/studio/"+room, log)
	run(t, host, 30*time.Second, "host on stage (Arabic)", log,
		chromedp.Navigate(ts.base+"/studio/"+room+"?lang=ar"),
		waitFor(`document.querySelector("#go-live")?.disabled === false`, 10*time.Second),
		chromedp.Click(chromedp.CSS("#go-live")),
		waitFor(`window.majlisStudio?.publisher.s.state === "live"`, 20*time.Second),
		waitFor(`document.querySelector("#pin-url") !== null`, 10*time.Second))
	for sel, what := range map[string]string{"#pin-url": "the https:// field", "[data-testid=listen-link]": "the listener link"} {
		if d := eval[string](t, host, fmt.Sprintf(`getComputedStyle(document.querySelector(%q)).direction`, sel)); d != "ltr" {
			t.Errorf("%s runs %s in the Arabic studio", what, d)
		}
	}
	run(t, visitor, 15*time.Second, "host on the listener's stage", log,
		waitFor(fmt.Sprintf(`document.querySelector('[data-testid=stage] li[data-user=%q] .name') !== null`, hostID), 10*time.Second))
	if d := dir(fmt.Sprintf(`[data-testid=stage] li[data-user=%q] .name`, hostID)); d != "ltr" {
		t.Errorf("the Latin name on stage runs %s in the Arabic page", d)
	}
}
