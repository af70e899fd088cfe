package apierror

import (
	"bufio"
	"bytes"
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

// FuzzJSONForGoError: whatever bytes the server writes, the rewrite only
// ever replaces a plain-text error answer of net/http with a well-formed
// JSON one, and leaves everything else alone.
func FuzzJSONForGoError(f *testing.F) {
	f.Add([]byte("HTTP/1.1 400 Bad Request" + goErrorHeaders + "400 Bad Request"))
	f.Add([]byte("HTTP/1.1 431 Request Header Fields Too Large" + goErrorHeaders + "431 Request Header Fields Too Large"))
	f.Add([]byte("HTTP/1.1 200 OK\r\nDate: x\r\nContent-Length: 2\r\n\r\n{}"))
	f.Add([]byte("HTTP/1.1 4xx" + goErrorHeaders))
	f.Fuzz(func(t *testing.T, b []byte) {
		out, ok := jsonForGoError(b)
		if !ok {
			return
		}
		if !bytes.Contains(b, []byte(goErrorHeaders)) {
			t.Fatalf("rewrote %q, which is not a net/http error answer", b)
		}
		resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(out)), nil)
		if err != nil {
			t.Fatalf("rewritten answer does not parse: %v\n%q", err, out)
		}
		var body struct{ Error struct{ Code string } }
		if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || body.Error.Code == "" {
			t.Fatalf("rewritten body is not the error JSON: %v %q", err, out)
		}
	})
}

// TestRaw: a hijacked connection's answer parses as an HTTP response in
// the one error shape, and closes the connection.
func TestRaw(t *testing.T) {
	b := Raw(New(http.StatusInternalServerError, "stream_unavailable", "this connection cannot carry a stream"))
	resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(b)), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		Error struct{ Code, Message string }
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 500 || !resp.Close || resp.Header.Get("Content-Type") != "application/json" ||
		body.Error.Code != "stream_unavailable" || body.Error.Message == "" {
		t.Errorf("Raw: %d close=%v %q %+v", resp.StatusCode, resp.Close, resp.Header.Get("Content-Type"), body)
	}
}
