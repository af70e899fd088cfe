// Package web serves majlis's web app: static HTML, CSS and JavaScript
// modules embedded in the binary (no build step), with English and Arabic
// translations.
package web

import (
	"embed"
	"io/fs"
	"net/http"
)

//go:embed static
var static embed.FS

// Handler serves the web app.
func Handler() http.Handler {
	sub, _ := fs.Sub(static, "static")
	return http.FileServerFS(sub)
}
