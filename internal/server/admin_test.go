package server

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"majlis/internal/metrics"
)

// TestAdminErrorsJSON: the admin port's own refusals (an unknown path, a
// method a path does not take) are the API's JSON error, /readyz answers
// JSON, and /healthz stays the plain "ok" scripts read.
func TestAdminErrorsJSON(t *testing.T) {
	ts := startServer(t, "")
	admin := "http://" + ts.AdminAddr()
	for _, c := range []struct {
		method, path string
		status       int
		code, allow  string
	}{
		{"GET", "/nope", http.StatusNotFound, "not_found", ""},
		{"POST", "/metrics", http.StatusMethodNotAllowed, "method_not_allowed", "GET, HEAD"},
		{"DELETE", "/readyz", http.StatusMethodNotAllowed, "method_not_allowed", "GET, HEAD"},
	} {
		req, _ := http.NewRequest(c.method, admin+c.path, nil)
		resp, err := testHTTP.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		code, msg := decodeAPIError(t, resp)
		if resp.StatusCode != c.status || code != c.code || msg == "" || resp.Header.Get("Allow") != c.allow {
			t.Errorf("%s %s = %d %q %q (Allow %q), want %d %s (Allow %q)", c.method, c.path, resp.StatusCode, code, msg, resp.Header.Get("Allow"), c.status, c.code, c.allow)
		}
	}
	// Serve marks the server ready once every port serves, a moment after
	// the admin port answers: until then /readyz says 503.
	var resp *http.Response
	var err error
	var ready struct{ Status string }
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if resp, err = testHTTP.Get(admin + "/readyz"); err != nil {
			t.Fatal(err)
		}
		err = json.NewDecoder(resp.Body).Decode(&ready)
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK || time.Now().After(deadline) {
			break
		}
	}
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/json" || err != nil || ready.Status != "ready" {
		t.Errorf("/readyz while serving = %d %s %+v (%v), want 200 {\"status\":\"ready\"}", resp.StatusCode, resp.Header.Get("Content-Type"), ready, err)
	}
	resp, err = testHTTP.Get(admin + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || string(b) != "ok\n" {
		t.Errorf("/healthz = %d %q, want 200 ok", resp.StatusCode, b)
	}
}

// TestReadyzNotReadyJSON: while starting or shutting down, /readyz is
// 503 not_ready in the API's JSON with Retry-After.
func TestReadyzNotReadyJSON(t *testing.T) {
	var ready atomic.Bool
	rec := httptest.NewRecorder()
	adminHandler(metrics.New(nil), &ready).ServeHTTP(rec, httptest.NewRequest("GET", "/readyz", nil))
	code, msg := decodeAPIError(t, rec.Result())
	if rec.Code != http.StatusServiceUnavailable || code != "not_ready" || msg == "" || rec.Header().Get("Retry-After") == "" {
		t.Fatalf("/readyz not ready = %d %q %q (Retry-After %q), want 503 not_ready with Retry-After", rec.Code, code, msg, rec.Header().Get("Retry-After"))
	}
}

// decodeAPIError reads an answer that must be the API's JSON error and
// returns its code and message.
func decodeAPIError(t *testing.T, resp *http.Response) (code, message string) {
	t.Helper()
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var body struct {
		Error struct{ Code, Message string }
	}
	if !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") || json.Unmarshal(b, &body) != nil {
		t.Errorf("%d %s %q is not the JSON error", resp.StatusCode, resp.Header.Get("Content-Type"), b)
	}
	return body.Error.Code, body.Error.Message
}
