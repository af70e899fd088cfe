package loadgen

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeServer serves listen.ogg and listen.ws from prepared chunks, one
// chunk every interval, each written in two pieces split at a random point
// so reads see frames cut anywhere. After the chunks it ends the stream as
// end says: "final" (last chunk or close frame, connection left open),
// "cut" (close the connection mid stream framing) or "never" (no end: the
// connection stays open until the client goes away).
type fakeServer struct {
	addr     string
	oggHead  []byte
	ogg, ws  [][]byte
	interval time.Duration
	end      string
	closed   chan struct{} // one value per connection the client closed
	pongs    chan []byte
	stop     func() // closes the server and its connections, waits for them
}

func startFakeServer(t *testing.T, chunks int, interval time.Duration, end string) *fakeServer {
	p, cs := testChunks(t, chunks)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &fakeServer{addr: ln.Addr().String(), oggHead: p.OggHeadersHTTP(), interval: interval, end: end,
		closed: make(chan struct{}, 64), pongs: make(chan []byte, 64)}
	for _, c := range cs {
		s.ogg = append(s.ogg, c.OggHTTP)
		s.ws = append(s.ws, c.WSFrame)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() { s.serve(ctx, conn) })
		}
	})
	s.stop = sync.OnceFunc(func() { cancel(); ln.Close(); wg.Wait() })
	t.Cleanup(s.stop)
	return s
}

func (s *fakeServer) serve(ctx context.Context, conn net.Conn) {
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	br := bufio.NewReader(conn)
	req, err := http.ReadRequest(br)
	if err != nil {
		return
	}
	ws := strings.HasSuffix(req.URL.Path, "/listen.ws")
	frames, head := s.ogg, "HTTP/1.1 200 OK\r\nContent-Type: audio/ogg\r\nTransfer-Encoding: chunked\r\n\r\n"+string(s.oggHead)
	if ws {
		frames = s.ws
		head = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: x\r\n\r\n" +
			string(wsFrame(0x1, true, []byte(`{"codec":"opus"}`)))
	}
	// The client's side: EOF means it closed; a pong is kept.
	go func() {
		b, _ := io.ReadAll(br)
		if len(b) > 0 {
			s.pongs <- b
		}
		s.closed <- struct{}{}
	}()
	if _, err := io.WriteString(conn, head); err != nil {
		return
	}
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
	// Chunk i+1 is due at start + (i+1) intervals: a late write does not
	// push the rest of the stream later (a ticker drops the ticks it missed).
	start := time.Now()
	due := time.NewTimer(s.interval)
	defer due.Stop()
	for i, f := range frames {
		if ws && i == 2 {
			f = append(wsFrame(0x9, true, []byte("hi")), f...)
		}
		k := rng.IntN(len(f) + 1)
		if _, err := conn.Write(f[:k]); err != nil {
			return
		}
		time.Sleep(time.Millisecond)
		if _, err := conn.Write(f[k:]); err != nil {
			return
		}
		due.Reset(time.Until(start.Add(time.Duration(i+1) * s.interval)))
		select {
		case <-due.C:
		case <-ctx.Done():
			return
		}
	}
	switch {
	case s.end == "never":
	case s.end == "cut":
		conn.Write([]byte("1")) // half a chunk header or frame
	case ws:
		conn.Write(wsFrame(0x8, true, []byte("\x03\xe8")))
	default:
		conn.Write([]byte("0\r\n\r\n"))
	}
	if s.end != "cut" {
		<-ctx.Done() // the client must end by itself
	}
}

func openFDs(t *testing.T) int {
	es, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip("no /proc/self/fd")
	}
	return len(es)
}

// TestReceiveLoop runs listeners of both protocols over loopback against a
// server that streams at a fixed rate: each must get every chunk's audio
// without stalls or gaps, end as the stream ends (clean, cut, or with the
// run), answer pings and close every connection.
func TestReceiveLoop(t *testing.T) {
	const (
		interval  = 40 * time.Millisecond
		listeners = 6
	)
	for _, tc := range []struct {
		end      string
		chunks   int
		duration time.Duration
		err      string // every listener's Result.Err
	}{
		{"final", 25, 5 * time.Second, "stream ended before the run"},
		{"cut", 25, 5 * time.Second, "unexpected EOF"},
		{"never", 60, 1500 * time.Millisecond, ""},
	} {
		t.Run(tc.end, func(t *testing.T) {
			_, cs := testChunks(t, tc.chunks)
			var media float64 // seconds in all chunks
			for _, c := range cs {
				media += float64(len(c.Frames)) * 0.02
			}
			fds := openFDs(t)
			srv := startFakeServer(t, tc.chunks, interval, tc.end)
			began := time.Now()
			rs, err := Run(t.Context(), Config{Origin: "http://" + srv.addr, Room: "r", Ticket: "x", Listeners: listeners,
				Proto: "mix", Duration: Duration(tc.duration), Tolerance: Duration(500 * time.Millisecond)})
			if err != nil {
				t.Fatal(err)
			}
			took := time.Since(began)
			for i, r := range rs {
				if !r.Audio || !r.Joined || r.Err != tc.err || r.Gaps != 0 || r.Stalls != 0 {
					t.Fatalf("listener %d: %+v", i, r)
				}
				if tc.end != "never" && (r.Media < media-1e-9 || r.Media > media+1e-9) {
					t.Fatalf("listener %d: %.3f s of audio, want %.3f: %+v", i, r.Media, media, r)
				}
			}
			if tc.end == "final" && took > tc.duration-time.Second {
				t.Fatalf("run took %v: the listeners did not end with their streams", took)
			}
			for range listeners {
				select {
				case <-srv.closed:
				case <-time.After(2 * time.Second):
					t.Fatal("a connection was left open")
				}
			}
			if tc.end != "cut" {
				for range listeners / 2 {
					select {
					case b := <-srv.pongs:
						if !bytes.Equal(b, []byte{0x8A, 0x82, 0, 0, 0, 0, 'h', 'i'}) {
							t.Fatalf("pong %q", b)
						}
					case <-time.After(time.Second):
						t.Fatal("a ping was not answered")
					}
				}
			}
			srv.stop()
			if n := openFDs(t); n != fds {
				t.Fatalf("%d open files after the run, %d before", n, fds)
			}
		})
	}
}

// TestReceiveLoopStopsWithContext: cancelling the run's context ends every
// stream at once, with the run-ended verdict.
func TestReceiveLoopStopsWithContext(t *testing.T) {
	goroutines := runtime.NumGoroutine()
	srv := startFakeServer(t, 50, 40*time.Millisecond, "never")
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	time.AfterFunc(800*time.Millisecond, cancel)
	began := time.Now()
	rs, err := Run(ctx, Config{Origin: "http://" + srv.addr, Room: "r", Ticket: "x", Listeners: 4, Proto: "mix",
		Duration: Duration(time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Since(began); d > 5*time.Second {
		t.Fatalf("run took %v after its context ended", d)
	}
	for i, r := range rs {
		if !r.Audio || r.Err != "" {
			t.Fatalf("listener %d: %+v", i, r)
		}
	}
	for range rs {
		select {
		case <-srv.closed:
		case <-time.After(2 * time.Second):
			t.Fatal("a connection was left open")
		}
	}
	srv.stop()
	// Every goroutine of the run has ended (allow the runtime a moment to reap them).
	deadline := time.Now().Add(2 * time.Second)
	for runtime.NumGoroutine() > goroutines && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > goroutines {
		t.Fatalf("%d goroutines after the run, %d before", n, goroutines)
	}
}
