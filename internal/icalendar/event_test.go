package icalendar

import (
	"strings"
	"testing"
	"time"

	"majlis/internal/testkit"
)

// read parses a calendar of one event with testkit.ReadCalendar.
func read(t testing.TB, raw []byte) (testkit.Calendar, map[string]string) {
	t.Helper()
	c, err := testkit.ReadCalendar(raw)
	if err != nil {
		t.Fatalf("%v\n%q", err, raw)
	}
	if len(c.Events) != 1 {
		t.Fatalf("%d events, want 1", len(c.Events))
	}
	return c, c.Events[0]
}

func unescape(t testing.TB, s string) string {
	t.Helper()
	u, err := testkit.Unescape(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func TestText(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"plain", "plain"},
		{"a, b; c", `a\, b\; c`},
		{`back\slash`, `back\\slash`},
		{"one\ntwo\r\nthree\rfour", `one\ntwo\nthree\nfour`},
		{"tab\there", "tab\there"},
		{"bell\x07 and \x1b[31m", "bell and [31m"},
		{"bad \xff byte", "bad  byte"},
		{"أمسية شعر، وقصص؛ للجميع", "أمسية شعر، وقصص؛ للجميع"}, // Arabic comma and semicolon are not TEXT's
	} {
		if got := Text(c.in); got != c.want {
			t.Errorf("Text(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

// A calendar of one event: the required properties, DTSTART in UTC,
// text escaped, long lines (Arabic ones too) folded at 75 octets on
// character boundaries, and everything read back as written.
func TestCalendar(t *testing.T) {
	riyadh := time.FixedZone("AST", 3*3600)
	ev := Event{
		UID:         "abc123@majlis.example",
		Stamp:       time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC),
		Start:       time.Date(2026, 3, 2, 21, 30, 0, 0, riyadh),
		Summary:     "Poetry, prose; and more\nsecond line \\ " + strings.Repeat("مجلس الشعر ", 8),
		Description: "Hosted by أمل.\n\n" + strings.Repeat("ليلة من القصائد والحكايات، ", 6),
		URL:         "https://majlis.example/r/abc123",
	}
	c, got := read(t, Calendar("-//majlis//majlis//EN", ev))
	if c.Folded == 0 {
		t.Fatalf("nothing folded")
	}
	if c.Props["PRODID"] != "-//majlis//majlis//EN" {
		t.Errorf("calendar properties %v", c.Props)
	}
	want := map[string]string{"UID": ev.UID, "DTSTAMP": "20260301T120000Z", "DTSTART": "20260302T183000Z", "URL": ev.URL}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
	for k, v := range map[string]string{"SUMMARY": ev.Summary, "DESCRIPTION": ev.Description} {
		if u := unescape(t, got[k]); u != v {
			t.Errorf("%s reads back %q, want %q", k, u, v)
		}
	}
}

// Whatever the text, the stream's lines keep the rules and the text
// reads back (line breaks as LF, controls and invalid UTF-8 left out).
func FuzzText(f *testing.F) {
	for _, s := range []string{"", "a,b;c\\d", "line\r\nbreak", strings.Repeat("é", 80), strings.Repeat("مجلس", 40), "\xff\xfe", "🎙️" + strings.Repeat("x", 74)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		_, ev := read(t, Calendar("-//majlis//test//EN", Event{UID: s, Summary: s, Description: s, URL: s}))
		want := strings.ToValidUTF8(strings.NewReplacer("\r\n", "\n", "\r", "\n").Replace(s), "")
		want = strings.Map(func(r rune) rune {
			if r != '\n' && r != '\t' && (r < 0x20 || r == 0x7f) {
				return -1
			}
			return r
		}, want)
		if got := unescape(t, ev["SUMMARY"]); got != want {
			t.Fatalf("SUMMARY reads back %q, want %q", got, want)
		}
	})
}
