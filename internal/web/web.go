// Package web serves majlis's web app: static HTML, CSS and JavaScript
// modules embedded in the binary (no build step), with English and Arabic
// translations in static/i18n.
//
// The app routes in the browser; the handler answers its paths (/r/{id},
// /studio/{id}, /c/{id}, /report/{id}, /mod, /safety, /transparency, /signin, /signup) with index.html so that links and
// reloads work, serves the files of the tree, and answers any other path
// with index.html and status 404 (the app then shows its not-found page).
//
// index.html's head carries link-preview tags (Open Graph, Twitter's
// summary card), rendered per request: a room's page (/r/{id}) previews
// the room as Config.Rooms describes it (its title, host, and whether it is
// live, scheduled and when, or ended); every other page, and a room that
// does not exist (answered 404, the app shows its not-found page), the
// app's generic ones. Nothing inline is added: the policy stays as strict.
package web

import (
	"bytes"
	"embed"
	"io/fs"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"majlis/internal/apierror"
)

// errMethod answers a request for the app with another method than GET or
// HEAD, in the API's error shape like every error of the public port.
var errMethod = apierror.New(http.StatusMethodNotAllowed, "method_not_allowed", "the web app takes GET and HEAD")

//go:embed static
var static embed.FS

// Files is the app's file tree (index.html, js/, i18n/, app.css).
func Files() fs.FS {
	sub, err := fs.Sub(static, "static")
	if err != nil {
		panic(err) // the embedded tree always has static/
	}
	return sub
}

// roomPage reports the room id of a room's listener page (/r/{id}).
func roomPage(path string) (string, bool) {
	id, ok := strings.CutPrefix(path, "/r/")
	return id, ok && id != "" && !strings.Contains(id, "/")
}

// appPath reports whether path is one of the app's own pages.
func appPath(path string) bool {
	switch path {
	case "/", "/mod", "/safety", "/transparency", "/signin", "/signup":
		return true
	}
	for _, p := range []string{"/r/", "/studio/", "/c/", "/report/"} {
		if id, ok := strings.CutPrefix(path, p); ok && id != "" && !strings.Contains(id, "/") {
			return true
		}
	}
	return false
}

// contentSecurityPolicy allows the app's own files and nothing inline: no
// inline script or style (views set styles through the CSSOM, which the
// policy allows), no plugins, no framing. Listen streams may come from an
// edge or a CDN named in the join answer (absolute URLs on any host), hence
// the scheme sources for connect-src and media-src; blob: carries hls.js's
// Media Source buffers.
const contentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"font-src 'self'; connect-src 'self' http: https: ws: wss:; media-src 'self' blob: http: https:; " +
	"worker-src 'self' blob:; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// Config holds the web app's dependencies.
type Config struct {
	// Rooms describes rooms for the previews of their links; nil: every
	// page has the generic tags.
	Rooms RoomPreviews
	// Logger logs a room lookup that failed (the page is served with the
	// generic tags); nil: slog.Default().
	Logger *slog.Logger
	// PublicURL is the base URL (scheme://host[:port], no trailing slash)
	// clients reach the server at (--public-url), the base of the
	// previews' absolute links; empty: as each request reached it
	// (PageURL).
	PublicURL string
}

// Handler serves the web app.
func Handler(cfg Config) http.Handler {
	files := Files()
	fileServer := http.FileServerFS(files)
	pages, err := newPages(files, cfg.PublicURL)
	if err != nil {
		panic(err) // the embedded tree always has index.html with its title and both dictionaries
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	// page answers with index.html, its tags for room id when room is not nil.
	page := func(w http.ResponseWriter, r *http.Request, status int, id string, room *RoomPreview) {
		h := w.Header()
		h.Set("Content-Type", "text/html; charset=utf-8")
		h.Add("Vary", "Accept-Language") // the tags' language
		body := pages.render(r, id, room)
		if status != http.StatusOK {
			w.WriteHeader(status)
			if r.Method == http.MethodGet {
				w.Write(body)
			}
			return
		}
		http.ServeContent(w, r, "index.html", time.Time{}, bytes.NewReader(body))
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			apierror.Write(w, errMethod)
			return
		}
		h := w.Header()
		h.Set("Content-Security-Policy", contentSecurityPolicy)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "same-origin")
		h.Set("X-Frame-Options", "DENY") // frame-ancestors for browsers without CSP 2
		// The app is small and changes with the binary: revalidate rather than cache stale code.
		h.Set("Cache-Control", "no-cache")
		if id, ok := roomPage(r.URL.Path); ok && cfg.Rooms != nil {
			room, found, err := cfg.Rooms.RoomPreview(r.Context(), id)
			switch {
			case err != nil:
				log.Warn("room preview", "room", id, "err", err)
				page(w, r, http.StatusOK, "", nil) // the app finds out itself
			case !found:
				page(w, r, http.StatusNotFound, "", nil) // the app shows that the room does not exist
			default:
				page(w, r, http.StatusOK, id, &room)
			}
			return
		}
		if appPath(r.URL.Path) {
			page(w, r, http.StatusOK, "", nil)
			return
		}
		if !isFile(files, r.URL.Path) {
			// The app's own not-found page (its router shows it), with the status.
			page(w, r, http.StatusNotFound, "", nil)
			return
		}
		fileServer.ServeHTTP(w, r)
	})
}

// isFile reports whether path names a file of the tree (not a folder: the
// app lists none).
func isFile(files fs.FS, path string) bool {
	name := strings.TrimPrefix(path, "/")
	if name == "" || !fs.ValidPath(name) {
		return false
	}
	st, err := fs.Stat(files, name)
	return err == nil && !st.IsDir()
}
