package apierror

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

func TestWrite(t *testing.T) {
	cases := []struct {
		name  string
		err   *Error
		retry string
		extra string
	}{
		{"plain", New(http.StatusNotFound, "not_found", "no such endpoint"), "", ""},
		{"retry rounds up", New(http.StatusTooManyRequests, "queued", "wait").Retry(1500 * time.Millisecond), "2", ""},
		{"retry at least 1", New(http.StatusServiceUnavailable, "shed", "later").Retry(time.Millisecond), "1", ""},
		{"extra fields", New(http.StatusTooManyRequests, "queued", "wait").With(map[string]any{"queue": map[string]int{"position": 3}}), "", "queue"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			Write(rec, c.err)
			if rec.Code != c.err.Status {
				t.Fatalf("status %d, want %d", rec.Code, c.err.Status)
			}
			if got := rec.Header().Get("Retry-After"); got != c.retry {
				t.Fatalf("Retry-After %q, want %q", got, c.retry)
			}
			if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
				t.Fatalf("Content-Type %q", ct)
			}
			var body map[string]json.RawMessage
			if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
				t.Fatal(err)
			}
			var e struct{ Code, Message string }
			if err := json.Unmarshal(body["error"], &e); err != nil || e.Code != c.err.Code || e.Message != c.err.Message {
				t.Fatalf("error body %s (%v)", body["error"], err)
			}
			if c.extra != "" && body[c.extra] == nil {
				t.Fatalf("extra field %q missing: %s", c.extra, rec.Body)
			}
		})
	}
	// Retry and With copy: the shared error is unchanged.
	base := New(http.StatusConflict, "x", "y")
	_ = base.Retry(time.Second).With(map[string]any{"a": 1})
	if base.RetryAfter != 0 || base.Extra != nil {
		t.Fatal("Retry/With changed the shared error")
	}
}
