package server

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"majlis/internal/testkit"
)

// A scheduled room's calendar entry (RFC 5545) reads back strictly: CRLF,
// lines folded at 75 octets, TEXT escaped (commas, semicolons, line
// breaks, backslashes; Arabic kept whole), DTSTART the scheduled time in
// UTC, the room's page as URL. A room without one answers the API's JSON
// errors: unknown 404 room_not_found, ended 410 room_ended, scheduled
// without a time 409 no_start_time.
func TestRoomCalendar(t *testing.T) {
	ts := startServer(t, "")
	_, tok := ts.createUser(t, "layla")
	const title = `Poetry, prose; and "more" \ أمسية شعر، للجميع`
	desc := "Bring a poem,\nor two; all welcome.\n" + strings.TrimSpace(strings.Repeat("أهلاً وسهلاً بكم في مجلسنا، ", 5))
	at := time.Now().Add(3 * time.Hour).UTC().Truncate(time.Second)
	var r struct{ ID string }
	if code := ts.call(t, "POST", "/api/v1/rooms", tok, map[string]string{"title": title, "description": desc,
		"scheduled_at": at.In(time.FixedZone("AST", 3*3600)).Format(time.RFC3339)}, &r); code != http.StatusCreated {
		t.Fatalf("create room: %d", code)
	}
	before := time.Now().UTC().Add(-time.Second)
	code, raw, hdr := ts.get(t, "/api/v1/rooms/"+r.ID+"/calendar.ics", "", nil)
	if code != http.StatusOK || hdr.Get("Content-Type") != "text/calendar; charset=utf-8" {
		t.Fatalf("GET calendar.ics: %d %q %q", code, hdr.Get("Content-Type"), raw)
	}
	cal, err := testkit.ReadCalendar(raw)
	if err != nil {
		t.Fatalf("%v\n%s", err, raw)
	}
	if len(cal.Events) != 1 || cal.Folded == 0 {
		t.Fatalf("%d events, %d folded lines, want one event with long lines folded\n%s", len(cal.Events), cal.Folded, raw)
	}
	ev := cal.Events[0]
	link := ts.base + "/r/" + r.ID
	if ev["DTSTART"] != at.Format("20060102T150405Z") || ev["URL"] != link || !strings.HasPrefix(ev["UID"], "room-"+r.ID+"@") {
		t.Errorf("DTSTART %q (want %s in UTC), URL %q, UID %q", ev["DTSTART"], at, ev["URL"], ev["UID"])
	}
	stamp, err := time.Parse("20060102T150405Z", ev["DTSTAMP"])
	if err != nil || stamp.Before(before.Truncate(time.Second)) || stamp.After(time.Now().Add(time.Second)) {
		t.Errorf("DTSTAMP %q (%v), want now in UTC", ev["DTSTAMP"], err)
	}
	if !strings.Contains(ev["SUMMARY"], `\,`) || !strings.Contains(ev["SUMMARY"], `\;`) || !strings.Contains(ev["SUMMARY"], `\\`) {
		t.Errorf("SUMMARY %q does not escape , ; \\", ev["SUMMARY"])
	}
	if s, err := testkit.Unescape(ev["SUMMARY"]); err != nil || s != title {
		t.Errorf("SUMMARY reads %q (%v), want %q", s, err, title)
	}
	d, err := testkit.Unescape(ev["DESCRIPTION"])
	if err != nil || !strings.HasPrefix(d, desc+"\n\n") || !strings.Contains(d, "Hosted by layla") || !strings.Contains(d, link) {
		t.Errorf("DESCRIPTION reads %q (%v), want the description, the host and the link", d, err)
	}

	// In Arabic: asked by the app (?lang=ar) or by the browser's language.
	for _, c := range []struct {
		query  string
		header map[string]string
	}{{"?lang=ar", nil}, {"", map[string]string{"Accept-Language": "ar-SA,ar;q=0.9,en;q=0.5"}}} {
		code, raw, hdr := ts.get(t, "/api/v1/rooms/"+r.ID+"/calendar.ics"+c.query, "", c.header)
		if code != http.StatusOK || !strings.Contains(hdr.Get("Vary"), "Accept-Language") {
			t.Fatalf("GET calendar.ics%s: %d, Vary %q", c.query, code, hdr.Get("Vary"))
		}
		cal, err := testkit.ReadCalendar(raw)
		if err != nil || len(cal.Events) != 1 {
			t.Fatalf("%v\n%s", err, raw)
		}
		d, err := testkit.Unescape(cal.Events[0]["DESCRIPTION"])
		if err != nil || !strings.Contains(d, "يستضيفها layla") || strings.Contains(d, "Hosted by") || !strings.Contains(d, link) {
			t.Errorf("%s %v: DESCRIPTION reads %q (%v), want the host in Arabic and the link", c.query, c.header, d, err)
		}
	}

	untimed := ts.newRoom(t, tok, "Whenever")
	ended := ts.newRoom(t, tok, "Done")
	ts.must(t, http.StatusOK, "POST", "/api/v1/rooms/"+ended+"/start", tok, "")
	ts.must(t, http.StatusOK, "POST", "/api/v1/rooms/"+ended+"/end", tok, "")
	for _, c := range []struct {
		id     string
		status int
		code   string
	}{{"nosuchroom", 404, "room_not_found"}, {ended, 410, "room_ended"}, {untimed, 409, "no_start_time"}} {
		if res := ts.do(t, "GET", "/api/v1/rooms/"+c.id+"/calendar.ics", "", "", nil); res.status != c.status || res.code != c.code {
			t.Errorf("calendar.ics of %s: %d %q, want %d %s", c.id, res.status, res.code, c.status, c.code)
		}
	}
}

// TestPublicURLLinks: with --public-url the absolute links a server gives
// out (a room's calendar entry, its link preview's og:url and og:image)
// are under that URL, whatever Host the request named; without it they
// follow the request, and a client's own X-Forwarded-Proto does not turn
// them https (only a trusted proxy's does: TestProxyTLS).
func TestPublicURLLinks(t *testing.T) {
	const public = "https://majlis.example:8443"
	for _, c := range []struct {
		name, public string
		hdr          map[string]string
	}{
		{"public url", public, map[string]string{"X-Forwarded-Proto": "http"}},
		{"from the request", "", map[string]string{"X-Forwarded-Proto": "https"}},
	} {
		ts := startServerWith(t, "", func(cfg *Config) { cfg.PublicURL = c.public })
		_, tok := ts.createUser(t, "layla")
		var r struct{ ID string }
		if code := ts.call(t, "POST", "/api/v1/rooms", tok, map[string]string{"title": "Links",
			"scheduled_at": time.Now().Add(time.Hour).UTC().Format(time.RFC3339)}, &r); code != http.StatusCreated {
			t.Fatalf("%s: create room: %d", c.name, code)
		}
		base, host := c.public, "majlis.example"
		if base == "" {
			base = ts.base
			u, _ := url.Parse(ts.base)
			host = u.Hostname()
		}
		code, raw, _ := ts.get(t, "/api/v1/rooms/"+r.ID+"/calendar.ics", "", c.hdr)
		cal, err := testkit.ReadCalendar(raw)
		if code != http.StatusOK || err != nil || len(cal.Events) != 1 {
			t.Fatalf("%s: calendar.ics: %d %v\n%s", c.name, code, err, raw)
		}
		d, _ := testkit.Unescape(cal.Events[0]["DESCRIPTION"])
		if ev := cal.Events[0]; ev["URL"] != base+"/r/"+r.ID || ev["UID"] != "room-"+r.ID+"@"+host || !strings.HasSuffix(d, "\n"+base+"/r/"+r.ID) {
			t.Errorf("%s: URL %q, UID %q, DESCRIPTION %q, want the link under %s", c.name, ev["URL"], ev["UID"], d, base)
		}
		code, body, _ := ts.get(t, "/r/"+r.ID, "", c.hdr)
		if code != http.StatusOK {
			t.Fatalf("%s: /r/%s: %d", c.name, r.ID, code)
		}
		_, tags := previewTags(t, "/r/"+r.ID, body)
		if tags["og:url"] != base+"/r/"+r.ID || tags["og:image"] != base+"/og.png" {
			t.Errorf("%s: og:url %q, og:image %q, want them under %s", c.name, tags["og:url"], tags["og:image"], base)
		}
	}
}
