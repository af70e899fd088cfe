// Package apierror is the one shape every HTTP error of majlis takes, on
// every port and role: a status, a Retry-After when the client should come
// back, and the body {"error":{"code":"snake_case_code","message":"…"}}
// (plus optional top-level fields, such as a waiting-room queue). Protocol
// packages (httpapi, fanout, edge) build errors with New and answer them
// with Write; the codes are documented in docs/api.md.
package apierror

import (
	"encoding/json"
	"math"
	"net/http"
	"strconv"
	"time"
)

// Error is an API error: its status, stable code and human message.
type Error struct {
	Status  int
	Code    string
	Message string
	// RetryAfter, when positive, is sent as Retry-After (whole seconds, at least 1).
	RetryAfter time.Duration
	// Extra holds top-level body fields beside "error" (e.g. "queue", "pow").
	Extra map[string]any
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// New returns an error with a status, code and message.
func New(status int, code, message string) *Error {
	return &Error{Status: status, Code: code, Message: message}
}

// Retry returns a copy of e that asks the client to come back after d.
func (e *Error) Retry(d time.Duration) *Error {
	c := *e
	c.RetryAfter = d
	return &c
}

// With returns a copy of e with extra top-level body fields.
func (e *Error) With(extra map[string]any) *Error {
	c := *e
	c.Extra = extra
	return &c
}

// Write answers the request with e.
func Write(w http.ResponseWriter, e *Error) {
	if e.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(RetrySeconds(e.RetryAfter)))
	}
	body := make(map[string]any, 1+len(e.Extra))
	for k, v := range e.Extra {
		body[k] = v
	}
	body["error"] = map[string]string{"code": e.Code, "message": e.Message}
	WriteJSON(w, e.Status, body)
}

// RetrySeconds is d as a Retry-After value: whole seconds, rounded up, at least 1.
func RetrySeconds(d time.Duration) int {
	return max(int(math.Ceil(d.Seconds())), 1)
}

// WriteJSON answers with v as JSON, never cached.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}
