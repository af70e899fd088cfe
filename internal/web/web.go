// Package web serves majlis's web app: static HTML, CSS and JavaScript
// modules embedded in the binary (no build step), with English and Arabic
// translations in static/i18n.
//
// The app routes in the browser; the handler answers its paths (/r/{id},
// /studio/{id}, /c/{id}, /report/{id}, /mod, /safety, /transparency, /signin, /signup) with index.html so that links and
// reloads work, serves the files of the tree, and answers any other path
// with index.html and status 404 (the app then shows its not-found page).
package web

import (
	"embed"
	"io/fs"
	"net/http"
	"strings"

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

// Handler serves the web app.
func Handler() http.Handler {
	files := Files()
	fileServer := http.FileServerFS(files)
	index, err := fs.ReadFile(files, "index.html")
	if err != nil {
		panic(err) // the embedded tree always has index.html
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
		if appPath(r.URL.Path) {
			http.ServeFileFS(w, r, files, "index.html")
			return
		}
		if !isFile(files, r.URL.Path) {
			// The app's own not-found page (its router shows it), with the status.
			h.Set("Content-Type", "text/html; charset=utf-8")
			w.WriteHeader(http.StatusNotFound)
			if r.Method == http.MethodGet {
				w.Write(index)
			}
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
