package fanout

import (
	"encoding/json"
	"net/http"
)

// writeError answers a request the hub cannot serve with the API's error
// shape, {"error":{"code":…,"message":…}}.
func writeError(w http.ResponseWriter, status int, code, message string) {
	var body struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	body.Error.Code, body.Error.Message = code, message
	b, _ := json.Marshal(body)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

// shuttingDown answers requests that arrive after Close.
func shuttingDown(w http.ResponseWriter) {
	w.Header().Set("Retry-After", "1")
	writeError(w, http.StatusServiceUnavailable, "shutting_down", "server shutting down")
}

// http1Required answers a request whose connection cannot be handed to the
// engine: HTTP/2, TLS terminated in this process, or a connection without
// a socket.
func http1Required(w http.ResponseWriter) {
	writeError(w, http.StatusHTTPVersionNotSupported, "http1_required",
		"listen streams are served over plain HTTP/1.1 (terminate TLS and HTTP/2 in front of this server)")
}
