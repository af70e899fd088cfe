package web

import (
	"bytes"
	"context"
	"html"
	"io/fs"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"
)

// RoomPreview is what a shared link to a room (/r/{id}) previews: the
// facts the room domain gives out about it.
type RoomPreview struct {
	Title       string
	Description string
	Host        string    // the host's display name
	State       string    // "scheduled", "live" or "ended"
	StartsAt    time.Time // the scheduled start (zero: none); once live, when it went live
}

// RoomPreviews looks rooms up for the link previews of their pages.
type RoomPreviews interface {
	// RoomPreview describes room id; found is false when there is no such room.
	RoomPreview(ctx context.Context, id string) (p RoomPreview, found bool, err error)
}

// Limits of what a preview shows.
const (
	maxPreviewDesc = 200 // runes of the room's description after its state line
	// titleMarker is the line of index.html the preview's tags replace.
	titleMarker = "<title>majlis</title>"
	startLayout = "2006-01-02 15:04 UTC"
	// ogImage is the previews' image, the app's card (og/card.html
	// renders it): 1200×630, the size Open Graph and Twitter's large
	// summary card show whole.
	ogImage = "/og.png"
)

// ogLocale is og:locale for each language (Open Graph's language_TERRITORY).
var ogLocale = map[string]string{"en": "en_US", "ar": "ar_AR"}

// pages renders the app's index.html with link-preview tags (Open Graph,
// https://ogp.me/, and Twitter's summary card) in its head. Every value
// is HTML-escaped: titles and names are user text.
type pages struct {
	before, after []byte // index.html around titleMarker
	public        string // Config.PublicURL
}

func newPages(files fs.FS, public string) (*pages, error) {
	index, err := fs.ReadFile(files, "index.html")
	if err != nil {
		return nil, err
	}
	before, after, ok := bytes.Cut(index, []byte(titleMarker))
	if !ok {
		return nil, fs.ErrNotExist
	}
	return &pages{before: before, after: after, public: public}, nil
}

// render is index.html for r with the generic tags, or those of room id
// when room is not nil.
func (p *pages) render(r *http.Request, id string, room *RoomPreview) []byte {
	lang := Lang(r)
	t := func(key string, vars ...string) string { return Text(lang, key, vars...) }
	site := t("app.name")
	title, ogTitle, desc, link := site, site, t("app.tagline"), PageURL(p.public, r, "/")
	if room != nil {
		title, ogTitle, link = room.Title+" · "+site, room.Title, PageURL(p.public, r, RoomPath(id))
		switch {
		case room.State == "live":
			desc = t("share.live", "host", room.Host)
		case room.State == "ended":
			desc = t("share.ended", "host", room.Host)
		case !room.StartsAt.IsZero():
			desc = t("share.scheduled", "when", room.StartsAt.UTC().Format(startLayout), "host", room.Host)
		default:
			desc = t("share.upcoming", "host", room.Host)
		}
		if room.Description != "" {
			desc += " · " + clip(strings.Join(strings.Fields(room.Description), " "), maxPreviewDesc)
		}
	}
	var b bytes.Buffer
	b.Grow(len(p.before) + len(p.after) + 1024)
	b.Write(p.before)
	b.WriteString("<title>" + html.EscapeString(title) + "</title>")
	meta := func(attr, name, content string) {
		b.WriteString("\n<meta " + attr + `="` + name + `" content="` + html.EscapeString(content) + `">`)
	}
	meta("name", "description", desc)
	meta("property", "og:title", ogTitle)
	meta("property", "og:description", desc)
	meta("property", "og:type", "website")
	meta("property", "og:url", link)
	meta("property", "og:site_name", site)
	meta("property", "og:locale", ogLocale[lang])
	meta("property", "og:image", PageURL(p.public, r, ogImage))
	meta("property", "og:image:type", "image/png")
	meta("property", "og:image:width", "1200")
	meta("property", "og:image:height", "630")
	meta("property", "og:image:alt", t("share.image.alt"))
	meta("name", "twitter:card", "summary_large_image")
	b.Write(p.after)
	return b.Bytes()
}

// clip shortens s to at most n runes, with an ellipsis when it cut.
func clip(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return strings.TrimSpace(string(r[:n-1])) + "…"
}

// RoomPath is the path of room id's listener page.
func RoomPath(id string) string { return "/r/" + url.PathEscape(id) }

// PageURL is the absolute URL of the app's page at path: under public
// (--public-url, the base URL clients reach this server at) when set, else
// as the client reached this server: its Host, and https when it came
// over TLS or through a trusted proxy that says so (Scheme). Shared links
// and calendar entries need absolute URLs.
func PageURL(public string, r *http.Request, path string) string {
	if public != "" {
		return public + path
	}
	return Scheme(r) + "://" + r.Host + path
}

// httpsKey is the request context's key of a trusted proxy's word that
// its client came over https (WithHTTPS).
type httpsKey struct{}

// WithHTTPS is r marked as reached over https, on the word of a trusted
// reverse proxy (httpapi.Proxies; no other caller may say so).
func WithHTTPS(r *http.Request) *http.Request {
	return r.WithContext(context.WithValue(r.Context(), httpsKey{}, true))
}

// Scheme is the scheme the client used: https when this server
// terminated TLS itself or a trusted proxy said so (WithHTTPS), else http.
// A client's own X-Forwarded-Proto means nothing here.
func Scheme(r *http.Request) string {
	if r.TLS != nil {
		return "https"
	}
	if https, _ := r.Context().Value(httpsKey{}).(bool); https {
		return "https"
	}
	return "http"
}
