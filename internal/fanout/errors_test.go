package fanout

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"majlis/internal/program"
)

// TestNotHandedOver: a listen request whose connection cannot be handed to
// the engine (no hijacker, no socket) gets a JSON 505
// http1_required, and onEnd runs once; a HEAD gets the stream's headers.
func TestNotHandedOver(t *testing.T) {
	h := NewHub(Config{})
	defer h.Close()
	p := program.New(program.Config{})
	defer p.Close()
	serves := map[string]func(http.ResponseWriter, *http.Request, *program.Program, func(), *Stop){
		"ogg": h.ServeOggDetached, "ws": h.ServeWSDetached,
	}
	for name, serve := range serves {
		t.Run(name+"/recorder", func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "/listen."+name, nil)
			r.Header.Set("Connection", "Upgrade")
			r.Header.Set("Upgrade", "websocket")
			r.Header.Set("Sec-WebSocket-Version", "13")
			r.Header.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
			rec := httptest.NewRecorder()
			ends := 0
			serve(rec, r, p, func() { ends++ }, nil)
			checkJSONError(t, rec.Code, rec.Header(), rec.Body.Bytes(), http.StatusHTTPVersionNotSupported, "http1_required")
			if ends != 1 || h.Listeners() != 0 {
				t.Fatalf("onEnd ran %d times, %d listeners", ends, h.Listeners())
			}
		})
	}
	t.Run("ogg/head", func(t *testing.T) {
		rec := httptest.NewRecorder()
		h.ServeOggDetached(rec, httptest.NewRequest(http.MethodHead, "/listen.ogg", nil), p, func() {}, nil)
		if rec.Code != http.StatusOK || rec.Header().Get("Content-Type") != "audio/ogg" || rec.Body.Len() != 0 {
			t.Fatalf("HEAD: %d %v %q", rec.Code, rec.Header(), rec.Body)
		}
	})
}

func checkJSONError(t *testing.T, status int, hd http.Header, body []byte, wantStatus int, wantCode string) {
	t.Helper()
	var e struct {
		Error struct{ Code, Message string }
	}
	if err := json.Unmarshal(body, &e); err != nil || status != wantStatus ||
		hd.Get("Content-Type") != "application/json" || e.Error.Code != wantCode || e.Error.Message == "" {
		t.Fatalf("answer %d %q (%v), want %d with code %s", status, body, err, wantStatus, wantCode)
	}
}

// TestOggHTTP10: an HTTP/1.0 listener gets the stream unchunked, ended by
// the connection's close.
func TestOggHTTP10(t *testing.T) {
	hh := newHarness(t, Config{}, program.Config{}, 0)
	hh.publish(3, 20, 0)
	conn, err := net.Dial("tcp", hh.srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(conn, "GET /listen.ogg HTTP/1.0\r\nHost: x\r\n\r\n")
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || resp.TransferEncoding != nil || resp.Header.Get("Content-Type") != "audio/ogg" {
		t.Fatalf("response %d %v %v", resp.StatusCode, resp.TransferEncoding, resp.Header)
	}
	waitFor(t, "1 listener", func() bool { return hh.hub.Listeners() == 1 })
	hh.publish(2, 20, 0)
	hh.prog.Close()
	c := newCollector()
	readOgg(resp.Body, c)
	if c.err != io.EOF {
		t.Fatalf("stream ended with %v, want EOF at the close", c.err)
	}
	c.checkConsecutive(t, "http/1.0", 0, 10)
}
