package server

import (
	"context"
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
		waitFor(`document.querySelector("[data-testid=share-status]").textContent === "نُسخ الرابط"`, 5*time.Second),
		chromedp.Evaluate[chromedp.Void](`navigator.clipboard.writeText = () => Promise.reject(new DOMException("refused", "NotAllowedError"))`),
		chromedp.Click(chromedp.CSS("#share")),
		waitFor(`document.querySelector("[data-testid=share-status]").textContent === "انسخ الرابط أدناه"`, 5*time.Second))
	shown := eval[map[string]any](t, tab, `(() => { const i = document.querySelector("[data-testid=share-link]"); return {visible: !i.hidden && i.getClientRects().length > 0, value: i.value, selected: i.selectionEnd - i.selectionStart, focused: document.activeElement === i}; })()`)
	if shown["visible"] != true || shown["value"] != link || shown["selected"] != float64(len(link)) || shown["focused"] != true {
		t.Errorf("with the clipboard refused the link field is %v, want it shown, focused and selected, holding %s", shown, link)
	}
}
