package fanout

import (
	"bufio"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"majlis/internal/program"
)

// rawWSRequest sends an upgrade request with the given header lines over a
// raw TCP connection and returns the connection, its reader and the response.
func rawWSRequest(t *testing.T, addr, method, headers string) (net.Conn, *bufio.Reader, *http.Response) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(conn, method+" /listen.ws HTTP/1.1\r\nHost: "+addr+"\r\n"+headers+"\r\n"); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	return conn, br, resp
}

const goodWSHeaders = "Connection: keep-alive, Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n" +
	"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"

func TestWSHandshake(t *testing.T) {
	for _, tc := range []struct {
		name, method, headers string
		want                  int
	}{
		{"valid", "GET", goodWSHeaders, http.StatusSwitchingProtocols},
		{"same origin", "GET", goodWSHeaders + "Origin: http://HOST\r\n", http.StatusSwitchingProtocols},
		{"cross origin", "GET", goodWSHeaders + "Origin: https://evil.example\r\n", http.StatusForbidden},
		{"bad version", "GET", strings.Replace(goodWSHeaders, "Version: 13", "Version: 8", 1), http.StatusBadRequest},
		{"no version", "GET", strings.Replace(goodWSHeaders, "Sec-WebSocket-Version: 13\r\n", "", 1), http.StatusBadRequest},
		{"no key", "GET", strings.Replace(goodWSHeaders, "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n", "", 1), http.StatusBadRequest},
		{"short key", "GET", strings.Replace(goodWSHeaders, "dGhlIHNhbXBsZSBub25jZQ==", "c2hvcnQ=", 1), http.StatusBadRequest},
		{"key not base64", "GET", strings.Replace(goodWSHeaders, "dGhlIHNhbXBsZSBub25jZQ==", "!!!!!!!!!!!!!!!!!!!!!!==", 1), http.StatusBadRequest},
		{"two keys", "GET", goodWSHeaders + "Sec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAAAA==\r\n", http.StatusBadRequest},
		{"method POST", "POST", goodWSHeaders + "Content-Length: 0\r\n", http.StatusBadRequest},
		{"no upgrade token", "GET", strings.Replace(goodWSHeaders, "keep-alive, Upgrade", "keep-alive", 1), http.StatusUpgradeRequired},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hh := newHarness(t, Config{}, program.Config{}, 0)
			addr := hh.srv.Listener.Addr().String()
			_, br, resp := rawWSRequest(t, addr, tc.method, strings.ReplaceAll(tc.headers, "HOST", addr))
			if resp.StatusCode != tc.want {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.want)
			}
			if tc.want != http.StatusSwitchingProtocols {
				waitFor(t, "no listeners", func() bool { return hh.hub.Listeners() == 0 })
				return
			}
			// RFC 6455 section 1.3's example key and accept value.
			if got := resp.Header.Get("Sec-WebSocket-Accept"); got != "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" {
				t.Fatalf("Sec-WebSocket-Accept %q", got)
			}
			op, payload := readServerFrame(t, br)
			if op != 0x1 || !strings.Contains(string(payload), `"codec":"opus"`) {
				t.Fatalf("first frame op %d %q, want the hello", op, payload)
			}
		})
	}
}

// readServerFrame reads one unmasked server frame.
func readServerFrame(t *testing.T, br *bufio.Reader) (op byte, payload []byte) {
	t.Helper()
	var hdr [2]byte
	if _, err := io.ReadFull(br, hdr[:]); err != nil {
		t.Fatal(err)
	}
	if hdr[0]&0x80 == 0 || hdr[1]&0x80 != 0 {
		t.Fatalf("frame header %x: want final and unmasked", hdr)
	}
	n := uint64(hdr[1] & 0x7f)
	switch n {
	case 126:
		var b [2]byte
		_, _ = io.ReadFull(br, b[:])
		n = uint64(binary.BigEndian.Uint16(b[:]))
	case 127:
		var b [8]byte
		_, _ = io.ReadFull(br, b[:])
		n = binary.BigEndian.Uint64(b[:])
	}
	payload = make([]byte, n)
	if _, err := io.ReadFull(br, payload); err != nil {
		t.Fatal(err)
	}
	return hdr[0] & 0x0f, payload
}

// maskedFrame is a client frame (masked with a fixed key).
func maskedFrame(op byte, payload []byte) []byte {
	b := []byte{0x80 | op, 0x80 | byte(len(payload)), 1, 2, 3, 4}
	for i, c := range payload {
		b = append(b, c^b[2+i%4])
	}
	return b
}

// TestWSClientEnds: a raw client that sends a close frame, closes its TCP
// connection or floods frames is removed from its shard promptly (within
// a chunk or an idle probe), with the right close frame where one is due.
func TestWSClientEnds(t *testing.T) {
	for _, tc := range []struct {
		name      string
		send      func(net.Conn)
		wantClose uint16 // 0: no close frame expected
	}{
		{"close frame", func(c net.Conn) { _, _ = c.Write(maskedFrame(0x8, []byte{0x03, 0xe8})) }, 1000},
		{"tcp close", func(c net.Conn) { c.(*net.TCPConn).CloseWrite() }, 0},
		{"flood", func(c net.Conn) {
			for range 50 {
				_, _ = c.Write(maskedFrame(0x1, []byte("hi")))
			}
		}, 1008},
		{"oversize", func(c net.Conn) {
			b := []byte{0x82, 0x80 | 126, 0x04, 0x01, 1, 2, 3, 4} // 1025 bytes
			_, _ = c.Write(append(b, make([]byte, 1025)...))
		}, 1009},
		{"unmasked", func(c net.Conn) { _, _ = c.Write([]byte{0x81, 0x02, 'h', 'i'}) }, 1002},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hh := newHarness(t, Config{}, program.Config{}, 0)
			conn, br, resp := rawWSRequest(t, hh.srv.Listener.Addr().String(), "GET", goodWSHeaders)
			if resp.StatusCode != http.StatusSwitchingProtocols {
				t.Fatalf("status %d", resp.StatusCode)
			}
			readServerFrame(t, br) // hello
			waitFor(t, "1 listener", func() bool { return hh.hub.Listeners() == 1 })
			// The program is live: chunks every 40 ms give the shard its rounds.
			stop := make(chan struct{})
			done := make(chan struct{})
			go func() {
				defer close(done)
				for {
					select {
					case <-stop:
						return
					default:
						hh.publish(1, 20, 40*time.Millisecond)
					}
				}
			}()
			defer func() { close(stop); <-done }()
			// Let the shard read the (empty) input once, so what follows
			// must be noticed through its epoll, not a first read: the
			// next unprompted read is inputSafetyRead away.
			time.Sleep(150 * time.Millisecond)
			sent := time.Now()
			tc.send(conn)
			waitFor(t, "listener dropped", func() bool { return hh.hub.Listeners() == 0 })
			// Through the watch it takes a shard round (ms); a loaded
			// machine may add a second or two, still far from the
			// shard's unprompted read 10 s away (inputSafetyRead).
			if d := time.Since(sent); d > 3*time.Second {
				t.Fatalf("input noticed after %v: not through the readiness watch", d)
			}
			// Read to the end: chunks, then the close frame if one is due.
			var got uint16
			for {
				if _, err := br.Peek(2); err != nil {
					break
				}
				op, payload := readServerFrame(t, br)
				if op == 0x8 {
					got = binary.BigEndian.Uint16(payload)
					break
				}
			}
			if got != tc.wantClose {
				t.Fatalf("close code %d, want %d", got, tc.wantClose)
			}
		})
	}
}

// TestDetachedWS: ServeWSDetached returns while the listener streams from
// its shard; the listener gets consecutive chunks and a normal close 1000
// "room ended" when the program ends. Both write paths.
func TestDetachedWS(t *testing.T) {
	for _, mode := range []string{"sharded-write", "sharded-uring"} {
		name := mode
		t.Run(name, func(t *testing.T) {
			var cfg Config
			if mode == "sharded-uring" {
				cfg = writePaths[1].cfg(cfg)
			} else {
				cfg = writePaths[0].cfg(cfg)
			}
			h := NewHub(cfg)
			p := program.New(program.Config{})
			var ends, returned atomic.Int32
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				h.ServeWSDetached(w, r, p, func() { ends.Add(1) }, nil)
				returned.Add(1)
			}))
			defer srv.Close()
			defer h.Close()
			c := wsClient(t, t.Context(), srv.URL, 1)
			waitFor(t, "1 listener", func() bool { return h.Listeners() == 1 })
			waitFor(t, "handler returned", func() bool { return returned.Load() == 1 })
			for i := range 40 {
				p.WriteFrame(packet(uint64(i), 50))
			}
			waitFor(t, "20 chunks", func() bool { return c.count() == 40 })
			if ends.Load() != 0 {
				t.Fatalf("onEnd ran while streaming")
			}
			p.Close()
			c.wait(t)
			if websocket.CloseStatus(c.err) != websocket.StatusNormalClosure {
				t.Fatalf("ended with %v, want normal closure", c.err)
			}
			var ce websocket.CloseError
			if !errors.As(c.err, &ce) || ce.Reason != "room ended" {
				t.Fatalf("close reason %v, want room ended", c.err)
			}
			waitFor(t, "onEnd", func() bool { return ends.Load() == 1 })
			waitFor(t, "no listeners", func() bool { return h.Listeners() == 0 })
			c.checkConsecutive(t, name, 0, 40)
		})
	}
}

// TestWSPingAnswered: a listener's ping is answered with a pong carrying
// the unmasked payload, written between two chunks, and the chunks stay
// whole and in order around it (the parsing itself: shard's
// TestWSInputPing).
func TestWSPingAnswered(t *testing.T) {
	for _, wp := range writePaths {
		t.Run(wp.name, func(t *testing.T) {
			needRing(t, wp.name)
			hh := newHarness(t, wp.cfg(Config{}), program.Config{}, 0)
			conn, br, resp := rawWSRequest(t, hh.srv.Listener.Addr().String(), "GET", goodWSHeaders)
			if resp.StatusCode != http.StatusSwitchingProtocols {
				t.Fatalf("status %d", resp.StatusCode)
			}
			readServerFrame(t, br) // hello
			waitFor(t, "1 listener", func() bool { return hh.hub.Listeners() == 1 })
			hh.publish(3, 20, 0)
			time.Sleep(100 * time.Millisecond) // the shard has read the empty input
			if _, err := conn.Write(maskedFrame(0x9, []byte("are you there"))); err != nil {
				t.Fatal(err)
			}
			done := make(chan struct{})
			go func() {
				defer close(done)
				for range 20 {
					hh.publish(1, 20, 20*time.Millisecond)
				}
			}()
			var pongs, chunks int
			var lastFirst uint64
			for pongs == 0 || chunks < 5 {
				op, payload := readServerFrame(t, br)
				switch op {
				case 0xA:
					pongs++
					if string(payload) != "are you there" {
						t.Fatalf("pong payload %q", payload)
					}
				case 0x2:
					first := binary.BigEndian.Uint64(payload[1:])
					if chunks > 0 && first != lastFirst+2 {
						t.Fatalf("chunk starting at frame %d after one at %d", first, lastFirst)
					}
					lastFirst = first
					chunks++
				default:
					t.Fatalf("unexpected frame op %x", op)
				}
			}
			<-done
			if pongs != 1 {
				t.Fatalf("%d pongs for one ping", pongs)
			}
		})
	}
}
