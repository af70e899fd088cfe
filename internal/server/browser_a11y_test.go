package server

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
)

// axeRun runs axe-core on the whole document for the WCAG 2.0/2.1 A and AA
// rules (colour contrast is one of the AA rules) and answers its
// violations, and whether the contrast rule ran at all (it must: a page
// without text, or a rule turned off, would pass it silently).
const axeRun = `(async () => {
  const r = await axe.run(document, { runOnly: { type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"] }, resultTypes: ["violations"] });
  const ran = [...r.violations, ...r.passes, ...r.incomplete].some((x) => x.id === "color-contrast");
  const unsure = r.incomplete.filter((x) => x.id === "color-contrast").reduce((n, x) => n + x.nodes.length, 0);
  return JSON.stringify({ contrast: ran, unsure, dark: matchMedia("(prefers-color-scheme: dark)").matches, violations: r.violations.map((v) => ({ id: v.id, impact: v.impact || "", help: v.help,
    nodes: v.nodes.map((n) => ({ target: n.target.map(String).join(" "), html: n.html, summary: n.failureSummary || "" })) })) });
})()`

// axeBestPractice runs axe-core's best-practice rules (landmarks, heading
// order, one main heading): advice beyond WCAG, logged and not failed on.
const axeBestPractice = `(async () => {
  const r = await axe.run(document, { runOnly: { type: "tag", values: ["best-practice"] }, resultTypes: ["violations"] });
  return r.violations.map((v) => v.id + " (" + v.impact + "): " + v.nodes.map((n) => n.target.map(String).join(" ")).join(", "));
})()`

type axeNode struct{ Target, HTML, Summary string }

type axeViolation struct {
	ID, Impact, Help string
	Nodes            []axeNode
}

type axeResult struct {
	Contrast   bool
	Unsure     int  // colour-contrast nodes axe could not decide (text over an image, say)
	Dark       bool // the page saw prefers-color-scheme: dark
	Violations []axeViolation
}

// a11yPage is one page of the web app as a visitor sees it: the tab (who is
// signed in), the path, when it has rendered its data (a JavaScript
// condition), and what to open before the check (a form behind a button, a
// <details>), so that what opens is checked too.
type a11yPage struct {
	name, path string
	tab        context.Context
	ready      string
	open       []chromedp.Action[chromedp.Void]
}

// a11yView is a width and a colour scheme the pages are checked at.
type a11yView struct {
	name          string
	width, height int64
	scheme        string // prefers-color-scheme
}

var a11yViews = []a11yView{
	{"desktop", 1280, 800, "light"},
	{"phone", 390, 844, "light"},
	{"desktop-dark", 1280, 800, "dark"},
	{"phone-dark", 390, 844, "dark"},
}

// Every page of the web app, in English and Arabic, at desktop and phone
// widths in the light and the dark scheme, checked by axe-core
// (testdata/axe-core) for the WCAG 2.1 A and AA rules: a serious or
// critical violation fails the test; moderate and minor ones, and axe's
// best-practice advice, are logged.
func TestBrowserAccessibility(t *testing.T) {
	if inLoopbackNetns(t) {
		return
	}
	src, err := os.ReadFile(filepath.Join("testdata", "axe-core", "axe.min.js"))
	if err != nil {
		t.Fatal(err)
	}
	axeSource := string(src) + "\n;void 0"

	// The state the pages show: a live room with a speaker approved onto
	// the stage, a scheduled room, an ended room with a public replay, a
	// clip, a notice decided "no action" (its status page), a notice in the
	// queue and one claimed by the moderator (its decision form), and a
	// suspended account that complained (the /safety page and the
	// moderators' complaints).
	ts := startServer(t, "")
	live, hostTok, guestID, _ := safetyRoom(t, ts)
	_, listenerTok := ts.createUser(t, "lina")
	_, modTok := ts.createModerator(t, "nour")
	fadiID, fadiTok := ts.createUser(t, "fadi")
	var scheduled struct{ ID string }
	if code := ts.call(t, "POST", "/api/v1/rooms", hostTok, map[string]string{"title": "Poetry night", "description": "Bring a poem.",
		"scheduled_at": futureRFC3339(30)}, &scheduled); code != http.StatusCreated {
		t.Fatalf("create scheduled room: %d", code)
	}
	ended := ts.liveRoom(t, hostTok)
	ts.must(t, 200, "POST", "/api/v1/rooms/"+ended+"/recording", hostTok, `{"on":true}`)
	sp := publishTone(t, ts, ended, hostTok, &tone{freq: lowHz, amp: toneAmp})
	time.Sleep(3 * time.Second)
	sp.stop()
	ts.must(t, 200, "POST", "/api/v1/rooms/"+ended+"/end", hostTok, "")
	ts.must(t, 200, "PATCH", "/api/v1/rooms/"+ended+"/recording", hostTok, `{"public":true}`)
	var clip struct{ ID string }
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		r := ts.do(t, "POST", "/api/v1/rooms/"+live+"/clips", listenerTok, `{"seconds":1}`, nil)
		if r.status == http.StatusCreated {
			if err := json.Unmarshal(r.body, &clip); err != nil {
				t.Fatal(err)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no clip after 15 s: %d %s", r.status, r.body)
		}
	}
	report := func(kind string) (id, key string) {
		var rc struct{ ID, Key string }
		body := map[string]any{"kind": kind, "room": live, "from_s": 1, "category": "STATEMENT_CATEGORY_SCAMS_AND_FRAUD",
			"explanation": "A fake lottery is announced.", "name": "Lina", "email": "lina@example.org", "good_faith": true}
		if kind == "speaker" {
			body["speaker"] = guestID
		}
		if code := ts.call(t, "POST", "/api/v1/reports", "", body, &rc); code != http.StatusCreated {
			t.Fatalf("report: %d", code)
		}
		return rc.ID, rc.Key
	}
	decidedID, decidedKey := report("room")
	ts.must(t, 200, "POST", "/api/v1/safety/notices/"+decidedID+"/claim", modTok, "")
	ts.must(t, 201, "POST", "/api/v1/safety/notices/"+decidedID+"/decision", modTok,
		`{"action":"none","ground":"terms","terms_ground":"Terms 4.2","explanation":"A raffle the host runs, not a scam.","facts":"The host announced a raffle."}`)
	report("speaker")
	claimedID, _ := report("room")
	ts.must(t, 200, "POST", "/api/v1/safety/notices/"+claimedID+"/claim", modTok, "")
	var suspension struct{ ID string }
	if code := ts.call(t, "POST", "/api/v1/safety/decisions", modTok, map[string]any{"action": "suspend", "user": fadiID, "duration_s": 86400,
		"category": "STATEMENT_CATEGORY_SCAMS_AND_FRAUD", "ground": "terms", "terms_ground": "Terms 4.2", "explanation": "Repeated fake giveaways.",
		"facts": "The account announced fake giveaways in three rooms."}, &suspension); code != http.StatusCreated {
		t.Fatalf("suspend: %d", code)
	}
	if code := ts.call(t, "POST", "/api/v1/safety/decisions/"+suspension.ID+"/complaints", fadiTok, map[string]string{"text": "It was a real contest."}, nil); code != http.StatusCreated {
		t.Fatalf("complain: %d", code)
	}

	browser := newBrowser(t)
	log := &browserLog{}
	anon := newTab(t, browser, "visitor", log)
	player := newTab(t, browser, "player", log)
	host := newTab(t, browser, "host", log)
	signIn(t, host, ts, hostTok, "/", log)
	lis := newTab(t, browser, "listener", log)
	signIn(t, lis, ts, listenerTok, "/", log)
	mod := newTab(t, browser, "moderator", log)
	signIn(t, mod, ts, modTok, "/", log)
	fadi := newTab(t, browser, "suspended", log)
	signIn(t, fadi, ts, fadiTok, "/", log)

	has := func(sel string) string { return fmt.Sprintf(`document.querySelector(%q) !== null`, sel) }
	openDetails := func(sel string) chromedp.Action[chromedp.Void] {
		return chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`document.querySelectorAll(%q).forEach((d) => { d.open = true; })`, sel))
	}
	click := func(sel, then string) []chromedp.Action[chromedp.Void] {
		return []chromedp.Action[chromedp.Void]{chromedp.Click(chromedp.CSS(sel)), waitFor(then, 10*time.Second)}
	}
	stageReady := has(fmt.Sprintf(`[data-testid=stage] li[data-user=%q]`, guestID))
	pages := []a11yPage{
		{name: "home", path: "/", tab: anon, ready: has("[data-testid=rooms-live] li[data-room]") + " && " + has("[data-testid=rooms-scheduled] li[data-room]")},
		{name: "home (signed in)", path: "/", tab: host, ready: has("#room-title") + " && " + has("[data-testid=rooms-live] li[data-room]")},
		{name: "sign-in", path: "/signin", tab: anon, ready: has("#signin-name"), open: []chromedp.Action[chromedp.Void]{openDetails("details")}},
		{name: "sign-in, failed", path: "/signin", tab: anon, ready: has("#signin-name"), open: []chromedp.Action[chromedp.Void]{
			chromedp.SendKeys(chromedp.CSS("#signin-name"), "nobody"), chromedp.SendKeys(chromedp.CSS("#signin-password"), "not the password"),
			chromedp.Click(chromedp.CSS(`#signin-name ~ button[type=submit]`)), waitFor(has("main .error[role=alert]"), 10*time.Second)}},
		{name: "sign-up", path: "/signup", tab: anon, ready: has("main h1")},
		{name: "listener, live, report form", path: "/r/" + live, tab: anon, ready: stageReady + " && " + has("[data-testid=state].badge-live"),
			open: append(click("#report-open", `document.querySelectorAll("#report-category option").length > 10`),
				click("#report-illegal", `document.querySelector("#report-law")?.offsetParent !== null`)...)},
		{name: "listener, live, signed in", path: "/r/" + live, tab: lis, ready: stageReady + " && " + has(`button[data-emoji]`) + " && " + has("#request-speak")},
		{name: "listener, scheduled", path: "/r/" + scheduled.ID, tab: anon, ready: has("[data-testid=state].badge-scheduled") + ` && document.querySelector("[data-testid=countdown]")?.textContent !== ""`},
		{name: "listener, scheduled, reminder set", path: "/r/" + scheduled.ID, tab: lis, ready: has("[data-testid=state].badge-scheduled") + " && " + has("#remind"),
			// The choice is kept (localStorage): set it only where it is not.
			open: []chromedp.Action[chromedp.Void]{
				chromedp.Evaluate[chromedp.Void](`(() => { const b = document.querySelector("#remind"); if (b.getAttribute("aria-pressed") !== "true") b.click(); })()`),
				waitFor(`document.querySelector("#remind").getAttribute("aria-pressed") === "true" && document.querySelector("[data-testid=remind-note]").hidden === false`, 10*time.Second)}},
		{name: "listener, unknown room", path: "/r/no-such-room", tab: anon, ready: has("main h1") + " && !" + has("#room-title")},
		{name: "replay", path: "/r/" + ended, tab: anon, ready: has("[data-testid=replay-audio]") + " && " + has("[data-testid=next-speaker]")},
		{name: "clip", path: "/c/" + clip.ID, tab: anon, ready: has("[data-testid=clip-audio]") + " && " + has("#report-open")},
		{name: "studio", path: "/studio/" + live, tab: host, ready: has("#req-h") + " && " + has(`[data-testid=stage] [data-action=remove]`) + " && " + has("#recording-toggle")},
		{name: "studio, signed out", path: "/studio/" + live, tab: anon, ready: has(`main a[href^="/signin"]`)},
		{name: "moderation console", path: "/mod", tab: mod,
			ready: has("[data-testid=mod-rooms] li[data-room]") + " && " + has("[data-testid=mod-queue] [data-action=claim]") + " && " +
				has("[data-testid=decision-form]") + " && " + has("[data-testid=mod-complaints] li[data-complaint]"),
			open: []chromedp.Action[chromedp.Void]{openDetails("main details")}},
		{name: "moderation console, signed out", path: "/mod", tab: anon, ready: has(`main a[href^="/signin"]`)},
		{name: "decisions (/safety)", path: "/safety", tab: fadi, ready: has("[data-testid=my-decisions] article [data-testid=restriction]") + " && " + has("[data-testid=complaint]"),
			open: []chromedp.Action[chromedp.Void]{openDetails("main details")}},
		{name: "notice status", path: "/report/" + decidedID + "?key=" + decidedKey, tab: anon, ready: has("[data-testid=notice-decision]") + " && " + has("[data-testid=complain-form]"),
			open: []chromedp.Action[chromedp.Void]{openDetails("main details")}},
		{name: "transparency report", path: "/transparency", tab: anon, ready: has("[data-testid=tr-notices-total] td")},
		{name: "not found", path: "/no/such/page", tab: anon, ready: has("main h1")},
		// Last, as they go on: the host on air (Chromium's fake microphone),
		// and in a tab of its own a listener hearing them.
		{name: "studio, on air", path: "/studio/" + live, tab: host, ready: has("#req-h") + ` && document.querySelector("#go-live")?.disabled === false`,
			open: click("#go-live", `window.majlisStudio?.publisher.s.state === "live" && document.querySelector("#mute")?.disabled === false`)},
		{name: "listener, live, playing", path: "/r/" + live, tab: player, ready: stageReady,
			open: click("#play", `window.majlisPlayer?.stats().state === "playing"`)},
	}

	found := &a11yFindings{}
	minor := map[string]int{} // rule (impact) → nodes, over all pages
	runs, unsure := 0, 0
	start := time.Now()
	for _, p := range pages {
		for _, lang := range []string{"en", "ar"} {
			sep := "?"
			if strings.Contains(p.path, "?") {
				sep = "&"
			}
			what := fmt.Sprintf("%s (%s)", p.name, lang)
			steps := []chromedp.Action[chromedp.Void]{
				chromedp.EmulateViewport(a11yViews[0].width, a11yViews[0].height),
				chromedp.Navigate(ts.base + p.path + sep + "lang=" + lang),
				waitFor(fmt.Sprintf(`document.documentElement.lang === %q && (%s)`, lang, p.ready), 15*time.Second),
			}
			steps = append(steps, p.open...)
			steps = append(steps, chromedp.Evaluate[chromedp.Void](axeSource))
			run(t, p.tab, 30*time.Second, what, log, steps...)
			c, cancel := context.WithTimeout(p.tab, 30*time.Second)
			advice, err := chromedp.Run(c, chromedp.Evaluate[[]string](axeBestPractice, chromedp.EvalAwaitPromise))
			cancel()
			if err != nil {
				t.Fatalf("axe best practice on %s: %v", what, err)
			}
			for _, a := range advice {
				t.Logf("best practice, %s: %s", what, a)
			}
			for _, v := range a11yViews {
				c, cancel := context.WithTimeout(p.tab, 30*time.Second)
				err := chromedp.Do(c, chromedp.EmulateViewport(v.width, v.height))
				if err == nil {
					_, err = chromedp.Call(c, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
						Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: v.scheme}}})
				}
				if err != nil {
					cancel()
					t.Fatalf("%s at %s: %v", what, v.name, err)
				}
				raw, err := chromedp.Run(c, chromedp.Evaluate[string](axeRun, chromedp.EvalAwaitPromise))
				cancel()
				if err != nil {
					t.Fatalf("axe on %s at %s: %v\n%s", what, v.name, err, log)
				}
				runs++
				var res axeResult
				if err := json.Unmarshal([]byte(raw), &res); err != nil {
					t.Fatalf("axe on %s: %v", what, err)
				}
				if !res.Contrast {
					t.Errorf("%s at %s: the colour-contrast rule did not run", what, v.name)
				}
				if res.Dark != (v.scheme == "dark") {
					t.Fatalf("%s at %s: the page's prefers-color-scheme: dark is %v", what, v.name, res.Dark)
				}
				unsure += res.Unsure
				for _, vi := range res.Violations {
					if vi.Impact != "serious" && vi.Impact != "critical" {
						minor[fmt.Sprintf("%s (%s)", vi.ID, vi.Impact)] += len(vi.Nodes)
						continue
					}
					for _, n := range vi.Nodes {
						found.add(vi, n, v, what)
					}
				}
			}
		}
	}
	t.Logf("axe: %d runs over %d pages in %v; colour contrast undecided on %d nodes", runs, len(pages), time.Since(start).Round(time.Millisecond), unsure)
	for _, rule := range slices.Sorted(maps.Keys(minor)) {
		t.Logf("moderate/minor: %s: %d nodes", rule, minor[rule])
	}
	if len(found.order) > 0 {
		t.Errorf("serious or critical accessibility violations:\n%s", found)
	}
}

// a11yFindings gathers the serious and critical violations by rule and
// element, with where each was seen (page, language, width and scheme),
// so that one element failing on forty pages reads as one line.
type a11yFindings struct {
	order []string
	rules map[string]*a11yRule
}

type a11yRule struct {
	head  string
	order []string
	nodes map[string]*a11yNode
}

type a11yNode struct {
	line  string
	where []string
}

func (f *a11yFindings) add(v axeViolation, n axeNode, view a11yView, page string) {
	if f.rules == nil {
		f.rules = map[string]*a11yRule{}
	}
	r := f.rules[v.ID]
	if r == nil {
		r = &a11yRule{head: fmt.Sprintf("%s [%s] %s", v.ID, v.Impact, v.Help), nodes: map[string]*a11yNode{}}
		f.rules[v.ID] = r
		f.order = append(f.order, v.ID)
	}
	key, line := n.Target, fmt.Sprintf("%s  %s", n.Target, truncate(n.HTML, 200))
	if v.ID == "color-contrast" {
		// The colours differ by scheme: say which were measured.
		key += " " + view.scheme
		line += fmt.Sprintf("\n        %s: %s", view.scheme, truncate(strings.ReplaceAll(n.Summary, "\n", " "), 240))
	}
	nd := r.nodes[key]
	if nd == nil {
		nd = &a11yNode{line: line}
		r.nodes[key] = nd
		r.order = append(r.order, key)
	}
	nd.where = append(nd.where, page+" "+view.name)
}

func (f *a11yFindings) String() string {
	var b strings.Builder
	for _, id := range f.order {
		r := f.rules[id]
		fmt.Fprintf(&b, "%s\n", r.head)
		for _, k := range r.order {
			nd := r.nodes[k]
			fmt.Fprintf(&b, "    %s\n        on %d: %s\n", nd.line, len(nd.where), truncate(strings.Join(nd.where, "; "), 600))
		}
	}
	return b.String()
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
