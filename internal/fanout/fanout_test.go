package fanout

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"

	"majlis/internal/program"
	"majlis/internal/testkit"
)

// oggClient reads listen.ogg in a goroutine, recording the frames received.
func oggClient(t *testing.T, ctx context.Context, url string) *collector {
	t.Helper()
	return oggClientWith(t, ctx, streamHTTP, url)
}

// oggClientWith is oggClient through client.
func oggClientWith(t *testing.T, ctx context.Context, client *http.Client, url string) *collector {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, streamTimeout)
	t.Cleanup(cancel)
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "audio/ogg" ||
		resp.Header.Get("Cache-Control") != "no-store" || resp.ContentLength != -1 {
		t.Fatalf("response %d %v length %d", resp.StatusCode, resp.Header, resp.ContentLength)
	}
	c := newCollector()
	go func() {
		defer resp.Body.Close()
		readOgg(resp.Body, c)
	}()
	return c
}

// readOgg reads an Ogg stream into c until it ends.
func readOgg(body io.Reader, c *collector) {
	r := testkit.NewOggReader(body)
	for n := 0; ; n++ {
		pkt, _, err := r.NextPacket()
		if err != nil {
			c.finish(err)
			return
		}
		if n < 2 { // OpusHead, OpusTags: checked by the reader
			continue
		}
		seq, err := packetSeq(pkt)
		if err != nil {
			c.finish(err)
			return
		}
		c.add(seq)
	}
}

// wsClient reads listen.ws in a goroutine: hello, then chunk messages.
func wsClient(t *testing.T, ctx context.Context, url string, channels int) *collector {
	t.Helper()
	return wsClientWith(t, ctx, wsDial, url, channels)
}

// wsClientWith is wsClient dialling with opts.
func wsClientWith(t *testing.T, ctx context.Context, opts *websocket.DialOptions, url string, channels int) *collector {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, streamTimeout)
	t.Cleanup(cancel)
	conn, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(url, "http"), opts)
	if err != nil {
		t.Fatal(err)
	}
	typ, msg, err := conn.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var hello map[string]any
	if err := json.Unmarshal(msg, &hello); typ != websocket.MessageText || err != nil {
		t.Fatalf("hello %v %q: %v", typ, msg, err)
	}
	want := map[string]any{"codec": "opus", "sample_rate": 48000.0, "channels": float64(channels), "frame_samples": 960.0, "version": float64(program.WSVersion)}
	if fmt.Sprint(hello) != fmt.Sprint(want) {
		t.Fatalf("hello %v, want %v", hello, want)
	}
	c := newCollector()
	go func() {
		defer conn.CloseNow()
		for {
			typ, msg, err := conn.Read(ctx)
			if err != nil {
				c.finish(err)
				return
			}
			m, err := program.ParseWS(msg)
			if err == nil && typ != websocket.MessageBinary {
				err = fmt.Errorf("chunk in a %v message", typ)
			}
			if err == nil && m.Timestamp != m.FirstSeq*program.FrameSamples {
				err = fmt.Errorf("timestamp %d for seq %d", m.Timestamp, m.FirstSeq)
			}
			for i, f := range m.Frames {
				var seq uint64
				if seq, err = packetSeq(f); err == nil && seq != m.FirstSeq+uint64(i) {
					err = fmt.Errorf("frame %d of message at %d is seq %d", i, m.FirstSeq, seq)
				}
				if err != nil {
					break
				}
				c.add(seq)
			}
			if err != nil {
				c.finish(err)
				return
			}
		}
	}()
	return c
}

func TestListenUntilProgramEnds(t *testing.T) {
	for _, tc := range []struct {
		name     string
		pcfg     program.Config
		preroll  int
		wantPre  uint64 // chunks of preroll expected
		channels int
	}{
		{"defaults", program.Config{}, 0, 5, 1}, // 200 ms of 40 ms chunks
		{"stereo 3 frames", program.Config{Channels: 2, ChunkFrames: 3}, 0, 4, 2},
		{"explicit preroll", program.Config{}, 2, 2, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hh := newHarness(t, Config{PrerollChunks: tc.preroll, MaxBacklog: 64}, tc.pcfg, 0)
			cf := uint64(hh.prog.Config().ChunkFrames)
			hh.publish(20, 60, 0)
			ctx := t.Context()
			ogg := oggClient(t, ctx, hh.srv.URL+"/listen.ogg")
			ws := wsClient(t, ctx, hh.srv.URL+"/listen.ws", tc.channels)
			waitFor(t, "2 listeners", func() bool { return hh.hub.Listeners() == 2 })
			hh.publish(30, 60, 2*time.Millisecond)
			hh.prog.Close()
			ogg.wait(t)
			ws.wait(t)

			first := (20 - tc.wantPre) * cf
			ogg.checkConsecutive(t, "ogg", first, 50*cf)
			ws.checkConsecutive(t, "ws", first, 50*cf)
			if ogg.err != io.EOF {
				t.Errorf("ogg ended with %v, want a clean EOF", ogg.err)
			}
			var ce websocket.CloseError
			if !errors.As(ws.err, &ce) || ce.Code != websocket.StatusNormalClosure || ce.Reason != "room ended" {
				t.Errorf("ws ended with %v, want normal closure \"room ended\"", ws.err)
			}
			waitFor(t, "no listeners", func() bool { return hh.hub.Listeners() == 0 })
			for _, proto := range []string{"ogg", "ws"} {
				if got := hh.metric(t, "majlis_listener_chunks_sent_total", proto); got != float64(50-20+tc.wantPre) {
					t.Errorf("%s chunks sent %v, want %d", proto, got, 50-20+tc.wantPre)
				}
				if got := hh.metric(t, "majlis_listeners", proto); got != 0 {
					t.Errorf("%s listeners gauge %v after end", proto, got)
				}
			}
		})
	}
}

// TestJoinEndedProgram: a listener of an ended program gets the recent
// history and a clean end, not a hang.
func TestJoinEndedProgram(t *testing.T) {
	hh := newHarness(t, Config{}, program.Config{}, 0)
	hh.publish(10, 20, 0)
	hh.prog.Close()
	ogg := oggClient(t, t.Context(), hh.srv.URL+"/listen.ogg")
	ogg.wait(t)
	ogg.checkConsecutive(t, "ogg", 10, 20)
	if ogg.err != io.EOF {
		t.Fatalf("ogg ended with %v", ogg.err)
	}
	// A WebSocket listener of the ended program gets a normal close, from
	// its shard or, when the station finished first, at once.
	ws := wsClient(t, t.Context(), hh.srv.URL+"/listen.ws", 1)
	ws.wait(t)
	if websocket.CloseStatus(ws.err) != websocket.StatusNormalClosure {
		t.Fatalf("ws ended with %v", ws.err)
	}
}

// dialSmallWindow opens a raw TCP connection with a tiny receive buffer (set
// before connect, so the advertised window stays small) and requests path.
func dialSmallWindow(t *testing.T, addr, path string) net.Conn {
	t.Helper()
	d := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		err := rc.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 2048)
		})
		if err != nil {
			return err
		}
		return serr
	}}
	conn, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	upgrade := ""
	if strings.HasSuffix(path, ".ws") {
		upgrade = "Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n" +
			"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
	}
	if _, err := fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: %s\r\n%s\r\n", path, addr, upgrade); err != nil {
		t.Fatal(err)
	}
	return conn
}

func TestSlowListener(t *testing.T) {
	// readSlowly takes what the server sends, slower than real time.
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
		proto     string         // of the slow listener
		read      func(net.Conn) // what the slow client does
		wantSkips bool
	}{
		// Writes block: dropped by the write timeout.
		{"never reads", "ogg", func(net.Conn) {}, false},
		{"ws never reads", "ws", func(net.Conn) {}, false},
		// Writes complete but slower than real time: skipped forward, then
		// dropped after MaxSkips.
		{"reads slowly", "ogg", readSlowly, true},
		{"ws reads slowly", "ws", readSlowly, true},
	} {
		for _, wp := range writePaths {
			t.Run(tc.name+"/"+wp.name, func(t *testing.T) {
				cfg := wp.cfg(Config{MaxBacklog: 25, MaxSkips: 2, WriteTimeout: 400 * time.Millisecond})
				hh := newHarness(t, cfg, program.Config{RingChunks: 256}, 8<<10)
				hh.publish(10, 1000, 0)
				ctx := t.Context()
				fastOgg := oggClient(t, ctx, hh.srv.URL+"/listen.ogg")
				fastWS := wsClient(t, ctx, hh.srv.URL+"/listen.ws", 1)
				slow := dialSmallWindow(t, hh.srv.Listener.Addr().String(), "/listen."+tc.proto)
				go tc.read(slow)
				waitFor(t, "3 listeners", func() bool { return hh.hub.Listeners() == 3 })

				// 2 kB chunks every 2 ms, 20x real time: far more than the slow
				// client's buffers, easy for the fast ones. Stop once the slow
				// listener is gone (plus a little more), bounded at 1000 chunks.
				published := 0
				for ; published < 1000; published += 25 {
					hh.publish(25, 1000, 2*time.Millisecond)
					if hh.hub.Listeners() == 2 && published > 100 {
						break
					}
				}
				if hh.hub.Listeners() != 2 {
					t.Fatalf("slow listener still connected after %d chunks (skips %v, drops %v)", published,
						hh.metric(t, "majlis_slow_listener_skips_total", "ogg"), hh.metric(t, "majlis_slow_listener_drops_total", "ogg"))
				}
				hh.prog.Close()
				fastOgg.wait(t)
				fastWS.wait(t)
				end := hh.prog.Head() * 2
				fastOgg.checkConsecutive(t, "fast ogg", 10, end)
				fastWS.checkConsecutive(t, "fast ws", 10, end)
				if fastOgg.err != io.EOF {
					t.Errorf("fast ogg ended with %v", fastOgg.err)
				}
				// The fast listeners share the metrics: only the slow one may count.
				if got := hh.metric(t, "majlis_slow_listener_drops_total", tc.proto); got != 1 {
					t.Errorf("%s drops %v, want 1", tc.proto, got)
				}
				skips := hh.metric(t, "majlis_slow_listener_skips_total", tc.proto)
				if tc.wantSkips && skips != float64(cfg.MaxSkips) {
					t.Errorf("%s skips %v, want %d", tc.proto, skips, cfg.MaxSkips)
				}
				other := map[string]string{"ogg": "ws", "ws": "ogg"}[tc.proto]
				if got := hh.metric(t, "majlis_slow_listener_skips_total", other) + hh.metric(t, "majlis_slow_listener_drops_total", other); got != 0 {
					t.Errorf("fast %s listener was skipped or dropped %v times", other, got)
				}
				t.Logf("slow listener gone after %d chunks; skips %v", published, skips)
			})
		}
	}
}

func TestHubClose(t *testing.T) {
	hh := newHarness(t, Config{}, program.Config{}, 0)
	hh.publish(3, 20, 0)
	ctx := t.Context()
	ogg := oggClient(t, ctx, hh.srv.URL+"/listen.ogg")
	ws := wsClient(t, ctx, hh.srv.URL+"/listen.ws", 1)
	waitFor(t, "2 listeners", func() bool { return hh.hub.Listeners() == 2 })
	hh.publish(2, 20, 0)
	waitFor(t, "all frames delivered", func() bool { return ogg.count() == 10 && ws.count() == 10 })

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
	ws.wait(t)
	if ogg.err != io.EOF {
		t.Errorf("ogg ended with %v, want EOF", ogg.err)
	}
	if websocket.CloseStatus(ws.err) != websocket.StatusGoingAway {
		t.Errorf("ws ended with %v, want going away", ws.err)
	}
	ogg.checkConsecutive(t, "ogg", 0, 10)
	ws.checkConsecutive(t, "ws", 0, 10)

	resp, err := testHTTP.Get(hh.srv.URL + "/listen.ogg")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("listen after Close: %d, want 503", resp.StatusCode)
	}
}

func TestListenersCount(t *testing.T) {
	hh := newHarness(t, Config{}, program.Config{}, 0)
	var cancels []context.CancelFunc
	for range 3 {
		ctx, cancel := context.WithCancel(t.Context())
		cancels = append(cancels, cancel)
		oggClient(t, ctx, hh.srv.URL+"/listen.ogg")
	}
	wsCtx, wsCancel := context.WithCancel(t.Context())
	defer wsCancel()
	wsClient(t, wsCtx, hh.srv.URL+"/listen.ws", 1)
	wsClient(t, t.Context(), hh.srv.URL+"/listen.ws", 1)
	waitFor(t, "5 listeners", func() bool { return hh.hub.Listeners() == 5 })
	if g := hh.metric(t, "majlis_listeners", "ogg"); g != 3 {
		t.Errorf("ogg gauge %v, want 3", g)
	}
	if g := hh.metric(t, "majlis_listeners", "ws"); g != 2 {
		t.Errorf("ws gauge %v, want 2", g)
	}
	cancels[0]() // an Ogg client goes away while idle
	waitFor(t, "4 listeners", func() bool { return hh.hub.Listeners() == 4 })
	wsCancel() // a WebSocket client goes away while idle
	waitFor(t, "3 listeners", func() bool { return hh.hub.Listeners() == 3 })
	for _, c := range cancels {
		c()
	}
	waitFor(t, "1 listener", func() bool { return hh.hub.Listeners() == 1 })
}

func TestWSFloodClosed(t *testing.T) {
	hh := newHarness(t, Config{}, program.Config{}, 0)
	ctx, cancel := context.WithTimeout(t.Context(), streamTimeout)
	defer cancel()
	conn, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(hh.srv.URL, "http")+"/listen.ws", wsDial)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.CloseNow()
	readErr := make(chan error, 1)
	go func() {
		for {
			if _, _, err := conn.Read(ctx); err != nil {
				readErr <- err
				return
			}
		}
	}()
	for i := 0; i < 200; i++ {
		if err := conn.Write(ctx, websocket.MessageText, []byte("hi")); err != nil {
			break
		}
	}
	select {
	case err := <-readErr:
		if websocket.CloseStatus(err) != websocket.StatusPolicyViolation {
			t.Fatalf("closed with %v, want policy violation", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("flooding client not closed")
	}
	waitFor(t, "no listeners", func() bool { return hh.hub.Listeners() == 0 })
}

func TestWSOversizeMessageClosed(t *testing.T) {
	hh := newHarness(t, Config{}, program.Config{}, 0)
	ctx, cancel := context.WithTimeout(t.Context(), streamTimeout)
	defer cancel()
	conn, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(hh.srv.URL, "http")+"/listen.ws", wsDial)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.CloseNow()
	if err := conn.Write(ctx, websocket.MessageBinary, make([]byte, wsReadLimit+1)); err != nil {
		t.Fatal(err)
	}
	for {
		if _, _, err := conn.Read(ctx); err != nil {
			if websocket.CloseStatus(err) != websocket.StatusMessageTooBig {
				t.Fatalf("closed with %v, want message too big", err)
			}
			break
		}
	}
	waitFor(t, "no listeners", func() bool { return hh.hub.Listeners() == 0 })
}

func TestWSOriginCheck(t *testing.T) {
	for _, tc := range []struct {
		name     string
		insecure bool
		want     int
	}{
		{"cross origin refused", false, http.StatusForbidden},
		{"cross origin allowed", true, http.StatusSwitchingProtocols},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hh := newHarness(t, Config{InsecureSkipVerify: tc.insecure}, program.Config{}, 0)
			hdr := http.Header{"Origin": {"https://evil.example"}}
			conn, resp, err := websocket.Dial(t.Context(), "ws"+strings.TrimPrefix(hh.srv.URL, "http")+"/listen.ws",
				&websocket.DialOptions{HTTPClient: testHTTP, HTTPHeader: hdr})
			if conn != nil {
				conn.CloseNow()
			}
			if resp == nil {
				t.Fatalf("no response: %v", err)
			}
			if resp.StatusCode != tc.want {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.want)
			}
		})
	}
}
