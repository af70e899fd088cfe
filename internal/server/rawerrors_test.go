package server

import (
	"bufio"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestMalformedRequestsGetJSON: the answers Go's HTTP server gives before
// any handler runs (malformed escapes and request lines, headers over the
// limit, unknown versions and transfer encodings) carry the documented
// JSON error, on every port of every role: an origin's audience, stage and
// admin ports, and an edge's public and admin ports.
func TestMalformedRequestsGetJSON(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(t, dir)
	cfg.Admission.StageHTTPAddr = "127.0.0.1:0"
	withCluster(&cfg)
	ts := runServer(t, cfg)
	edge, _ := startEdgeWith(t, ts, dir, func(*EdgeConfig) {})
	ports := []struct{ name, addr string }{
		{"audience", ts.HTTPAddr()},
		{"stage", ts.StageAddr()},
		{"admin", ts.AdminAddr()},
		{"edge", edge.HTTPAddr()},
		{"edge admin", edge.AdminAddr()},
	}
	cases := []struct {
		name, req string
		status    int
		code      string
	}{
		{"malformed escape in the path", "GET /api/v1/rooms/%zz HTTP/1.1\r\nHost: x\r\n\r\n", 400, "bad_request"},
		{"malformed escape at the root", "GET /%zz HTTP/1.1\r\nHost: x\r\n\r\n", 400, "bad_request"},
		{"garbage request line", "BOGUS\r\n\r\n", 400, "bad_request"},
		{"headers over the limit", "GET /api/v1/rooms HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("a", 40000) + "\r\n\r\n", 431, "headers_too_large"},
		{"request line over the limit", "GET /" + strings.Repeat("a", 40000) + " HTTP/1.1\r\nHost: x\r\n\r\n", 431, "headers_too_large"},
		{"unknown HTTP version", "GET /api/v1/rooms HTTP/9.9\r\nHost: x\r\n\r\n", 505, "http_version_not_supported"},
		{"unknown transfer encoding", "POST /api/v1/rooms HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n", 501, "not_implemented"},
	}
	for _, p := range ports {
		for _, c := range cases {
			t.Run(p.name+"/"+c.name, func(t *testing.T) { checkRawJSONError(t, p.addr, c.req, c.status, c.code) })
		}
	}
	// An ordinary request on the same port is untouched.
	var list struct{ Rooms []any }
	if code := ts.call(t, "GET", "/api/v1/rooms", "", nil, &list); code != http.StatusOK {
		t.Fatalf("a good request after the bad ones: %d", code)
	}
}

// checkRawJSONError sends req as raw bytes to addr and wants status and
// code in the API's JSON error shape.
func checkRawJSONError(t *testing.T, addr, req string, status int, code string) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	go io.WriteString(conn, req) // the server may answer before reading it all
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		Error struct{ Code, Message string }
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatalf("%d answer is not JSON: %v", resp.StatusCode, err)
	}
	if resp.StatusCode != status || body.Error.Code != code || body.Error.Message == "" ||
		resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("%d %s %+v, want %d %s with a message in JSON", resp.StatusCode, resp.Header.Get("Content-Type"), body, status, code)
	}
}
