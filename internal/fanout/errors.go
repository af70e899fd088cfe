package fanout

import (
	"net/http"
	"time"

	"majlis/internal/apierror"
)

// Answers of the hub when it cannot serve a listener (the API's one error
// shape, internal/apierror).
var (
	errShuttingDown = apierror.New(http.StatusServiceUnavailable, "shutting_down", "server shutting down").Retry(time.Second)
	errHTTP1        = apierror.New(http.StatusHTTPVersionNotSupported, "http1_required",
		"this connection cannot carry a listen stream (listen streams take HTTP/1.1, or HTTP/2 for listen.ogg over TLS)")
)

// writeError answers a request the hub cannot serve.
func writeError(w http.ResponseWriter, status int, code, message string) {
	apierror.Write(w, apierror.New(status, code, message))
}

// shuttingDown answers requests that arrive after Close.
func shuttingDown(w http.ResponseWriter) { apierror.Write(w, errShuttingDown) }

// http1Required answers a listen request no path can serve: listen.ws
// over HTTP/2, or a connection without a socket.
func http1Required(w http.ResponseWriter) { apierror.Write(w, errHTTP1) }

// wsHandshakeError answers a listen.ws request that is not a valid
// WebSocket handshake (RFC 6455 4.2.1): the status the RFC asks for, in the
// API's error shape.
func wsHandshakeError(w http.ResponseWriter, status int) {
	code := "websocket_required"
	switch status {
	case http.StatusForbidden:
		code = "forbidden_origin"
	case http.StatusMethodNotAllowed:
		code = "method_not_allowed"
	}
	apierror.Write(w, apierror.New(status, code, "listen.ws needs a WebSocket handshake: "+http.StatusText(status)))
}
