package server

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"majlis/internal/overload"
)

// pick chooses value in the <select> sel as a user would (the page
// listens for change).
func pick(sel, value string) chromedp.Action[chromedp.Void] {
	return chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`(() => { const s = document.querySelector(%q); s.value = %q; s.dispatchEvent(new Event("change", { bubbles: true })); })()`, sel, value))
}

// safetyRoom is a live room with a speaker on its stage (approved from
// the audience), as the notices are about.
func safetyRoom(t *testing.T, ts *testServer) (room, hostTok, guestID, guestTok string) {
	t.Helper()
	_, hostTok = ts.createUser(t, "host")
	guestID, guestTok = ts.createUser(t, "guest")
	room = ts.liveRoom(t, hostTok)
	base := "/api/v1/rooms/" + room
	ts.must(t, 200, "POST", base+"/requests", guestTok, "")
	ts.must(t, 200, "POST", base+"/requests/"+guestID+"/approve", hostTok, "")
	return room, hostTok, guestID, guestTok
}

type queuedNotice struct {
	ID, Kind, Room, Speaker, Category, State string
	From                                     float64 `json:"from_s"`
	Name, Email                              string
}

// The chain in the web app: (a) an anonymous listener reports a speaker
// from the listener page and opens the status link of the receipt; (b) a
// moderator finds the notice in /mod, claims it and decides "mute": the
// speaker is muted on the stage and the listener's status page shows the
// decision; (c) the speaker, told in the studio, reads the statement of
// reasons on /safety and complains; (d) a second moderator reverses the
// decision from /mod and the speaker reads the outcome.
func TestBrowserSafetyChain(t *testing.T) {
	if inLoopbackNetns(t) {
		return
	}
	ts := startServer(t, "")
	room, _, guestID, guestTok := safetyRoom(t, ts)
	_, modTok := ts.createModerator(t, "nour")
	var info struct {
		StartedAt time.Time `json:"started_at"`
	}
	ts.call(t, "GET", "/api/v1/rooms/"+room, "", nil, &info)

	browser := newBrowser(t)
	log := &browserLog{}
	listener := newTab(t, browser, "listener", log)

	// (a) The report, anonymous, from the listener page.
	speakerOpt := fmt.Sprintf(`#report-speaker option[value=%q]`, guestID)
	run(t, listener, 30*time.Second, "open the report form", log,
		chromedp.Navigate(ts.base+"/r/"+room),
		waitFor(fmt.Sprintf(`document.querySelector('[data-testid=stage] li[data-user=%q]') !== null`, guestID), 10*time.Second),
		chromedp.Click(chromedp.CSS("#report-open")),
		waitFor(`document.querySelectorAll("#report-category option").length > 10`, 10*time.Second),
		waitFor(fmt.Sprintf(`document.querySelector(%q) !== null`, speakerOpt), 5*time.Second))
	labels := eval[[]string](t, listener, `[...document.querySelectorAll("#report-category option")].map((o) => o.textContent)`)
	for _, l := range labels {
		if strings.HasPrefix(l, "STATEMENT_") || l == "" {
			t.Errorf("category shown as %q", l)
		}
	}
	if !strings.Contains(strings.Join(labels, "|"), "Illegal or harmful speech") {
		t.Errorf("categories %q lack Illegal or harmful speech", labels)
	}
	before := time.Since(info.StartedAt).Seconds()
	if at := eval[string](t, listener, `document.querySelector("[data-testid=report-at]").textContent`); !strings.HasPrefix(at, "At ") {
		t.Errorf("offset line %q", at)
	}
	// The name and email are required but for the protection of minors.
	if req := eval[bool](t, listener, `document.querySelector("#report-name").required && document.querySelector("#report-email").required`); !req {
		t.Errorf("name and email not required for a speech notice")
	}
	run(t, listener, 20*time.Second, "fill in and send the report", log,
		pick("#report-kind", "speaker"),
		pick("#report-speaker", guestID),
		pick("#report-category", "STATEMENT_CATEGORY_ILLEGAL_OR_HARMFUL_SPEECH"),
		chromedp.Click(chromedp.CSS("#report-illegal")),
		waitFor(`document.querySelector("#report-law").offsetParent !== null`, 5*time.Second),
		chromedp.SendKeys(chromedp.CSS("#report-law"), "§ 130 StGB"),
		chromedp.SendKeys(chromedp.CSS("#report-explanation"), "The speaker incites hatred against a group."),
		chromedp.SendKeys(chromedp.CSS("#report-name"), "Lina Haddad"),
		chromedp.SendKeys(chromedp.CSS("#report-email"), "lina@example.org"),
		chromedp.Click(chromedp.CSS("#report-goodfaith")))
	screenshot(t, listener, "report-en")
	run(t, listener, 20*time.Second, "send the report", log,
		chromedp.Click(chromedp.CSS("#report-submit")),
		waitFor(`document.querySelector("[data-testid=report-receipt]") !== null`, 10*time.Second))
	id := eval[string](t, listener, `document.querySelector("[data-testid=report-id]").textContent`)
	href := eval[string](t, listener, `document.querySelector("[data-testid=report-status-link]").getAttribute("href")`)
	if id == "" || !strings.HasPrefix(href, "/report/"+id+"?key=") {
		t.Fatalf("receipt: id %q, status link %q", id, href)
	}
	var n queuedNotice
	if code := ts.call(t, "GET", "/api/v1/safety/notices/"+id, modTok, nil, &n); code != http.StatusOK {
		t.Fatalf("notice %s: %d", id, code)
	}
	after := time.Since(info.StartedAt).Seconds()
	if n.Kind != "speaker" || n.Speaker != guestID || n.Room != room || n.Category != "STATEMENT_CATEGORY_ILLEGAL_OR_HARMFUL_SPEECH" ||
		n.Name != "Lina Haddad" || n.Email != "lina@example.org" {
		t.Errorf("notice as stored: %+v", n)
	}
	// The moment is the seconds since the room started when the form opened.
	if n.From < before-5 || n.From > after+1 {
		t.Errorf("from_s %.1f, want between %.1f and %.1f (seconds since the room started)", n.From, before-5, after)
	}
	run(t, listener, 20*time.Second, "open the status link", log,
		chromedp.Click(chromedp.CSS("[data-testid=report-status-link]")),
		waitFor(fmt.Sprintf(`location.pathname === "/report/%s"`, id), 5*time.Second),
		waitFor(`document.querySelector("[data-testid=notice-state]")?.textContent === "Waiting for a moderator"`, 10*time.Second),
		waitFor(`document.querySelector("[data-testid=notice-category]")?.textContent === "Illegal or harmful speech"`, 5*time.Second))
	screenshot(t, listener, "report-status-en")

	// The speaker is in the studio when the decision comes.
	speaker := newTab(t, browser, "speaker", log)
	signIn(t, speaker, ts, guestTok, "/studio/"+room, log)
	run(t, speaker, 20*time.Second, "the studio follows the room", log,
		waitFor(fmt.Sprintf(`document.querySelector('[data-testid=stage] li[data-user=%q]') !== null`, guestID), 10*time.Second))

	// (b) The moderator's queue, claim and decision.
	mod := newTab(t, browser, "moderator", log)
	signIn(t, mod, ts, modTok, "/mod", log)
	item := fmt.Sprintf(`[data-testid=mod-queue] li[data-notice=%q]`, id)
	run(t, mod, 30*time.Second, "claim the notice", log,
		waitFor(fmt.Sprintf(`document.querySelector(%q) !== null`, item), 10*time.Second),
		waitFor(fmt.Sprintf(`document.querySelector(%q).textContent.includes("Illegal or harmful speech")`, item), 5*time.Second),
		chromedp.Click(chromedp.CSS(item+" [data-action=claim]")),
		waitFor(fmt.Sprintf(`document.querySelector(%q) !== null`, item+" [data-testid=decision-form]"), 10*time.Second))
	screenshot(t, mod, "mod-queue-en")
	if st := eval[string](t, mod, fmt.Sprintf(`document.querySelector(%q).textContent`, item+" [data-testid=notice-state]")); st != "Being reviewed" {
		t.Errorf("claimed notice shows state %q", st)
	}
	run(t, mod, 30*time.Second, "decide mute", log,
		pick(item+" select[name=action]", "mute"),
		pick(item+" select[name=ground]", "illegal"),
		chromedp.SendKeys(chromedp.CSS(item+" input[name=ground_ref]"), "§ 130 StGB"),
		chromedp.SendKeys(chromedp.CSS(item+` textarea[id^="dec-expl-"]`), "Incitement to hatred on the stage."),
		chromedp.SendKeys(chromedp.CSS(item+` textarea[id^="dec-facts-"]`), "A speaker incited hatred against a group at the reported moment."),
		chromedp.Click(chromedp.CSS(item+" [data-action=decide]")),
		waitFor(fmt.Sprintf(`document.querySelector(%q)?.textContent.includes("Decided: Muted on stage.")`, item+" [data-testid=decision-result]"), 10*time.Second))
	var stv struct {
		Stage []struct {
			ID         string `json:"id"`
			ForcedMute bool   `json:"forced_mute"`
		}
	}
	ts.call(t, "GET", "/api/v1/rooms/"+room+"/state", "", nil, &stv)
	muted := false
	for _, m := range stv.Stage {
		muted = muted || m.ID == guestID && m.ForcedMute
	}
	if !muted {
		t.Errorf("after the decision the speaker is not muted: %+v", stv.Stage)
	}
	run(t, listener, 20*time.Second, "the status page shows the decision", log,
		waitFor(`document.querySelector("[data-testid=notice-state]")?.textContent === "Decided"`, 10*time.Second),
		waitFor(`document.querySelector("[data-testid=notice-decision] [data-testid=decision-action]")?.textContent === "Muted on stage"`, 5*time.Second),
		waitFor(`document.querySelector("[data-testid=notice-decision] [data-testid=ground]")?.textContent.includes("§ 130 StGB")`, 5*time.Second))

	// (c) The speaker is told in the studio (the room's safety_decision
	// event), reads the statement of reasons and complains.
	run(t, speaker, 30*time.Second, "the statement of reasons", log,
		waitFor(`document.querySelector("[data-testid=safety-decision-notice] a[href='/safety']") !== null`, 10*time.Second),
		chromedp.Click(chromedp.CSS("[data-testid=safety-decision-notice] a")),
		waitFor(`location.pathname === "/safety"`, 5*time.Second),
		waitFor(`document.querySelector("[data-testid=my-decisions] article [data-testid=restriction]") !== null`, 10*time.Second))
	got := eval[map[string]string](t, speaker, `(() => { const a = document.querySelector("[data-testid=my-decisions] article"); return {
		restriction: a.querySelector("[data-testid=restriction]").textContent, ground: a.querySelector("[data-testid=ground]").textContent,
		text: a.textContent, routes: [...a.querySelectorAll("[data-testid=redress] li")].map((l) => l.dataset.route).join(",") }; })()`)
	if !strings.Contains(got["restriction"], "microphone was muted") || !strings.Contains(got["ground"], "Illegal content") ||
		!strings.Contains(got["text"], "A speaker incited hatred") || got["routes"] != "complaint,out_of_court_settlement,court" {
		t.Errorf("statement of reasons shown: %q", got)
	}
	run(t, speaker, 30*time.Second, "complain", log,
		chromedp.Click(chromedp.CSS("[data-testid=my-decisions] article details.complain summary")),
		chromedp.SendKeys(chromedp.CSS(`[data-testid=my-decisions] article textarea[name=text]`), "I quoted the words to condemn them."),
		chromedp.Click(chromedp.CSS("[data-testid=my-decisions] article [data-action=complain]")),
		waitFor(`document.querySelector("[data-testid=my-decisions] [data-testid=complaint]")?.textContent.includes("Complaint sent.")`, 10*time.Second))
	screenshot(t, speaker, "safety-en")
	var cs struct {
		Complaints []struct{ Decision, Complainant, Text string }
	}
	ts.call(t, "GET", "/api/v1/safety/complaints", modTok, nil, &cs)
	if len(cs.Complaints) != 1 || cs.Complaints[0].Complainant != guestID || cs.Complaints[0].Text != "I quoted the words to condemn them." {
		t.Errorf("complaints: %+v", cs.Complaints)
	}
	// Reloaded, the page shows the complaint in place of the form.
	run(t, speaker, 20*time.Second, "the complaint after a reload", log,
		chromedp.Reload(),
		waitFor(`document.querySelector("[data-testid=my-decisions] [data-testid=complaint]") !== null && document.querySelector("[data-testid=complain-form]") === null`, 10*time.Second))

	// (d) A second moderator reverses the decision from /mod: the speaker
	// may speak again and reads the outcome.
	_, mod2Tok := ts.createModerator(t, "salma")
	mod2 := newTab(t, browser, "moderator2", log)
	signIn(t, mod2, ts, mod2Tok, "/mod", log)
	row := `[data-testid=mod-complaints] li[data-complaint]`
	run(t, mod2, 30*time.Second, "reverse on complaint", log,
		waitFor(fmt.Sprintf(`document.querySelector(%q)?.textContent.includes("I quoted the words")`, row), 10*time.Second),
		waitFor(fmt.Sprintf(`document.querySelector(%q)?.textContent.includes("Muted on stage")`, row), 5*time.Second),
		pick(row+" select[name=outcome]", "reversed"),
		chromedp.SendKeys(chromedp.CSS(row+" textarea[name=explanation]"), "The words were quoted to condemn them."),
		chromedp.Click(chromedp.CSS(row+" [data-action=answer]")),
		waitFor(fmt.Sprintf(`document.querySelector(%q)?.textContent === "The decision was reversed."`, row+" [data-testid=outcome-result]"), 10*time.Second))
	ts.call(t, "GET", "/api/v1/rooms/"+room+"/state", "", nil, &stv)
	for _, m := range stv.Stage {
		if m.ID == guestID && m.ForcedMute {
			t.Errorf("after the reversal the speaker is still muted")
		}
	}
	run(t, speaker, 20*time.Second, "the outcome on /safety", log,
		chromedp.Reload(),
		waitFor(`document.querySelector("[data-testid=complaint-outcome]")?.textContent === "The decision was reversed."`, 10*time.Second),
		waitFor(`document.querySelector("[data-testid=my-decisions] article")?.textContent.includes("Lifted")`, 5*time.Second))
}

// (a) in Arabic: an anonymous listener reports a speaker, right to left,
// with the categories' labels translated; for the protection of minors the
// name and email may be left out. The status link opens in Arabic.
func TestBrowserSafetyReportArabic(t *testing.T) {
	if inLoopbackNetns(t) {
		return
	}
	ts := startServer(t, "")
	room, _, guestID, _ := safetyRoom(t, ts)
	_, modTok := ts.createModerator(t, "nour")
	browser := newBrowser(t)
	log := &browserLog{}
	tab := newTab(t, browser, "listener-ar", log)
	run(t, tab, 30*time.Second, "open the report form in Arabic", log,
		chromedp.Navigate(ts.base+"/r/"+room+"?lang=ar"),
		waitFor(`document.documentElement.dir === "rtl" && document.querySelector("#report-open")?.textContent === "أبلِغ"`, 10*time.Second),
		chromedp.Click(chromedp.CSS("#report-open")),
		waitFor(`document.querySelectorAll("#report-category option").length > 10`, 10*time.Second))
	labels := eval[[]string](t, tab, `[...document.querySelectorAll("#report-category option")].map((o) => o.textContent)`)
	joined := strings.Join(labels, "|")
	if !strings.Contains(joined, "خطاب غير قانوني أو ضار") || !strings.Contains(joined, "حماية القاصرين") || strings.Contains(joined, "STATEMENT_") {
		t.Errorf("categories in Arabic: %q", labels)
	}
	if kinds := eval[[]string](t, tab, `[...document.querySelectorAll("#report-kind option")].map((o) => o.textContent)`); strings.Join(kinds, "|") != "الغرفة|متحدث على المنصة" {
		t.Errorf("kinds in Arabic: %q", kinds)
	}
	if at := eval[string](t, tab, `document.querySelector("[data-testid=report-at]").textContent + "|" + document.querySelector("#report-submit").textContent`); !strings.HasPrefix(at, "عند ") || !strings.HasSuffix(at, "|أرسل البلاغ") {
		t.Errorf("form texts in Arabic: %q", at)
	}
	// Right to left without a horizontal scroll (nothing pushed off the page).
	if w := eval[[]float64](t, tab, `[document.documentElement.scrollWidth, document.documentElement.clientWidth]`); w[0] > w[1] {
		t.Errorf("the page with the form is %.0f px wide in a %.0f px window", w[0], w[1])
	}
	// On a phone too (the longest category's name included).
	run(t, tab, 10*time.Second, "phone layout of the form", log,
		chromedp.EmulateViewport(390, 844),
		waitFor(`document.documentElement.clientWidth === 390`, 3*time.Second),
		waitFor(`document.documentElement.scrollWidth <= document.documentElement.clientWidth`, 3*time.Second))
	run(t, tab, 10*time.Second, "back to the desktop layout", log, chromedp.EmulateViewport(1000, 800))
	run(t, tab, 20*time.Second, "report a speaker without name and email", log,
		pick("#report-kind", "speaker"),
		pick("#report-speaker", guestID),
		pick("#report-category", "STATEMENT_CATEGORY_PROTECTION_OF_MINORS"),
		waitFor(`!document.querySelector("#report-name").required`, 5*time.Second),
		chromedp.SendKeys(chromedp.CSS("#report-explanation"), "يتحدث أحدهم بكلام يستهدف الأطفال."),
		chromedp.Click(chromedp.CSS("#report-goodfaith")))
	screenshot(t, tab, "report-ar")
	run(t, tab, 20*time.Second, "send the report", log,
		chromedp.Click(chromedp.CSS("#report-submit")),
		waitFor(`document.querySelector("[data-testid=report-receipt] h2")?.textContent === "تم استلام البلاغ"`, 10*time.Second))
	id := eval[string](t, tab, `document.querySelector("[data-testid=report-id]").textContent`)
	var n queuedNotice
	if code := ts.call(t, "GET", "/api/v1/safety/notices/"+id, modTok, nil, &n); code != http.StatusOK || n.Kind != "speaker" || n.Speaker != guestID || n.Name != "" || n.Category != "STATEMENT_CATEGORY_PROTECTION_OF_MINORS" {
		t.Errorf("notice %s: %d %+v", id, code, n)
	}
	run(t, tab, 20*time.Second, "the status page in Arabic", log,
		chromedp.Click(chromedp.CSS("[data-testid=report-status-link]")),
		waitFor(`document.querySelector("[data-testid=notice-state]")?.textContent === "بانتظار مشرف"`, 10*time.Second),
		waitFor(`document.querySelector("[data-testid=notice-category]")?.textContent === "حماية القاصرين" && document.documentElement.dir === "rtl"`, 5*time.Second))
	screenshot(t, tab, "report-status-ar")

	// The notice in the moderators' queue, in Arabic.
	mod := newTab(t, browser, "moderator-ar", log)
	signIn(t, mod, ts, modTok, "/mod", log)
	item := fmt.Sprintf(`[data-testid=mod-queue] li[data-notice=%q]`, id)
	run(t, mod, 20*time.Second, "the queue in Arabic", log,
		chromedp.Navigate(ts.base+"/mod?lang=ar"),
		waitFor(fmt.Sprintf(`document.documentElement.dir === "rtl" && document.querySelector(%q)?.textContent.includes("حماية القاصرين")`, item), 10*time.Second))
	screenshot(t, mod, "mod-queue-ar")
}

// Under load (level elevated) an anonymous notice needs the proof of work:
// the page solves the server's puzzle, as the player does for a join, and
// sends the notice again.
func TestBrowserSafetyReportPoW(t *testing.T) {
	if inLoopbackNetns(t) {
		return
	}
	aud, stage := startAdmissionServer(t, AdmissionConfig{ForceLevel: overload.Elevated})
	_, hostTok := aud.createUser(t, "host")
	room := stage.liveRoom(t, hostTok)
	browser := newBrowser(t)
	log := &browserLog{}
	tab := newTab(t, browser, "listener", log)
	run(t, tab, 60*time.Second, "report under load", log,
		chromedp.Navigate(aud.base+"/r/"+room),
		waitFor(`document.querySelector("#report-open") !== null`, 10*time.Second),
		chromedp.Click(chromedp.CSS("#report-open")),
		waitFor(`document.querySelectorAll("#report-category option").length > 10`, 10*time.Second),
		pick("#report-category", "STATEMENT_CATEGORY_OTHER_VIOLATION_TC"),
		chromedp.SendKeys(chromedp.CSS("#report-explanation"), "Spam links read out again and again."),
		chromedp.SendKeys(chromedp.CSS("#report-name"), "Sami"),
		chromedp.SendKeys(chromedp.CSS("#report-email"), "sami@example.org"),
		chromedp.Click(chromedp.CSS("#report-goodfaith")),
		chromedp.Click(chromedp.CSS("#report-submit")),
		waitFor(`document.querySelector("[data-testid=report-receipt]") !== null`, 45*time.Second))
	if !strings.Contains(log.String(), "POST "+aud.base+"/api/v1/reports: 429") {
		t.Errorf("the first notice was not refused for the puzzle:\n%s", log)
	}
	id := eval[string](t, tab, `document.querySelector("[data-testid=report-id]").textContent`)
	var n queuedNotice
	if code := aud.call(t, "GET", "/api/v1/safety/notices/"+id, aud.AdminToken(), nil, &n); code != http.StatusOK || n.Room != room {
		t.Errorf("notice %s: %d %+v", id, code, n)
	}
}

// A notice about the replay from the listener page: its moment is the
// replay's position as seconds into the room (from_s): where the recording
// began, plus what the host trimmed, plus the position.
func TestBrowserSafetyReportReplay(t *testing.T) {
	if inLoopbackNetns(t) {
		return
	}
	ts := startServer(t, "")
	_, hostTok := ts.createUser(t, "sahar")
	_, modTok := ts.createModerator(t, "nour")
	room := ts.liveRoom(t, hostTok)
	ts.must(t, 200, "POST", "/api/v1/rooms/"+room+"/recording", hostTok, `{"on":true}`)
	sp := publishTone(t, ts, room, hostTok, &tone{freq: lowHz, amp: toneAmp})
	// Nine seconds of program in the recording, of which the host trims two.
	deadline := time.Now().Add(30 * time.Second)
	for {
		var r struct {
			Duration float64 `json:"duration_s"`
		}
		ts.call(t, "GET", "/api/v1/rooms/"+room+"/recording", hostTok, nil, &r)
		if r.Duration >= 9 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the recording holds %.1f s after 30 s", r.Duration)
		}
		time.Sleep(200 * time.Millisecond)
	}
	sp.stop()
	ts.must(t, http.StatusOK, "POST", "/api/v1/rooms/"+room+"/end", hostTok, "")
	ts.must(t, http.StatusOK, "PATCH", "/api/v1/rooms/"+room+"/recording", hostTok, `{"public":true}`)
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		var r struct{ State string }
		ts.call(t, "GET", "/api/v1/rooms/"+room+"/recording", hostTok, nil, &r)
		if r.State == "finished" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("recording %q 20 s after the end", r.State)
		}
	}
	ts.must(t, http.StatusOK, "PATCH", "/api/v1/rooms/"+room+"/recording", hostTok, `{"trim_start_s":2}`)
	var info struct {
		StartedAt time.Time `json:"started_at"`
	}
	ts.call(t, "GET", "/api/v1/rooms/"+room, "", nil, &info)
	var rec struct {
		Created  time.Time `json:"created"`
		Trimmed  float64   `json:"trimmed_s"`
		Duration float64   `json:"duration_s"`
	}
	ts.call(t, "GET", "/api/v1/rooms/"+room+"/recording", hostTok, nil, &rec)
	if rec.Trimmed < 1.5 {
		t.Fatalf("recording after the trim: %+v", rec)
	}

	browser := newBrowser(t)
	log := &browserLog{}
	tab := newTab(t, browser, "listener", log)
	run(t, tab, 60*time.Second, "report the replay at 4 s", log,
		chromedp.Navigate(ts.base+"/r/"+room),
		waitFor(`(() => { const a = document.querySelector('[data-testid=replay-audio]'); return a && a.readyState >= 1 && a.duration > 5; })()`, 30*time.Second),
		chromedp.Evaluate[chromedp.Void](`void (document.querySelector('[data-testid=replay-audio]').currentTime = 4)`),
		waitFor(`(() => { const a = document.querySelector('[data-testid=replay-audio]'); return !a.seeking && a.currentTime >= 4; })()`, 20*time.Second),
		chromedp.Click(chromedp.CSS("#report-open")),
		waitFor(`document.querySelectorAll("#report-category option").length > 10`, 10*time.Second),
		pick("#report-category", "STATEMENT_CATEGORY_SCAMS_AND_FRAUD"),
		chromedp.SendKeys(chromedp.CSS("#report-explanation"), "The replay promotes a fake investment scheme."),
		chromedp.SendKeys(chromedp.CSS("#report-name"), "Karim"),
		chromedp.SendKeys(chromedp.CSS("#report-email"), "karim@example.org"),
		chromedp.Click(chromedp.CSS("#report-goodfaith")),
		chromedp.Click(chromedp.CSS("#report-submit")),
		waitFor(`document.querySelector("[data-testid=report-receipt]") !== null`, 10*time.Second))
	id := eval[string](t, tab, `document.querySelector("[data-testid=report-id]").textContent`)
	var n queuedNotice
	if code := ts.call(t, "GET", "/api/v1/safety/notices/"+id, modTok, nil, &n); code != http.StatusOK {
		t.Fatalf("notice %s: %d", id, code)
	}
	want := max(0, rec.Created.Sub(info.StartedAt).Seconds()) + rec.Trimmed + 4
	if n.Kind != "replay" || n.From < want-1.5 || n.From > want+1.5 {
		t.Errorf("notice %+v, want kind replay at from_s %.1f", n, want)
	}
}

// A signed-in notifier finds their notice on /safety; decided "no
// action", its status page offers the complaint (Art. 20: the notifier may
// contest a decision to do nothing).
func TestBrowserSafetyNotifierNoAction(t *testing.T) {
	if inLoopbackNetns(t) {
		return
	}
	ts := startServer(t, "")
	room, _, _, _ := safetyRoom(t, ts)
	notifierID, notifierTok := ts.createUser(t, "lina")
	_, modTok := ts.createModerator(t, "nour")
	noticeID := noActionNotice(t, ts, room, notifierTok, modTok)

	browser := newBrowser(t)
	log := &browserLog{}
	tab := newTab(t, browser, "notifier", log)
	signIn(t, tab, ts, notifierTok, "/safety", log)
	li := fmt.Sprintf(`[data-testid=my-notices] li[data-notice=%q]`, noticeID)
	run(t, tab, 30*time.Second, "the notice on /safety, then its status", log,
		waitFor(`document.querySelector("[data-testid=my-decisions]")?.textContent === "No decision concerns you."`, 10*time.Second),
		waitFor(fmt.Sprintf(`document.querySelector(%q)?.textContent.includes("Scams and fraud") && document.querySelector(%q).textContent.includes("Decided")`, li, li), 10*time.Second),
		chromedp.Click(chromedp.CSS(li+" a")),
		waitFor(`document.querySelector("[data-testid=notice-decision] [data-testid=decision-action]")?.textContent === "No action"`, 10*time.Second),
		waitFor(`document.querySelector("[data-testid=notice-decision]").textContent.includes("took no action")`, 5*time.Second),
		chromedp.Click(chromedp.CSS("[data-testid=notice-decision] details.complain summary")),
		chromedp.SendKeys(chromedp.CSS(`[data-testid=notice-decision] textarea[name=text]`), "It is a scam: the numbers never win."),
		chromedp.Click(chromedp.CSS("[data-testid=notice-decision] [data-action=complain]")),
		waitFor(`document.querySelector("[data-testid=notice-decision] [data-testid=complaint]")?.textContent.includes("Complaint sent.")`, 10*time.Second))
	var cs struct {
		Complaints []struct{ Complainant string }
	}
	ts.call(t, "GET", "/api/v1/safety/complaints", modTok, nil, &cs)
	if len(cs.Complaints) != 1 || cs.Complaints[0].Complainant != notifierID {
		t.Errorf("complaints: %+v", cs.Complaints)
	}
}

// The queue puts a trusted flagger's notice first, with its badge. The
// moderator plays the reported moment from the queue: the evidence
// segments around it are listed, the one chosen is fetched with the
// moderator's credentials, starts at the moment, and the access is in the
// audit log with the notice as its reason.
func TestBrowserSafetyEvidence(t *testing.T) {
	if inLoopbackNetns(t) {
		return
	}
	ts := startServerWith(t, "", func(c *Config) { c.EvidenceSegment = 2 * time.Second })
	_, hostTok := ts.createUser(t, "host")
	_, modTok := ts.createModerator(t, "nour")
	room := ts.liveRoom(t, hostTok)
	sp := publishTone(t, ts, room, hostTok, &tone{freq: lowHz, amp: toneAmp})
	defer sp.stop()
	type segment struct {
		ID, Track  string
		Start, End time.Time
	}
	var seg segment
	for deadline := time.Now().Add(30 * time.Second); seg.ID == ""; time.Sleep(200 * time.Millisecond) {
		var ev struct{ Segments []segment }
		ts.call(t, "GET", "/api/v1/evidence?room="+room, modTok, nil, &ev)
		var done []segment
		for _, s := range ev.Segments {
			if s.Track == "program" && !s.End.IsZero() {
				done = append(done, s)
			}
		}
		if len(done) >= 2 {
			seg = done[1]
		}
		if time.Now().After(deadline) {
			t.Fatalf("no two finished program segments after 30 s: %+v", ev.Segments)
		}
	}
	var info struct {
		StartedAt time.Time `json:"started_at"`
	}
	ts.call(t, "GET", "/api/v1/rooms/"+room, "", nil, &info)
	from := seg.Start.Sub(info.StartedAt).Seconds() + 1 // one second into the segment
	var rc struct{ ID string }
	if code := ts.call(t, "POST", "/api/v1/reports", "", map[string]any{"kind": "room", "room": room, "from_s": from,
		"category": "STATEMENT_CATEGORY_VIOLENCE", "explanation": "Threats against a named person.", "name": "Lina", "email": "lina@example.org", "good_faith": true}, &rc); code != http.StatusCreated {
		t.Fatalf("report: %d", code)
	}
	// A trusted flagger's notice of a less severe category comes first, with its badge.
	flaggerID, flaggerTok := ts.createUser(t, "watchdog")
	ts.must(t, 200, "PUT", "/api/v1/safety/trusted-flaggers/"+flaggerID, ts.AdminToken(), `{"area":"*"}`)
	var tf struct{ ID string }
	if code := ts.call(t, "POST", "/api/v1/reports", flaggerTok, map[string]any{"kind": "room", "room": room, "from_s": from,
		"category": "STATEMENT_CATEGORY_OTHER_VIOLATION_TC", "explanation": "Advertising against the terms.", "name": "Watchdog", "email": "desk@example.org", "good_faith": true}, &tf); code != http.StatusCreated {
		t.Fatalf("trusted flagger's report: %d", code)
	}

	browser := newBrowser(t)
	log := &browserLog{}
	mod := newTab(t, browser, "moderator", log)
	signIn(t, mod, ts, modTok, "/mod", log)
	run(t, mod, 20*time.Second, "the queue's order and the trusted flagger's badge", log,
		waitFor(`document.querySelectorAll("[data-testid=mod-queue] > li").length === 2`, 10*time.Second))
	order := eval[[]string](t, mod, `[...document.querySelectorAll("[data-testid=mod-queue] > li")].map((li) => li.dataset.notice + ":" + (li.querySelector("[data-testid=trusted]")?.textContent || ""))`)
	if len(order) != 2 || order[0] != tf.ID+":Trusted flagger" || order[1] != rc.ID+":" {
		t.Errorf("queue %q, want the trusted flagger's %s (badged) before %s", order, tf.ID, rc.ID)
	}
	item := fmt.Sprintf(`[data-testid=mod-queue] li[data-notice=%q]`, rc.ID)
	segLi := fmt.Sprintf(`%s [data-testid=evidence] li[data-segment=%q]`, item, seg.ID)
	run(t, mod, 40*time.Second, "play the reported moment", log,
		waitFor(fmt.Sprintf(`document.querySelector(%q) !== null`, item), 10*time.Second),
		chromedp.Click(chromedp.CSS(item+" [data-action=evidence]")),
		waitFor(fmt.Sprintf(`document.querySelector(%q) !== null`, segLi+" [data-action=listen]"), 10*time.Second),
		chromedp.Click(chromedp.CSS(segLi+" [data-action=listen]")),
		waitFor(fmt.Sprintf(`(() => { const a = document.querySelector(%q); return a && a.readyState >= 1 && !a.error && a.duration > 1; })()`, segLi+" audio"), 15*time.Second),
		waitFor(fmt.Sprintf(`Math.abs(document.querySelector(%q).currentTime - %f) < 0.3`, segLi+" audio", from-seg.Start.Sub(info.StartedAt).Seconds()), 10*time.Second))
	var audit struct {
		Rows []struct{ Action, Actor, Reason, Target string }
	}
	ts.call(t, "GET", "/api/v1/audit?action=evidence.access", ts.AdminToken(), nil, &audit)
	found := false
	for _, r := range audit.Rows {
		found = found || r.Reason == "notice "+rc.ID
	}
	if !found {
		t.Errorf("no evidence.access row with the notice as its reason: %+v", audit.Rows)
	}
}

// A suspended user reads the statement of reasons on /safety, here in
// Arabic (the restriction, basis and redress in the page's language, the
// moderator's words as written), and complains; a second moderator
// modifies the decision from /mod (a warning in its place) and the
// suspension is lifted.
func TestBrowserSafetySuspendedArabic(t *testing.T) {
	if inLoopbackNetns(t) {
		return
	}
	ts := startServer(t, "")
	userID, userTok := ts.createUser(t, "fadi")
	_, modTok := ts.createModerator(t, "nour")
	ts.must(t, 201, "POST", "/api/v1/safety/decisions", modTok, fmt.Sprintf(`{"action":"suspend","user":%q,"duration_s":86400,
		"category":"STATEMENT_CATEGORY_SCAMS_AND_FRAUD","ground":"terms","terms_ground":"Terms 4.2","explanation":"Repeated fake giveaways.",
		"facts":"The account announced fake giveaways in three rooms."}`, userID))
	var me struct{ Suspended bool }
	ts.call(t, "GET", "/api/v1/me", userTok, nil, &me)
	if !me.Suspended {
		t.Fatalf("the account is not suspended")
	}
	browser := newBrowser(t)
	log := &browserLog{}
	tab := newTab(t, browser, "suspended-ar", log)
	run(t, tab, 15*time.Second, "Arabic", log,
		chromedp.Navigate(ts.base+"/signin?lang=ar"),
		waitFor(`document.documentElement.dir === "rtl"`, 10*time.Second))
	signIn(t, tab, ts, userTok, "/safety", log)
	art := "[data-testid=my-decisions] article"
	run(t, tab, 20*time.Second, "the statement in Arabic", log,
		waitFor(fmt.Sprintf(`document.querySelector(%q) !== null`, art+" [data-testid=restriction]"), 10*time.Second))
	got := eval[map[string]string](t, tab, fmt.Sprintf(`(() => { const a = document.querySelector(%q); return {
		h1: document.querySelector("main h1").textContent, action: a.querySelector("[data-testid=decision-action]").textContent,
		restriction: a.querySelector("[data-testid=restriction]").textContent, ground: a.querySelector("[data-testid=ground]").textContent,
		text: a.textContent, redress: a.querySelector("[data-testid=redress]").textContent }; })()`, art))
	if got["h1"] != "بلاغاتي والقرارات" || got["action"] != "تعليق الحساب" || got["restriction"] != "عُلّق حسابك." ||
		got["ground"] != "مخالف لشروط الخدمة: Terms 4.2" || !strings.Contains(got["text"], "مبادرة المشرفين") ||
		!strings.Contains(got["text"], "The account announced fake giveaways") || !strings.Contains(got["redress"], "تسوية خارج المحكمة") {
		t.Errorf("statement in Arabic: %q", got)
	}
	run(t, tab, 20*time.Second, "complain while suspended", log,
		chromedp.Click(chromedp.CSS(art+" details.complain summary")),
		chromedp.SendKeys(chromedp.CSS(art+" textarea[name=text]"), "لم تكن هدايا مزيفة، بل مسابقة حقيقية."),
		chromedp.Click(chromedp.CSS(art+" [data-action=complain]")),
		waitFor(fmt.Sprintf(`document.querySelector(%q)?.textContent.includes("أُرسلت الشكوى.")`, art+" [data-testid=complaint]"), 10*time.Second))
	screenshot(t, tab, "safety-ar")

	// Another moderator modifies the decision: a warning in place of the
	// suspension, which is lifted.
	_, mod2Tok := ts.createModerator(t, "salma")
	mod2 := newTab(t, browser, "moderator2", log)
	signIn(t, mod2, ts, mod2Tok, "/mod", log)
	row := `[data-testid=mod-complaints] li[data-complaint]`
	run(t, mod2, 30*time.Second, "modify on complaint", log,
		waitFor(fmt.Sprintf(`document.querySelector(%q)?.textContent.includes("Account suspended")`, row), 10*time.Second),
		pick(row+" select[name=outcome]", "modified"),
		waitFor(fmt.Sprintf(`document.querySelector(%q).offsetParent !== null`, row+" select[name=action]"), 5*time.Second),
		pick(row+" select[name=action]", "warn"),
		chromedp.SendKeys(chromedp.CSS(row+" input[name=ground_ref]"), "Terms 4.2"),
		chromedp.SendKeys(chromedp.CSS(row+" textarea[name=dec_explanation]"), "A first breach: a warning is enough."),
		chromedp.SendKeys(chromedp.CSS(row+" textarea[name=dec_facts]"), "The account announced giveaways that were not held."),
		chromedp.SendKeys(chromedp.CSS(row+" textarea[name=explanation]"), "A suspension was too much for a first breach."),
		chromedp.Click(chromedp.CSS(row+" [data-action=answer]")),
		waitFor(fmt.Sprintf(`document.querySelector(%q)?.textContent === "The decision was replaced by another."`, row+" [data-testid=outcome-result]"), 10*time.Second))
	ts.call(t, "GET", "/api/v1/me", userTok, nil, &me)
	if me.Suspended {
		t.Errorf("the suspension was not lifted by the modified outcome")
	}
	var ds struct {
		Decisions []struct{ Action, Replaces string }
	}
	ts.call(t, "GET", "/api/v1/safety/decisions?mine=1", userTok, nil, &ds)
	replaced := false
	for _, d := range ds.Decisions {
		replaced = replaced || d.Action == "warn" && d.Replaces != ""
	}
	if !replaced {
		t.Errorf("no warning replacing the suspension: %+v", ds.Decisions)
	}
}

// A clip's page reports the clip (the whole of it: no moment).
func TestBrowserSafetyReportClip(t *testing.T) {
	if inLoopbackNetns(t) {
		return
	}
	ts := startServer(t, "")
	_, hostTok := ts.createUser(t, "host")
	_, lisTok := ts.createUser(t, "maker")
	_, modTok := ts.createModerator(t, "nour")
	room := ts.liveRoom(t, hostTok)
	// A clip of the last second, from the program's evidence ring once it holds one.
	var clip struct{ ID string }
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		r := ts.do(t, "POST", "/api/v1/rooms/"+room+"/clips", lisTok, `{"seconds":1}`, nil)
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
	browser := newBrowser(t)
	log := &browserLog{}
	tab := newTab(t, browser, "listener", log)
	run(t, tab, 30*time.Second, "report the clip", log,
		chromedp.Navigate(ts.base+"/c/"+clip.ID),
		waitFor(`document.querySelector("[data-testid=clip-audio]") !== null && document.querySelector("#report-open") !== null`, 10*time.Second),
		chromedp.Click(chromedp.CSS("#report-open")),
		waitFor(`document.querySelectorAll("#report-category option").length > 10`, 10*time.Second),
		waitFor(`[...document.querySelectorAll("#report-kind option")].map((o) => o.value).join() === "clip"`, 5*time.Second),
		pick("#report-category", "STATEMENT_CATEGORY_INTELLECTUAL_PROPERTY_INFRINGEMENTS"),
		chromedp.SendKeys(chromedp.CSS("#report-explanation"), "The clip is a song I hold the rights to."),
		chromedp.SendKeys(chromedp.CSS("#report-name"), "Rami"),
		chromedp.SendKeys(chromedp.CSS("#report-email"), "rami@example.org"),
		chromedp.Click(chromedp.CSS("#report-goodfaith")),
		chromedp.Click(chromedp.CSS("#report-submit")),
		waitFor(`document.querySelector("[data-testid=report-receipt]") !== null`, 10*time.Second))
	id := eval[string](t, tab, `document.querySelector("[data-testid=report-id]").textContent`)
	var n struct{ Kind, Room, Clip string }
	if code := ts.call(t, "GET", "/api/v1/safety/notices/"+id, modTok, nil, &n); code != http.StatusOK || n.Kind != "clip" || n.Clip != clip.ID || n.Room != room {
		t.Errorf("notice %s: %d %+v", id, code, n)
	}
}

// A moderator mutes a speaker on their own initiative from /mod: the
// speaker is muted, and the decision is voluntary with its statement of
// reasons.
func TestBrowserSafetyOwnInitiative(t *testing.T) {
	if inLoopbackNetns(t) {
		return
	}
	ts := startServer(t, "")
	room, _, guestID, guestTok := safetyRoom(t, ts)
	_, modTok := ts.createModerator(t, "nour")
	browser := newBrowser(t)
	log := &browserLog{}
	mod := newTab(t, browser, "moderator", log)
	signIn(t, mod, ts, modTok, "/mod", log)
	form := "[data-testid=own-form]"
	run(t, mod, 30*time.Second, "mute on own initiative", log,
		chromedp.Click(chromedp.CSS("#own-h")),
		waitFor(`document.querySelectorAll("#own-category option").length > 10`, 10*time.Second),
		chromedp.SendKeys(chromedp.CSS("#own-room"), room),
		chromedp.SendKeys(chromedp.CSS("#own-user"), guestID),
		pick("#own-category", "STATEMENT_CATEGORY_VIOLENCE"),
		pick(form+" select[name=action]", "mute"),
		pick(form+" select[name=ground]", "illegal"),
		chromedp.SendKeys(chromedp.CSS(form+" input[name=ground_ref]"), "Art. 241 StGB"),
		chromedp.SendKeys(chromedp.CSS(form+" textarea[name=dec_explanation]"), "Threats of violence on the stage."),
		chromedp.SendKeys(chromedp.CSS(form+" textarea[name=dec_facts]"), "A speaker threatened a named person, heard by a moderator."),
		chromedp.Click(chromedp.CSS(form+" [data-action=decide-own]")),
		waitFor(`document.querySelector("[data-testid=own-result]")?.textContent.includes("Decided: Muted on stage.")`, 10*time.Second))
	var ds struct {
		Decisions []struct {
			Action, Source, User string
			Statement            *struct{ Basis string } `json:"statement_of_reasons"`
		}
	}
	ts.call(t, "GET", "/api/v1/safety/decisions?mine=1", guestTok, nil, &ds)
	if len(ds.Decisions) != 1 || ds.Decisions[0].Action != "mute" || ds.Decisions[0].Source != "SOURCE_VOLUNTARY" ||
		ds.Decisions[0].Statement == nil || ds.Decisions[0].Statement.Basis != "own_initiative" {
		t.Errorf("the speaker's decisions: %+v", ds.Decisions)
	}
	var stv struct {
		Stage []struct {
			ID         string `json:"id"`
			ForcedMute bool   `json:"forced_mute"`
		}
	}
	ts.call(t, "GET", "/api/v1/rooms/"+room+"/state", "", nil, &stv)
	muted := false
	for _, m := range stv.Stage {
		muted = muted || m.ID == guestID && m.ForcedMute
	}
	if !muted {
		t.Errorf("the speaker is not muted: %+v", stv.Stage)
	}
}

// The public transparency report (/transparency), signed out: the counts
// of the current year in English (a notice by a listener, decided "no
// action" on the terms), the CSV link the EU template's layout answers,
// then the page in Arabic, right to left, on a phone without a
// horizontal scroll.
func TestBrowserTransparency(t *testing.T) {
	if inLoopbackNetns(t) {
		return
	}
	ts := startServer(t, "")
	room, _, _, _ := safetyRoom(t, ts)
	_, notifierTok := ts.createUser(t, "lina")
	_, modTok := ts.createModerator(t, "nour")
	noActionNotice(t, ts, room, notifierTok, modTok)

	browser := newBrowser(t)
	log := &browserLog{}
	tab := newTab(t, browser, "public", log)
	figure := func(id string) string {
		return fmt.Sprintf(`document.querySelector("[data-testid=%s] td")?.textContent`, id)
	}
	run(t, tab, 30*time.Second, "the report in English", log,
		chromedp.Navigate(ts.base+"/transparency"),
		waitFor(`document.querySelector("h1")?.textContent === "Transparency report"`, 10*time.Second),
		waitFor(figure("tr-notices-total")+` === "1" && `+figure("tr-decisions-total")+` === "1" && `+figure("tr-complaints-total")+` === "0"`, 10*time.Second),
		waitFor(`document.querySelector("[data-testid=tr-notices]").textContent.includes("Scams and fraud")`, 5*time.Second),
		waitFor(`document.querySelector("[data-testid=tr-decisions]").textContent.includes("Against the terms of service")`, 5*time.Second),
		waitFor(`document.querySelector("[data-testid=tr-partial]") !== null`, 5*time.Second))
	if nav := eval[bool](t, tab, `!document.querySelector("#nav-transparency").hidden`); !nav {
		t.Error("no Transparency link in the navigation for a signed-out visitor")
	}
	year := strconv.Itoa(time.Now().UTC().Year())
	if v := eval[string](t, tab, `document.querySelector("#tr-period").value`); v != year {
		t.Errorf("the period chosen is %q, want %q", v, year)
	}
	csvText := eval[string](t, tab, `fetch(document.querySelector("[data-testid=tr-csv]").href).then((r) => r.text())`)
	if !strings.Contains(csvText, "\nnotices,Art. 15(1)(b),notices_received,STATEMENT_CATEGORY_SCAMS_AND_FRAUD,SOURCE_ARTICLE_16,1,\n") ||
		!strings.Contains(csvText, "\nnotices,Art. 15(1)(b),notices_acted_on,total,no_restriction,1,\n") {
		t.Errorf("the CSV link's file:\n%s", csvText)
	}
	screenshot(t, tab, "transparency-en")
	run(t, tab, 30*time.Second, "the report in Arabic, on a phone", log,
		chromedp.EmulateViewport(390, 844),
		chromedp.Navigate(ts.base+"/transparency?lang=ar&period="+year),
		waitFor(`document.documentElement.dir === "rtl" && document.querySelector("h1")?.textContent === "تقرير الشفافية"`, 10*time.Second),
		waitFor(`["1", "١"].includes(`+figure("tr-notices-total")+`)`, 10*time.Second),
		waitFor(`document.querySelector("[data-testid=tr-notices]").textContent.includes("الاحتيال")`, 5*time.Second),
		waitFor(`document.documentElement.scrollWidth <= document.documentElement.clientWidth`, 3*time.Second))
	screenshot(t, tab, "transparency-ar")
}

// noActionNotice is a notifier's notice of scams in room, claimed and
// decided "no action" on the terms by the moderator; it returns its id.
func noActionNotice(t *testing.T, ts *testServer, room, notifierTok, modTok string) string {
	t.Helper()
	return decidedNotice(t, ts, room, notifierTok, modTok,
		`{"action":"none","ground":"terms","terms_ground":"Terms 4.2","explanation":"A raffle the host runs, not a scam.","facts":"The host announced a raffle."}`)
}

// decidedNotice is a notifier's notice of a room, claimed and decided with
// decision (the body of the decision's request).
func decidedNotice(t *testing.T, ts *testServer, room, notifierTok, modTok, decision string) string {
	t.Helper()
	var rc struct{ ID string }
	if code := ts.call(t, "POST", "/api/v1/reports", notifierTok, map[string]any{"kind": "room", "room": room, "from_s": 1,
		"category": "STATEMENT_CATEGORY_SCAMS_AND_FRAUD", "explanation": "A fake lottery is announced.", "name": "Lina", "email": "lina@example.org", "good_faith": true}, &rc); code != http.StatusCreated {
		t.Fatalf("report: %d", code)
	}
	ts.must(t, 200, "POST", "/api/v1/safety/notices/"+rc.ID+"/claim", modTok, "")
	ts.must(t, 201, "POST", "/api/v1/safety/notices/"+rc.ID+"/decision", modTok, decision)
	return rc.ID
}

// The platform's tools in /mod: an admin marks a trusted flagger (and
// unmarks them, confirming), reads a user's Art. 23 standing, searches the
// audit log and exports the statements of reasons; a moderator sees the
// flaggers but cannot mark one; the tools in Arabic on a phone, right to
// left, with nothing pushed off the page.
func TestBrowserModTools(t *testing.T) {
	if inLoopbackNetns(t) {
		return
	}
	ts := startServer(t, "")
	room, _, guestID, _ := safetyRoom(t, ts)
	modID, modTok := ts.createModerator(t, "nour")
	ts.must(t, 201, "POST", "/api/v1/safety/decisions", modTok, fmt.Sprintf(`{"action":"mute","room":%q,"user":%q,"manifest":true,
		"category":"STATEMENT_CATEGORY_VIOLENCE","ground":"illegal","legal_ground":"Art. 241 StGB","explanation":"Threats.","facts":"Threats heard by a moderator."}`, room, guestID))

	browser := newBrowser(t)
	log := &browserLog{}
	adm := newTab(t, browser, "admin", log)
	dialogs := answerDialogs(t, adm, true)
	signIn(t, adm, ts, ts.AdminToken(), "/mod", log)
	run(t, adm, 30*time.Second, "mark a trusted flagger", log,
		waitFor(`document.querySelectorAll("#flagger-area option").length > 10`, 10*time.Second),
		chromedp.SendKeys(chromedp.CSS("#flagger-user"), guestID),
		pick("#flagger-area", "STATEMENT_CATEGORY_VIOLENCE"),
		chromedp.Click(chromedp.CSS("[data-testid=flagger-form] button[type=submit]")),
		waitFor(fmt.Sprintf(`document.querySelector("[data-flagger='%s']")?.textContent.includes("Violence")`, guestID), 10*time.Second))
	var fl struct {
		Flaggers []struct{ User, Area string } `json:"trusted_flaggers"`
	}
	ts.call(t, "GET", "/api/v1/safety/trusted-flaggers", modTok, nil, &fl)
	if len(fl.Flaggers) != 1 || fl.Flaggers[0].User != guestID || fl.Flaggers[0].Area != "STATEMENT_CATEGORY_VIOLENCE" {
		t.Fatalf("trusted flaggers after marking: %+v", fl.Flaggers)
	}
	run(t, adm, 20*time.Second, "a user's standing", log,
		chromedp.SendKeys(chromedp.CSS("#misuse-user"), guestID),
		chromedp.Click(chromedp.CSS("[data-testid=misuse-h] button[type=submit]")),
		waitFor(`document.querySelector("[data-testid=misuse-strikes] td")?.textContent === "1"`, 10*time.Second))
	if s := eval[string](t, adm, `document.querySelector("[data-testid=misuse-suspended] td").textContent`); s != "No" {
		t.Errorf("strike suspension shown as %q after one strike", s)
	}
	run(t, adm, 20*time.Second, "search the audit log", log,
		chromedp.SendKeys(chromedp.CSS("#audit-action"), "safety.decide"),
		chromedp.Click(chromedp.CSS("[data-testid=audit-form] button[type=submit]")),
		waitFor(`[...document.querySelectorAll("[data-testid=audit-rows] tr")].length === 1 && document.querySelector("[data-testid=audit-rows] tr code")?.textContent === "safety.decide"`, 10*time.Second))
	if row := eval[string](t, adm, `document.querySelector("[data-testid=audit-rows] tr").textContent`); !strings.Contains(row, modID) || !strings.Contains(row, "user:"+guestID) || !strings.Contains(row, "Art. 241 StGB") {
		t.Errorf("audit row %q, want the moderator %s, user:%s and the ground", row, modID, guestID)
	}
	run(t, adm, 20*time.Second, "export the statements", log,
		chromedp.Click(chromedp.CSS("[data-testid=export-h] button[type=submit]")),
		waitFor(`document.querySelector("[data-testid=export-link]")?.download === "statements-all.json"`, 10*time.Second))
	if s := eval[string](t, adm, `document.querySelector("[data-testid=export-out]").textContent`); !strings.HasPrefix(s, "1 statement.") {
		t.Errorf("export: %q, want one statement", s)
	}
	screenshot(t, adm, "mod-tools-en")
	run(t, adm, 20*time.Second, "unmark the flagger", log,
		chromedp.Click(chromedp.CSS(fmt.Sprintf(`[data-flagger='%s'] button`, guestID))),
		waitFor(fmt.Sprintf(`!document.querySelector("[data-flagger='%s']")`, guestID), 10*time.Second))
	if msgs := waitDialogs(t, dialogs, 1, 5*time.Second); !strings.Contains(msgs[0], guestID) {
		t.Errorf("confirmation %q does not name the flagger", msgs[0])
	}
	ts.call(t, "GET", "/api/v1/safety/trusted-flaggers", modTok, nil, &fl)
	if len(fl.Flaggers) != 0 {
		t.Fatalf("trusted flaggers after unmarking: %+v", fl.Flaggers)
	}

	mod := newTab(t, browser, "moderator", log)
	signIn(t, mod, ts, modTok, "/mod", log)
	run(t, mod, 20*time.Second, "a moderator's tools", log,
		waitFor(`!!document.querySelector("[data-testid=flaggers]") && !!document.querySelector("[data-testid=audit-h]")`, 10*time.Second))
	if eval[bool](t, mod, `!!document.querySelector("[data-testid=flagger-form]")`) {
		t.Errorf("a moderator is offered to mark trusted flaggers")
	}

	run(t, adm, 30*time.Second, "the tools in Arabic on a phone", log,
		chromedp.EmulateViewport(390, 844),
		chromedp.Navigate(ts.base+"/mod?lang=ar"),
		waitFor(`document.documentElement.dir === "rtl" && document.querySelector("#audit-h")?.textContent === "سجل التدقيق"`, 10*time.Second),
		waitFor(`document.querySelectorAll("[data-testid=audit-rows] tr[data-seq]").length > 0`, 10*time.Second),
		chromedp.Click(chromedp.CSS("[data-testid=export-h] button[type=submit]")),
		waitFor(`document.querySelector("[data-testid=export-out]")?.textContent.startsWith("بيان واحد.")`, 10*time.Second),
		waitFor(`document.documentElement.scrollWidth <= document.documentElement.clientWidth`, 5*time.Second))
	screenshot(t, adm, "mod-tools-ar")
}

// A notifier whose notices are manifestly unfounded is told on /safety:
// warned after the third (English), their notices suspended after the
// fourth (Arabic), as Art. 23(2) DSA has it.
func TestBrowserSafetyNotifierWarned(t *testing.T) {
	if inLoopbackNetns(t) {
		return
	}
	ts := startServer(t, "")
	room, _, _, _ := safetyRoom(t, ts)
	_, notifierTok := ts.createUser(t, "lina")
	_, modTok := ts.createModerator(t, "nour")
	unfounded := func() {
		decidedNotice(t, ts, room, notifierTok, modTok,
			`{"action":"none","manifest":true,"ground":"terms","terms_ground":"Terms 4.2","explanation":"Nothing like it was said.","facts":"The room's audio has no lottery in it."}`)
	}
	for range 3 {
		unfounded()
	}
	browser := newBrowser(t)
	log := &browserLog{}
	tab := newTab(t, browser, "notifier", log)
	signIn(t, tab, ts, notifierTok, "/safety", log)
	run(t, tab, 20*time.Second, "the warning on /safety", log,
		waitFor(`document.querySelector("[data-testid=standing-warned]")?.textContent.includes("you were warned") && !document.querySelector("[data-testid=my-standing]").hidden`, 10*time.Second))
	unfounded()
	run(t, tab, 20*time.Second, "the suspension on /safety, in Arabic", log,
		chromedp.Navigate(ts.base+"/safety?lang=ar"),
		waitFor(`document.documentElement.dir === "rtl" && document.querySelector("[data-testid=standing-suspended]")?.textContent.startsWith("بلاغاتك موقوفة حتى")`, 10*time.Second))
	if eval[bool](t, tab, `!!document.querySelector("[data-testid=standing-warned]")`) {
		t.Errorf("the suspended notifier is shown the warning as well")
	}
}
