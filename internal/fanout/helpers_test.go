package fanout

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"majlis/internal/metrics"
	"majlis/internal/program"
	"majlis/internal/uring"
)

// packet is a deterministic fake Opus packet for frame seq: a valid TOC and
// a pattern derived from seq, so a receiver can check it got exactly frame
// seq (gaps, duplicates and reordering all show up).
func packet(seq uint64, n int) []byte {
	b := make([]byte, max(n, 9))
	b[0] = 0xF8
	binary.BigEndian.PutUint64(b[1:], seq)
	for i := 9; i < len(b); i++ {
		b[i] = byte(seq*31 + uint64(i))
	}
	return b
}

// packetSeq returns the frame number a packet made by packet carries, after
// checking its content.
func packetSeq(b []byte) (uint64, error) {
	if len(b) < 9 {
		return 0, fmt.Errorf("packet of %d bytes", len(b))
	}
	seq := binary.BigEndian.Uint64(b[1:])
	if !bytes.Equal(b, packet(seq, len(b))) {
		return 0, fmt.Errorf("packet for seq %d is corrupt", seq)
	}
	return seq, nil
}

// harness is a hub behind a real HTTP server on 127.0.0.1.
type harness struct {
	hub     *Hub
	metrics *metrics.Metrics
	srv     *httptest.Server
	prog    *program.Program
}

func newHarness(t *testing.T, cfg Config, pcfg program.Config, sndbuf int) *harness {
	t.Helper()
	return newHarnessStart(t, cfg, pcfg, sndbuf, (*httptest.Server).Start)
}

// newHarnessStart is newHarness with the server started by start (StartTLS).
func newHarnessStart(t testing.TB, cfg Config, pcfg program.Config, sndbuf int, start func(*httptest.Server)) *harness {
	t.Helper()
	hh := &harness{metrics: metrics.New(nil), prog: program.New(pcfg)}
	cfg.Metrics = hh.metrics
	hh.hub = NewHub(cfg)
	mux := http.NewServeMux()
	mux.HandleFunc("/listen.ogg", func(w http.ResponseWriter, r *http.Request) { hh.hub.ServeOggDetached(w, r, hh.prog, func() {}, nil) })
	mux.HandleFunc("/listen.ws", func(w http.ResponseWriter, r *http.Request) { hh.hub.ServeWSDetached(w, r, hh.prog, func() {}, nil) })
	hh.srv = httptest.NewUnstartedServer(mux)
	if sndbuf > 0 {
		hh.srv.Listener = smallSendBuffer{hh.srv.Listener, sndbuf}
	}
	start(hh.srv)
	t.Cleanup(func() {
		hh.prog.Close()
		hh.hub.Close()
		hh.srv.Close()
	})
	return hh
}

// publish writes chunks chunks of frames (size bytes each) to the program,
// sleeping pace between chunks, continuing the frame numbering.
func (hh *harness) publish(chunks int, size int, pace time.Duration) {
	cf := hh.prog.Config().ChunkFrames
	for range chunks {
		for i := range cf {
			hh.prog.WriteFrame(packet(hh.prog.Head()*uint64(cf)+uint64(i), size))
		}
		if pace > 0 {
			time.Sleep(pace)
		}
	}
}

// metric reads one proto-labelled metric from the registry.
func (hh *harness) metric(t *testing.T, name, proto string) float64 {
	t.Helper()
	mfs, err := hh.metrics.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "proto" && l.GetValue() == proto {
					if g := m.GetGauge(); g != nil {
						return g.GetValue()
					}
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}

type smallSendBuffer struct {
	net.Listener
	size int
}

func (l smallSendBuffer) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetWriteBuffer(l.size)
	}
	return c, err
}

// Every test HTTP client has a timeout: a request that hangs fails its test
// instead of stalling the suite. testHTTP is for calls and WebSocket dials
// (the library bounds the handshake with its Timeout, not the connection);
// streamHTTP is for listener streams, whose bodies last as long as the
// request's context (streamTimeout bounds it), so it bounds the dial and the
// response head instead.
var (
	testHTTP   = &http.Client{Timeout: 20 * time.Second}
	streamHTTP = &http.Client{Transport: &http.Transport{
		DialContext:           (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
		ResponseHeaderTimeout: 10 * time.Second,
	}}
	wsDial = &websocket.DialOptions{HTTPClient: testHTTP}
)

// streamTimeout bounds a test listener's stream when its test gives it no
// deadline of its own.
const streamTimeout = 30 * time.Second

// waitFor polls cond until it holds or the test's patience runs out.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// collector gathers what one goroutine-run client received.
type collector struct {
	mu   sync.Mutex
	seqs []uint64 // frame numbers received, in order
	err  error    // how the stream ended
	done chan struct{}
}

func newCollector() *collector { return &collector{done: make(chan struct{})} }

func (c *collector) add(seq uint64) {
	c.mu.Lock()
	c.seqs = append(c.seqs, seq)
	c.mu.Unlock()
}

func (c *collector) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.seqs)
}

func (c *collector) finish(err error) {
	c.err = err
	close(c.done)
}

func (c *collector) wait(t *testing.T) {
	t.Helper()
	select {
	case <-c.done:
	case <-time.After(10 * time.Second):
		t.Fatal("client did not finish")
	}
}

// checkConsecutive asserts the client got frames first..last-1 exactly.
func (c *collector) checkConsecutive(t *testing.T, name string, first, end uint64) {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	if uint64(len(c.seqs)) != end-first {
		t.Errorf("%s: got %d frames, want %d (%d..%d)", name, len(c.seqs), end-first, first, end-1)
	}
	for i, s := range c.seqs {
		if s != first+uint64(i) {
			t.Errorf("%s: frame %d is seq %d, want %d", name, i, s, first+uint64(i))
			return
		}
	}
}

// writePaths are the engine's two ways of writing: write(2) per listener,
// and io_uring batches from the first listener on.
var writePaths = []struct {
	name string
	cfg  func(Config) Config
}{
	{"write", func(c Config) Config { c.NoURing = true; return c }},
	{"uring", func(c Config) Config { c.RingMinListeners = 1; return c }},
}

// needRing skips an io_uring case on a kernel without io_uring (the shard
// then writes with write(2), which the "write" cases cover), with the
// MAJLIS-SKIP marker: scripts/test lists it, and CI fails on it.
func needRing(t *testing.T, path string) {
	t.Helper()
	if path != "uring" {
		return
	}
	r, err := uring.New(8)
	if err != nil {
		t.Skipf("MAJLIS-SKIP: no io_uring on this kernel: %v (a kernel or container policy, not a tool scripts/deps installs; the write cases cover the fan-out)", err)
	}
	r.Close()
}
