package web

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"
)

func loadDict(t *testing.T, lang string) map[string]string {
	t.Helper()
	b, err := fs.ReadFile(Files(), "i18n/"+lang+".json")
	if err != nil {
		t.Fatal(err)
	}
	var d map[string]string
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("%s.json: %v", lang, err)
	}
	return d
}

var placeholder = regexp.MustCompile(`\{\w+\}`)

func placeholders(s string) string {
	p := placeholder.FindAllString(s, -1)
	sort.Strings(p)
	return strings.Join(p, ",")
}

// pluralForms are the forms (CLDR plural categories, as Intl.PluralRules
// selects them) each language's counted texts (key.one, key.other…) have.
var pluralForms = map[string][]string{
	"en": {"one", "other"},
	"ar": {"zero", "one", "two", "few", "many", "other"},
}

// pluralKey reports the counted text a key is a form of ("room.listeners"
// for "room.listeners.few").
func pluralKey(k string) (string, bool) {
	i := strings.LastIndex(k, ".")
	if i < 0 {
		return "", false
	}
	switch k[i+1:] {
	case "zero", "one", "two", "few", "many", "other":
		return k[:i], true
	}
	return "", false
}

// Counted texts have every plural form of each language, each with no
// placeholder the other form lacks, and nothing else ({n} may be spelt out:
// "مستمع واحد").
func TestPluralForms(t *testing.T) {
	counted := map[string]bool{}
	for _, lang := range []string{"en", "ar"} {
		for k := range loadDict(t, lang) {
			if base, ok := pluralKey(k); ok {
				counted[base] = true
			}
		}
	}
	if !counted["room.listeners"] {
		t.Fatalf("room.listeners is not a counted text")
	}
	for _, lang := range []string{"en", "ar"} {
		d := loadDict(t, lang)
		for base := range counted {
			other := placeholders(d[base+".other"])
			for _, f := range pluralForms[lang] {
				v, ok := d[base+"."+f]
				if !ok || strings.TrimSpace(v) == "" {
					t.Errorf("%s.json lacks %s.%s", lang, base, f)
					continue
				}
				for _, p := range strings.Split(placeholders(v), ",") {
					if p != "" && !strings.Contains(other, p) {
						t.Errorf("%s.json %s.%s has %s, which %s.other lacks", lang, base, f, p, base)
					}
				}
			}
			if _, ok := d[base]; ok {
				t.Errorf("%s.json has %s besides its plural forms", lang, base)
			}
		}
		for k := range d {
			if base, ok := pluralKey(k); ok && !slices.Contains(pluralForms[lang], k[len(base)+1:]) {
				t.Errorf("%s.json has %s: %s has no such plural form", lang, k, lang)
			}
		}
	}
	if en, ar := placeholders(loadDict(t, "en")["room.listeners.other"]), placeholders(loadDict(t, "ar")["room.listeners.other"]); en != ar {
		t.Errorf("room.listeners.other placeholders differ: en %q, ar %q", en, ar)
	}
}

// Every key exists in both languages, with the same placeholders and no
// empty text (the plural forms of counted texts: TestPluralForms).
func TestTranslationsComplete(t *testing.T) {
	en, ar := loadDict(t, "en"), loadDict(t, "ar")
	for k, v := range en {
		if _, ok := pluralKey(k); ok {
			continue
		}
		a, ok := ar[k]
		if !ok {
			t.Errorf("ar.json lacks %q", k)
			continue
		}
		if strings.TrimSpace(v) == "" || strings.TrimSpace(a) == "" {
			t.Errorf("%q is empty in a language", k)
		}
		if placeholders(v) != placeholders(a) {
			t.Errorf("%q placeholders differ: en %q, ar %q", k, placeholders(v), placeholders(a))
		}
	}
	for k := range ar {
		if _, ok := pluralKey(k); ok {
			continue
		}
		if _, ok := en[k]; !ok {
			t.Errorf("en.json lacks %q", k)
		}
	}
	// Every error code docs/api.md lists in its error tables (rows that
	// start with an HTTP status) has its message (errors.js shows it, and
	// "unknown error (code)" otherwise), but for the codes no page of the
	// web app can meet.
	doc, err := os.ReadFile("../../docs/api.md")
	if err != nil {
		t.Fatal(err)
	}
	row := regexp.MustCompile(`(?m)^\| *[1-5][0-9][0-9] *\|([^|]*)\|`)
	code := regexp.MustCompile("`([a-z][a-z0-9_]*)`")
	n := 0
	for _, m := range row.FindAllStringSubmatch(string(doc), -1) {
		for _, c := range code.FindAllStringSubmatch(m[1], -1) {
			n++
			if _, ok := unseenErrorCodes[c[1]]; ok {
				continue
			}
			if _, ok := en["error."+c[1]]; !ok {
				t.Errorf("error code %s (docs/api.md) has no message: add error.%s to en.json and ar.json, or to unseenErrorCodes if no page can meet it", c[1], c[1])
			}
		}
	}
	if n < 100 {
		t.Fatalf("found only %d error codes in docs/api.md: is the pattern stale?", n)
	}
	for c := range unseenErrorCodes {
		if !strings.Contains(string(doc), "`"+c+"`") {
			t.Errorf("unseenErrorCodes lists %s, which docs/api.md does not", c)
		}
	}
}

// unseenErrorCodes are the documented error codes no page of the web app
// can meet, and why: they need no message.
var unseenErrorCodes = map[string]string{
	"origin_unavailable":         "an edge's events path only: the page reads it with EventSource, which shows no body (it falls back to the origin's stream)",
	"too_many_rooms":             "an edge's events path only: read with EventSource, as above",
	"bad_request":                "Go's HTTP server refusing a malformed request line: browsers send none",
	"headers_too_large":          "request headers over 16 KiB: the app's are small",
	"not_implemented":            "an unknown Transfer-Encoding: browsers send none",
	"http_version_not_supported": "an HTTP version other than 1.x or 2",
	"http1_required":             "a listen stream over a connection that cannot carry it: the player's media element or WebSocket fails, no JSON is read",
	"stream_unavailable":         "a listen stream taken over without a socket: the player reconnects",
	"method_not_allowed":         "the app asks every endpoint with its own method",
	"websocket_required":         "listen.ws without an upgrade: the app opens it as a WebSocket",
	"forbidden_origin":           "listen.ws from another origin: the app is served from the server's own",
	"bad_hls_request":            "LL-HLS query parameters, sent by hls.js, which retries on its own",
	"hls_too_far_ahead":          "an LL-HLS blocking reload past the playlist, by hls.js",
	"hls_not_found":              "an LL-HLS part or segment, fetched and retried by hls.js",
	"hls_timeout":                "an LL-HLS blocking reload, retried by hls.js",
	"bad_prev_ticket":            "the LL-HLS heartbeat's prev ticket: the player's heartbeat joins again",
	"cdn_only":                   "between the origin and its CDN",
	"not_ready":                  "the admin port's /readyz",
}

// Every key the HTML and JavaScript use is translated.
func TestKeysUsedAreTranslated(t *testing.T) {
	en := loadDict(t, "en")
	used := regexp.MustCompile(`(?:\bt\(\s*"|data-i18n(?:-label|-ph)?=")([a-z][a-z0-9_.]*)"`)
	dynamic := regexp.MustCompile("t\\(`([a-z.]+)\\$\\{")
	counted := regexp.MustCompile(`\btn\(\s*"([a-z][a-z0-9_.]*)"`)
	n := 0
	fs.WalkDir(Files(), ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !(strings.HasSuffix(path, ".js") || strings.HasSuffix(path, ".html")) {
			return err
		}
		b, _ := fs.ReadFile(Files(), path)
		for _, m := range used.FindAllStringSubmatch(string(b), -1) {
			n++
			if _, ok := en[m[1]]; !ok {
				t.Errorf("%s uses untranslated key %q", path, m[1])
			}
		}
		for _, m := range counted.FindAllStringSubmatch(string(b), -1) {
			n++
			if _, ok := en[m[1]+".other"]; !ok {
				t.Errorf("%s counts with untranslated key %q", path, m[1])
			}
		}
		for _, m := range dynamic.FindAllStringSubmatch(string(b), -1) {
			found := false
			for k := range en {
				found = found || strings.HasPrefix(k, m[1])
			}
			if !found {
				t.Errorf("%s builds keys %q… that do not exist", path, m[1])
			}
		}
		return nil
	})
	if n < 50 {
		t.Fatalf("found only %d key uses: is the pattern stale?", n)
	}
	for _, s := range []string{"scheduled", "live", "ended", "removed", "waiting"} {
		if _, ok := en["state."+s]; !ok {
			t.Errorf("state.%s missing", s)
		}
	}
}

func TestRoutes(t *testing.T) {
	srv := httptest.NewServer(Handler(Config{}))
	defer srv.Close()
	client := &http.Client{Timeout: 5 * time.Second}
	for _, tc := range []struct {
		path, wantType string
		wantCode       int
		wantBody       string
	}{
		{"/", "text/html", 200, `id="main"`},
		{"/r/abc123", "text/html", 200, `id="main"`},
		{"/studio/abc123", "text/html", 200, `id="main"`},
		{"/c/abc123", "text/html", 200, `id="main"`},
		{"/mod", "text/html", 200, `id="main"`},
		{"/safety", "text/html", 200, `id="main"`},
		{"/transparency", "text/html", 200, `id="main"`},
		{"/report/abc123", "text/html", 200, `id="main"`},
		{"/signin", "text/html", 200, `id="main"`},
		{"/signup", "text/html", 200, `id="main"`},
		{"/js/app.js", "text/javascript", 200, "import"},
		{"/i18n/ar.json", "application/json", 200, "studio.title"},
		{"/app.css", "text/css", 200, "inline-size"},
		{"/r/a/b", "text/html", 404, `id="main"`},
		{"/nope.txt", "text/html", 404, `id="main"`},
		{"/js/", "text/html", 404, `id="main"`},
	} {
		resp, err := client.Get(srv.URL + tc.path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.wantCode || !strings.HasPrefix(resp.Header.Get("Content-Type"), tc.wantType) || !strings.Contains(string(b), tc.wantBody) {
			t.Errorf("GET %s: %d %q, body has %q: %v", tc.path, resp.StatusCode, resp.Header.Get("Content-Type"), tc.wantBody, strings.Contains(string(b), tc.wantBody))
		}
		if resp.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("GET %s: no nosniff", tc.path)
		}
	}
}

// The stylesheet mirrors for RTL through logical properties: no physical left/right.
func TestCSSLogical(t *testing.T) {
	b, _ := fs.ReadFile(Files(), "app.css")
	bad := regexp.MustCompile(`(?m)(?:^|[;{\s])(?:margin|padding|border)-(?:left|right)\b|(?:^|[;{\s])(?:left|right)\s*:|text-align:\s*(?:left|right)|float:\s*(?:left|right)`)
	if m := bad.FindAllString(string(b), -1); len(m) > 0 {
		t.Errorf("physical properties in app.css: %q", m)
	}
}

// Every answer of the app carries the security headers; the policy allows
// no inline script or style and no framing.
func TestSecurityHeaders(t *testing.T) {
	srv := httptest.NewServer(Handler(Config{}))
	defer srv.Close()
	client := &http.Client{Timeout: 5 * time.Second}
	for _, path := range []string{"/", "/r/abc", "/signin", "/js/app.js", "/app.css", "/i18n/en.json", "/no/such/page"} {
		resp, err := client.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		h := resp.Header
		csp := h.Get("Content-Security-Policy")
		for _, want := range []string{"default-src 'self'", "script-src 'self'", "style-src 'self'", "object-src 'none'", "base-uri 'none'", "frame-ancestors 'none'"} {
			if !strings.Contains(csp, want) {
				t.Errorf("GET %s: Content-Security-Policy %q lacks %q", path, csp, want)
			}
		}
		if strings.Contains(csp, "unsafe-") {
			t.Errorf("GET %s: Content-Security-Policy %q allows unsafe sources", path, csp)
		}
		if h.Get("X-Content-Type-Options") != "nosniff" || h.Get("Referrer-Policy") == "" || h.Get("X-Frame-Options") != "DENY" {
			t.Errorf("GET %s: nosniff %q, Referrer-Policy %q, X-Frame-Options %q", path, h.Get("X-Content-Type-Options"), h.Get("Referrer-Policy"), h.Get("X-Frame-Options"))
		}
	}
}

// The app has nothing inline that the policy would refuse: no script
// without src, no <style>, no style attributes (the views set styles
// through the CSSOM, which the policy allows).
func TestNoInlineCode(t *testing.T) {
	bad := regexp.MustCompile(`<script(?:\s[^>]*)?>\s*[^<\s]|<script(?:\s(?:[^s>]|s[^r>])*)?>|<style|\sstyle=|\son[a-z]+=|javascript:`)
	attr := regexp.MustCompile(`setAttribute\(\s*"style"|\{[^}]*\bstyle:|innerHTML|insertAdjacentHTML|document\.write|\beval\(|new Function`)
	fs.WalkDir(Files(), ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.HasPrefix(path, "vendor/") {
			return err
		}
		b, _ := fs.ReadFile(Files(), path)
		switch {
		case strings.HasSuffix(path, ".html"):
			if m := bad.FindAllString(string(b), -1); len(m) > 0 {
				t.Errorf("%s has inline code: %q", path, m)
			}
		case strings.HasSuffix(path, ".js"):
			if m := attr.FindAllString(string(b), -1); len(m) > 0 {
				t.Errorf("%s sets inline styles or markup: %q", path, m)
			}
		}
		return nil
	})
}

// A method the app does not take gets 405 with Allow and the API's JSON
// error, like every error of the public port it shares.
func TestMethodNotAllowedJSON(t *testing.T) {
	srv := httptest.NewServer(Handler(Config{}))
	defer srv.Close()
	client := &http.Client{Timeout: 5 * time.Second}
	for _, method := range []string{http.MethodPost, http.MethodPut, http.MethodDelete} {
		req, _ := http.NewRequest(method, srv.URL+"/r/abc", strings.NewReader("{}"))
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var body struct {
			Error struct{ Code, Message string }
		}
		err = json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != "GET, HEAD" ||
			resp.Header.Get("Content-Type") != "application/json" || err != nil || body.Error.Code != "method_not_allowed" || body.Error.Message == "" {
			t.Errorf("%s: %d Allow %q %s %+v (%v), want 405 method_not_allowed in JSON", method, resp.StatusCode, resp.Header.Get("Allow"), resp.Header.Get("Content-Type"), body, err)
		}
	}
}

// fakePreviews is a RoomPreviews of one room, failing for "broken".
type fakePreviews struct{ id string }

func (f fakePreviews) RoomPreview(_ context.Context, id string) (RoomPreview, bool, error) {
	switch id {
	case f.id:
		return RoomPreview{Title: "Tea & talk", Host: "amal", State: "live"}, true, nil
	case "broken":
		return RoomPreview{}, false, errors.New("store unavailable")
	}
	return RoomPreview{}, false, nil
}

// A room page whose lookup fails is still the app (generic tags, 200: the
// app finds out itself); HEAD answers as GET without a body; the room's
// og:url is its path escaped.
func TestRoomPreviewFallbacks(t *testing.T) {
	srv := httptest.NewServer(Handler(Config{Rooms: fakePreviews{id: "a b"}, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}))
	defer srv.Close()
	client := &http.Client{Timeout: 5 * time.Second}
	for _, c := range []struct {
		method, path string
		code         int
		has          string
	}{
		{"GET", "/r/broken", 200, `<meta property="og:title" content="majlis">`},
		{"GET", "/r/a%20b", 200, `<meta property="og:url" content="` + srv.URL + `/r/a%20b">`},
		{"GET", "/r/a%20b", 200, `<title>Tea &amp; talk · majlis</title>`},
		{"HEAD", "/r/a%20b", 200, ""},
		{"HEAD", "/r/nosuchroom", 404, ""},
		{"GET", "/r/nosuchroom", 404, `<meta property="og:title" content="majlis">`},
	} {
		req, _ := http.NewRequest(c.method, srv.URL+c.path, nil)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != c.code || (c.method == "HEAD") != (len(b) == 0) || !strings.Contains(string(b), c.has) || resp.Header.Get("Vary") != "Accept-Language" {
			t.Errorf("%s %s: %d, Vary %q, body %d bytes, want %d with %q", c.method, c.path, resp.StatusCode, resp.Header.Get("Vary"), len(b), c.code, c.has)
		}
	}
}
