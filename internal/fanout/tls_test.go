package fanout

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"

	"majlis/internal/program"
)

// tlsHarness is a hub behind an HTTPS server on 127.0.0.1 (HTTP/2 offered
// when h2), with a short ReadTimeout that a stream must outlive; protos
// counts the requests by major HTTP version.
func tlsHarness(t *testing.T, cfg Config, pcfg program.Config, sndbuf int, h2 bool) (*harness, *[3]atomic.Int32) {
	t.Helper()
	var protos [3]atomic.Int32
	hh := newHarnessStart(t, cfg, pcfg, sndbuf, func(s *httptest.Server) {
		next := s.Config.Handler
		s.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			protos[min(r.ProtoMajor, 2)].Add(1)
			next.ServeHTTP(w, r)
		})
		s.Config.ReadTimeout = 300 * time.Millisecond
		s.Config.IdleTimeout = time.Minute // not the ReadTimeout: an idle connection stays
		s.EnableHTTP2 = h2
		s.StartTLS()
	})
	return hh, &protos
}

// tlsStreamClient is the harness's HTTPS client for streams (bounded by
// each stream's context, as streamHTTP).
func tlsStreamClient(hh *harness) *http.Client {
	c := *hh.srv.Client()
	tr := c.Transport.(*http.Transport).Clone()
	tr.ResponseHeaderTimeout = 10 * time.Second
	c.Transport = tr
	return &c
}

// TestTLSListeners: with TLS terminated in the process, listen.ogg (over
// HTTP/1.1 and HTTP/2) and listen.ws (wss) play every frame in order for
// longer than the server's ReadTimeout, answer pings, end cleanly with the
// program, and count in the listeners gauge and the byte counters.
func TestTLSListeners(t *testing.T) {
	for _, h2 := range []bool{false, true} {
		name := map[bool]string{false: "http1.1", true: "h2"}[h2]
		t.Run(name, func(t *testing.T) {
			hh, protos := tlsHarness(t, Config{}, program.Config{}, 0, h2)
			hh.publish(3, 200, 0)
			ctx := t.Context()
			client := tlsStreamClient(hh)
			ogg := oggClientWith(t, ctx, client, hh.srv.URL+"/listen.ogg")
			want := 1
			var ws *collector
			if !h2 { // WebSocket is HTTP/1.1 (no extended CONNECT in net/http)
				ws = wsClientWith(t, ctx, &websocket.DialOptions{HTTPClient: client}, hh.srv.URL+"/listen.ws", 1)
				pinger, _, err := websocket.Dial(ctx, "wss"+strings.TrimPrefix(hh.srv.URL, "https")+"/listen.ws", &websocket.DialOptions{HTTPClient: client})
				if err != nil {
					t.Fatal(err)
				}
				defer pinger.CloseNow()
				go func() { // reads (and drops) the chunks, so the pong is seen
					for {
						if _, _, err := pinger.Read(ctx); err != nil {
							return
						}
					}
				}()
				pingCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
				if err := pinger.Ping(pingCtx); err != nil {
					t.Errorf("ping over wss: %v", err)
				}
				cancel()
				pinger.CloseNow()
				want = 2
			}
			var raw net.Conn
			if !h2 { // a bare reader: the connection itself ends with the stream
				raw = dialTLSSmallWindow(t, hh.srv.Listener.Addr().String(), "/listen.ogg")
				want++
			}
			waitFor(t, fmt.Sprint(want, " listeners"), func() bool { return hh.hub.Listeners() == want })
			hh.publish(40, 200, 20*time.Millisecond) // 800 ms: past the ReadTimeout
			hh.prog.Close()
			end := hh.prog.Head() * 2
			ogg.wait(t)
			ogg.checkConsecutive(t, "ogg", 0, end)
			if ogg.err != io.EOF {
				t.Errorf("ogg ended with %v, want EOF (a clean end)", ogg.err)
			}
			if ws != nil {
				ws.wait(t)
				ws.checkConsecutive(t, "ws", 0, end)
				if websocket.CloseStatus(ws.err) != websocket.StatusNormalClosure {
					t.Errorf("ws ended with %v, want a normal closure", ws.err)
				}
			}
			if raw != nil {
				_ = raw.SetReadDeadline(time.Now().Add(5 * time.Second))
				if n, err := io.Copy(io.Discard, raw); err != nil || n == 0 {
					t.Errorf("bare ogg reader: %d bytes, %v; want the stream, then the connection closed", n, err)
				}
			}
			waitFor(t, "no listeners", func() bool { return hh.hub.Listeners() == 0 })
			if got := protos[2].Load() > 0; got != h2 {
				t.Errorf("HTTP/2 requests: %d, want them %v", protos[2].Load(), h2)
			}
			if b := hh.metric(t, "majlis_listener_bytes_sent_total", "ogg"); b < float64(end*200) {
				t.Errorf("ogg bytes sent %v, want ≥ %d", b, end*200)
			}
			oggListeners := map[bool]uint64{false: 2, true: 1}[h2]
			if c := hh.metric(t, "majlis_listener_chunks_sent_total", "ogg"); c != float64(end/2*oggListeners) {
				t.Errorf("ogg chunks sent %v, want %d", c, end/2*oggListeners)
			}
		})
	}
}

// dialTLSSmallWindow is dialSmallWindow over TLS.
func dialTLSSmallWindow(t *testing.T, addr, path string) net.Conn {
	t.Helper()
	d := net.Dialer{Timeout: 5 * time.Second, Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		err := rc.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 2048)
		})
		if err != nil {
			return err
		}
		return serr
	}}
	raw, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	conn := tls.Client(raw, &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"http/1.1"}}) // the test's own server on loopback
	t.Cleanup(func() { conn.Close() })
	upgrade := ""
	if strings.HasSuffix(path, ".ws") {
		upgrade = "Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n" +
			"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
	}
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: %s\r\n%s\r\n", path, addr, upgrade); err != nil {
		t.Fatal(err)
	}
	_ = conn.SetDeadline(time.Time{})
	return conn
}

// TestTLSSlowListener: the hub's policy holds for listeners over TLS: one
// that never reads is dropped by the write timeout, one that reads slower
// than real time is skipped forward MaxSkips times, then dropped; a fast
// listener on the same program gets every frame.
func TestTLSSlowListener(t *testing.T) {
	readSlowly := func(c net.Conn) {
		buf := make([]byte, 512)
		for {
			if _, err := c.Read(buf); err != nil {
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	for _, tc := range []struct {
		name      string
		proto     string
		read      func(net.Conn)
		wantSkips bool
	}{
		{"never reads", "ogg", func(net.Conn) {}, false},
		{"ws never reads", "ws", func(net.Conn) {}, false},
		{"reads slowly", "ogg", readSlowly, true},
		{"ws reads slowly", "ws", readSlowly, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := Config{MaxBacklog: 25, MaxSkips: 2, WriteTimeout: 400 * time.Millisecond}
			hh, _ := tlsHarness(t, cfg, program.Config{RingChunks: 256}, 8<<10, false)
			hh.publish(10, 1000, 0)
			fast := oggClientWith(t, t.Context(), tlsStreamClient(hh), hh.srv.URL+"/listen.ogg")
			slow := dialTLSSmallWindow(t, hh.srv.Listener.Addr().String(), "/listen."+tc.proto)
			go tc.read(slow)
			waitFor(t, "2 listeners", func() bool { return hh.hub.Listeners() == 2 })
			published := 0
			for ; published < 1000; published += 25 {
				hh.publish(25, 1000, 2*time.Millisecond)
				if hh.hub.Listeners() == 1 && published > 100 {
					break
				}
			}
			if hh.hub.Listeners() != 1 {
				t.Fatalf("slow listener still connected after %d chunks", published)
			}
			hh.prog.Close()
			fast.wait(t)
			fast.checkConsecutive(t, "fast ogg", 10, hh.prog.Head()*2)
			if got := hh.metric(t, "majlis_slow_listener_drops_total", tc.proto); got != 1 {
				t.Errorf("%s drops %v, want 1", tc.proto, got)
			}
			skips := hh.metric(t, "majlis_slow_listener_skips_total", tc.proto)
			if tc.wantSkips && skips != float64(cfg.MaxSkips) {
				t.Errorf("%s skips %v, want %d", tc.proto, skips, cfg.MaxSkips)
			}
			t.Logf("slow listener gone after %d chunks; skips %v", published, skips)
		})
	}
}

// TestTLSHubClose: Close ends the listeners over TLS (the Ogg body
// cleanly, over HTTP/1.1 and HTTP/2; WebSocket with 1001) and returns.
func TestTLSHubClose(t *testing.T) {
	for _, h2 := range []bool{false, true} {
		t.Run(map[bool]string{false: "http1.1", true: "h2"}[h2], func(t *testing.T) {
			hh, _ := tlsHarness(t, Config{}, program.Config{}, 0, h2)
			hh.publish(3, 20, 0)
			ctx := t.Context()
			client := tlsStreamClient(hh)
			ogg := oggClientWith(t, ctx, client, hh.srv.URL+"/listen.ogg")
			var ws *collector
			want := 1
			if !h2 {
				ws = wsClientWith(t, ctx, &websocket.DialOptions{HTTPClient: client}, hh.srv.URL+"/listen.ws", 1)
				want = 2
			}
			waitFor(t, "listeners", func() bool { return hh.hub.Listeners() == want })
			hh.publish(2, 20, 0)
			waitFor(t, "all frames delivered", func() bool { return ogg.count() == 10 && (ws == nil || ws.count() == 10) })
			closed := make(chan struct{})
			go func() {
				hh.hub.Close()
				close(closed)
			}()
			select {
			case <-closed:
			case <-time.After(10 * time.Second):
				t.Fatal("Hub.Close did not return")
			}
			if n := hh.hub.Listeners(); n != 0 {
				t.Fatalf("Listeners = %d after Close", n)
			}
			ogg.wait(t)
			if ogg.err != io.EOF {
				t.Errorf("ogg ended with %v, want EOF", ogg.err)
			}
			if ws != nil {
				ws.wait(t)
				if websocket.CloseStatus(ws.err) != websocket.StatusGoingAway {
					t.Errorf("ws ended with %v, want going away", ws.err)
				}
			}
		})
	}
}
