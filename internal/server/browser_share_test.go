package server

import (
	"context"
	"fmt"
	"net/http"
	"regexp"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/chromedp"
)

// allowClipboard lets the tab's pages at origin write and read the
// clipboard (a person's click grants writing; reading it back is the
// test's).
func allowClipboard(t *testing.T, tab context.Context, origin string) {
	t.Helper()
	c, cancel := context.WithTimeout(tab, 10*time.Second)
	defer cancel()
	for _, name := range []string{"clipboard-read", "clipboard-write"} {
		if _, err := chromedp.Call(c, browser.SetPermission, browser.SetPermissionParams{Permission: &browser.PermissionDescriptor{Name: name},
			Setting: browser.PermissionSettingGranted, Origin: origin, BrowserContextID: chromedp.FromContext(tab).BrowserContextID}); err != nil {
			t.Fatalf("grant %s: %v", name, err)
		}
	}
}

// Share on the listener page hands the room's link to the system's share
// sheet where the browser has one, else copies it and says so in a live
// region (in English and Arabic); where the clipboard refuses, the link
// is shown selected to copy by hand.
func TestBrowserShare(t *testing.T) {
	if inLoopbackNetns(t) {
		return
	}
	ts := startServer(t, "")
	_, hostTok := ts.createUser(t, "salma")
	room := ts.newRoom(t, hostTok, "Tea & talk")
	ts.must(t, 200, "POST", "/api/v1/rooms/"+room+"/start", hostTok, "")
	link := ts.base + "/r/" + room
	b := newBrowser(t)
	log := &browserLog{}
	tab := newTab(t, b, "listener", log)
	loaded := `document.querySelector("#room-title")?.textContent === "Tea & talk" && document.querySelector("#share") !== null`
	run(t, tab, 15*time.Second, "listener page", log, chromedp.Navigate(ts.base+"/r/"+room), waitFor(loaded, 10*time.Second))
	allowClipboard(t, tab, ts.base)
	// This Chromium has no share sheet (Linux): the clipboard path is the real one.
	t.Logf("navigator.share here: %s", eval[string](t, tab, `typeof navigator.share`))
	run(t, tab, 15*time.Second, "share copies the link", log,
		chromedp.Evaluate[chromedp.Void](`Object.defineProperty(navigator, "share", {value: undefined, configurable: true})`),
		chromedp.Click(chromedp.CSS("#share")),
		waitFor(`document.querySelector("[data-testid=share-status]").textContent === "Link copied"`, 5*time.Second))
	screenshot(t, tab, "share-en")
	if got := eval[string](t, tab, `navigator.clipboard.readText()`); got != link {
		t.Errorf("the clipboard holds %q, want %q", got, link)
	}
	if live := eval[string](t, tab, `document.querySelector("[data-testid=share-status]").getAttribute("aria-live")`); live != "polite" {
		t.Errorf("the confirmation's aria-live is %q", live)
	}

	// A browser with a share sheet gets the room's title and link.
	run(t, tab, 15*time.Second, "share sheet", log,
		chromedp.Evaluate[chromedp.Void](`Object.defineProperty(navigator, "share", {value: async (d) => { window.sharedWith = d; }, configurable: true})`),
		chromedp.Click(chromedp.CSS("#share")),
		waitFor(`window.sharedWith !== undefined`, 5*time.Second))
	if got := eval[map[string]string](t, tab, `window.sharedWith`); got["url"] != link || got["title"] != "Tea & talk" {
		t.Errorf("shared %v, want the room's title and %s", got, link)
	}

	// Arabic; the clipboard refuses: the link is shown, selected.
	run(t, tab, 15*time.Second, "Arabic listener page", log, chromedp.Navigate(ts.base+"/r/"+room+"?lang=ar"), waitFor(loaded, 10*time.Second))
	if label := eval[string](t, tab, `document.querySelector("#share").textContent`); label != "مشاركة" {
		t.Errorf("the Arabic share button reads %q", label)
	}
	run(t, tab, 15*time.Second, "share copies the link (Arabic)", log,
		chromedp.Evaluate[chromedp.Void](`Object.defineProperty(navigator, "share", {value: undefined, configurable: true})`),
		chromedp.Click(chromedp.CSS("#share")),
		waitFor(`document.querySelector("[data-testid=share-status]").textContent === "نُسخ الرابط"`, 5*time.Second))
	screenshot(t, tab, "share-ar")
	run(t, tab, 15*time.Second, "the clipboard refuses (Arabic)", log,
		chromedp.Evaluate[chromedp.Void](`navigator.clipboard.writeText = () => Promise.reject(new DOMException("refused", "NotAllowedError"))`),
		chromedp.Click(chromedp.CSS("#share")),
		waitFor(`document.querySelector("[data-testid=share-status]").textContent === "انسخ الرابط أدناه"`, 5*time.Second))
	shown := eval[map[string]any](t, tab, `(() => { const i = document.querySelector("[data-testid=share-link]"); return {visible: !i.hidden && i.getClientRects().length > 0, value: i.value, selected: i.selectionEnd - i.selectionStart, focused: document.activeElement === i}; })()`)
	if shown["visible"] != true || shown["value"] != link || shown["selected"] != float64(len(link)) || shown["focused"] != true {
		t.Errorf("with the clipboard refused the link field is %v, want it shown, focused and selected, holding %s", shown, link)
	}
}

// A scheduled room's listener page counts down to its start (English and
// Arabic; digits as Intl gives them for the language: Latin or
// Arabic-Indic, by the ICU's data), "Remind me" shows an on-page
// reminder when the time comes, and when the host opens the room the page
// goes live by itself (from the room's event stream, no reload): the
// countdown leaves, the reminder says the room is live and its button
// plays it.
func TestBrowserScheduledCountdown(t *testing.T) {
	if inLoopbackNetns(t) {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	ts := startServer(t, "")
	_, hostTok := ts.createUser(t, "amal")
	at := time.Now().Add(8 * time.Second).UTC()
	var r struct{ ID string }
	if code := ts.call(t, "POST", "/api/v1/rooms", hostTok, map[string]string{"title": "Evening majlis", "scheduled_at": at.Format(time.RFC3339Nano)}, &r); code != http.StatusCreated {
		t.Fatalf("create room: %d", code)
	}
	b, cancelB := context.WithCancel(newBrowser(t))
	defer cancelB()
	go func() { <-ctx.Done(); cancelB() }() // the whole test is bounded
	log := &browserLog{}
	cases := []struct {
		lang       string
		countdown  *regexp.Regexp
		now, live  string
		remind     string
		tabContext context.Context
	}{
		{lang: "en", countdown: regexp.MustCompile(`^Starts in \d:\d\d:\d\d$`), remind: "Remind me",
			now: "It is time: “\u2068Evening majlis\u2069” is starting.", live: "“\u2068Evening majlis\u2069” is live now."},
		{lang: "ar", countdown: regexp.MustCompile(`^تبدأ بعد [0-9٠-٩]:[0-9٠-٩]{2}:[0-9٠-٩]{2}$`), remind: "ذكّرني",
			now: "حان الوقت: تبدأ «\u2068Evening majlis\u2069» الآن.", live: "«\u2068Evening majlis\u2069» مباشرة الآن."},
	}
	text := func(sel string) string {
		return fmt.Sprintf(`(document.querySelector(%q)?.textContent ?? "")`, sel)
	}
	for i := range cases {
		c := &cases[i]
		c.tabContext = newTab(t, b, "listener-"+c.lang, log)
		run(t, c.tabContext, 15*time.Second, c.lang+" scheduled room", log,
			chromedp.Navigate(ts.base+"/r/"+r.ID+"?lang="+c.lang),
			waitFor(visible("[data-testid=countdown]")+` && `+text("[data-testid=countdown]")+` !== ""`, 10*time.Second))
		first := eval[string](t, c.tabContext, text("[data-testid=countdown]"))
		if !c.countdown.MatchString(first) {
			t.Errorf("%s: the countdown reads %q, want %v", c.lang, first, c.countdown)
		}
		if got := eval[string](t, c.tabContext, text("#remind")); got != c.remind {
			t.Errorf("%s: the reminder button reads %q, want %q", c.lang, got, c.remind)
		}
		if href := eval[string](t, c.tabContext, `document.querySelector("[data-testid=calendar]").getAttribute("href")`); href != "/api/v1/rooms/"+r.ID+"/calendar.ics?lang="+c.lang {
			t.Errorf("%s: Add to calendar links to %q", c.lang, href)
		}
		run(t, c.tabContext, 10*time.Second, c.lang+" remind me; the countdown runs", log,
			chromedp.Click(chromedp.CSS("#remind")),
			waitFor(`document.querySelector("#remind").getAttribute("aria-pressed") === "true" && `+visible("[data-testid=remind-note]"), 5*time.Second),
			waitFor(text("[data-testid=countdown]")+fmt.Sprintf(` !== %q`, first), 5*time.Second))
		screenshot(t, c.tabContext, "scheduled-"+c.lang)
	}
	for _, c := range cases {
		run(t, c.tabContext, 20*time.Second, c.lang+" reminder at the start time", log,
			waitFor(text("[data-testid=reminder-text]")+fmt.Sprintf(` === %q`, c.now), 15*time.Second))
		if time.Now().Before(at) {
			t.Errorf("%s: the reminder showed before the start time", c.lang)
		}
	}
	if st := ts.state(t, r.ID); st.State != "scheduled" {
		t.Fatalf("the room is %q before the host starts it", st.State)
	}
	ts.must(t, http.StatusOK, "POST", "/api/v1/rooms/"+r.ID+"/start", hostTok, "")
	for _, c := range cases {
		run(t, c.tabContext, 15*time.Second, c.lang+" the page goes live by itself", log,
			waitFor(text("[data-testid=reminder-text]")+fmt.Sprintf(` === %q`, c.live), 10*time.Second),
			waitFor(`!`+visible("[data-testid=upcoming]"), 5*time.Second))
	}
	en := cases[0].tabContext
	if badge := eval[string](t, en, text("[data-testid=state]")); badge != "Live" {
		t.Errorf("the badge reads %q once the room opened", badge)
	}
	run(t, en, 25*time.Second, "Listen now plays", log,
		chromedp.Click(chromedp.CSS("#reminder-listen")),
		waitFor(`window.majlisPlayer?.stats().state === "playing"`, 20*time.Second))
	if err := ctx.Err(); err != nil {
		t.Fatalf("the test ran out of time: %v", err)
	}
}
