package server

import (
	"bytes"
	"image/png"
	"net/http"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"
)

// previewTags parses a page and returns its <title> and its meta tags
// (by property or name → content, each seen once), and fails the test on
// a script that is not the app's module or a tag given twice.
func previewTags(t *testing.T, path string, body []byte) (string, map[string]string) {
	t.Helper()
	doc, err := html.Parse(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	title, tags := "", map[string]string{}
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode {
			attr := map[string]string{}
			for _, a := range n.Attr {
				attr[a.Key] = a.Val
			}
			switch n.Data {
			case "title":
				if n.FirstChild != nil {
					title = n.FirstChild.Data
				}
			case "meta":
				key := attr["property"]
				if key == "" {
					key = attr["name"]
				}
				if _, seen := tags[key]; key != "" && seen {
					t.Errorf("%s: %s given twice", path, key)
				}
				if key != "" {
					tags[key] = attr["content"]
				}
			case "script":
				if attr["src"] != "/js/app.js" || n.FirstChild != nil {
					t.Errorf("%s: a script other than the app's: %v", path, attr)
				}
			}
		}
		for c := range n.ChildNodes() {
			walk(c)
		}
	}
	walk(doc)
	return title, tags
}

// A shared room link previews the room: /r/{id} has Open Graph and
// Twitter card tags with its title, its host and whether it is live,
// scheduled (and when) or ended, in the language the client asks for;
// a title with markup and quotes stays text. An unknown room gets the
// generic tags and 404 (the app shows its not-found page).
func TestSharePreview(t *testing.T) {
	ts := startServer(t, "")
	_, tok := ts.createUser(t, "layla")
	const evil = `Poetry <script>alert("x")</script> & 'friends' "tonight"`
	var live struct{ ID string }
	if code := ts.call(t, "POST", "/api/v1/rooms", tok, map[string]string{"title": evil}, &live); code != http.StatusCreated {
		t.Fatalf("create room: %d", code)
	}
	ts.must(t, http.StatusOK, "POST", "/api/v1/rooms/"+live.ID+"/start", tok, "")
	at := time.Now().Add(2 * time.Hour).UTC().Truncate(time.Minute)
	var sched struct{ ID string }
	if code := ts.call(t, "POST", "/api/v1/rooms", tok, map[string]string{"title": "Evening majlis", "description": "Bring\n  a poem",
		"scheduled_at": at.Format(time.RFC3339)}, &sched); code != http.StatusCreated {
		t.Fatalf("create scheduled room: %d", code)
	}
	ended := ts.newRoom(t, tok, "Last week")
	ts.must(t, http.StatusOK, "POST", "/api/v1/rooms/"+ended+"/start", tok, "")
	ts.must(t, http.StatusOK, "POST", "/api/v1/rooms/"+ended+"/end", tok, "")

	for _, c := range []struct {
		name, path, lang string
		status           int
		title            string
		want             map[string]string
	}{
		{"live", "/r/" + live.ID, "en-GB,en;q=0.9", 200, evil + " · majlis", map[string]string{
			"og:title": evil, "og:description": "Live now · hosted by layla", "description": "Live now · hosted by layla",
			"og:url": ts.base + "/r/" + live.ID, "og:locale": "en_US"}},
		{"scheduled", "/r/" + sched.ID, "", 200, "Evening majlis · majlis", map[string]string{
			"og:title": "Evening majlis", "og:description": "Starts " + at.Format("2006-01-02 15:04") + " UTC · hosted by layla · Bring a poem",
			"og:url": ts.base + "/r/" + sched.ID}},
		{"ended", "/r/" + ended, "", 200, "Last week · majlis", map[string]string{
			"og:title": "Last week", "og:description": "Ended · hosted by layla"}},
		{"live, Arabic", "/r/" + live.ID, "ar-SA,ar;q=0.9,en;q=0.5", 200, evil + " · مجلس", map[string]string{
			"og:title": evil, "og:description": "مباشر الآن · يستضيفها layla", "og:site_name": "مجلس", "og:locale": "ar_AR"}},
		{"scheduled, ?lang=ar", "/r/" + sched.ID + "?lang=ar", "en", 200, "Evening majlis · مجلس", map[string]string{
			"og:description": "تبدأ " + at.Format("2006-01-02 15:04") + " UTC · يستضيفها layla · Bring a poem", "og:site_name": "مجلس", "og:locale": "ar_AR"}},
		{"unknown room", "/r/nosuchroom", "", 404, "majlis", map[string]string{
			"og:title": "majlis", "og:description": "Live audio rooms", "og:url": ts.base + "/"}},
		{"home", "/", "", 200, "majlis", map[string]string{"og:title": "majlis", "og:description": "Live audio rooms"}},
	} {
		hdr := map[string]string{}
		if c.lang != "" {
			hdr["Accept-Language"] = c.lang
		}
		code, body, h := ts.get(t, c.path, "", hdr)
		if code != c.status || !strings.HasPrefix(h.Get("Content-Type"), "text/html") || !bytes.Contains(body, []byte(`id="main"`)) {
			t.Errorf("%s: GET %s: %d %q, want %d with the app's page", c.name, c.path, code, h.Get("Content-Type"), c.status)
		}
		if csp := h.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe-") {
			t.Errorf("%s: Content-Security-Policy %q", c.name, csp)
		}
		if bytes.Contains(body, []byte("<script>alert")) {
			t.Errorf("%s: the title's markup is in the page unescaped", c.name)
		}
		title, tags := previewTags(t, c.path, body)
		if title != c.title {
			t.Errorf("%s: <title> %q, want %q", c.name, title, c.title)
		}
		want := map[string]string{"og:type": "website", "twitter:card": "summary_large_image", "og:site_name": "majlis", "og:locale": "en_US",
			"og:image": ts.base + "/og.png", "og:image:type": "image/png", "og:image:width": "1200", "og:image:height": "630",
			"og:image:alt": "majlis: live audio rooms"}
		if c.want["og:site_name"] == "مجلس" {
			want["og:image:alt"] = "مجلس: غرف صوتية مباشرة"
		}
		for k, v := range c.want {
			want[k] = v
		}
		for k, v := range want {
			if tags[k] != v {
				t.Errorf("%s: %s is %q, want %q", c.name, k, tags[k], v)
			}
		}
		if tags["og:url"] == "" || tags["description"] != tags["og:description"] {
			t.Errorf("%s: og:url %q, description %q (og:description %q)", c.name, tags["og:url"], tags["description"], tags["og:description"])
		}
	}
	// The image the tags name is there, and the size they say.
	code, raw, hdr := ts.get(t, "/og.png", "", nil)
	if code != http.StatusOK || hdr.Get("Content-Type") != "image/png" {
		t.Fatalf("GET /og.png: %d %q", code, hdr.Get("Content-Type"))
	}
	if img, err := png.DecodeConfig(bytes.NewReader(raw)); err != nil || img.Width != 1200 || img.Height != 630 {
		t.Fatalf("og.png: %+v %v, want a 1200×630 PNG", img, err)
	}
	// The app still reads the room from the API: the page is the same app.
	var r struct{ Title string }
	if ts.call(t, "GET", "/api/v1/rooms/"+live.ID, "", nil, &r); r.Title != evil {
		t.Fatalf("the room's title is %q", r.Title)
	}
}
