package shard

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"majlis/internal/program"
	"majlis/internal/ratelimit"
	"majlis/internal/testkit"
	"majlis/internal/uring"
	"majlis/internal/wsframe"
)

// The engine's own tests drive it with a minimal policy and kinds; the
// hub's tests (package fanout) cover it with the real ones.

// testPolicy skips a lagging listener to the newest 2 chunks, 3 times.
type testPolicy struct{}

var errTestTooSlow = errors.New("too slow")

func (testPolicy) Lagging(_ *program.Program, _ *Kind, head uint64, skips int) (uint64, error) {
	if skips >= 3 {
		return 0, errTestTooSlow
	}
	return head - min(2, head), nil
}

const testOggHead = "HTTP/1.1 200 OK\r\nContent-Type: audio/ogg\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"

// testOggKind is chunked Ogg, ending the body cleanly when the program ends.
func testOggKind(sent *atomic.Int64) *Kind {
	return &Kind{
		Wire: func(c *program.Chunk) []byte { return c.OggHTTP },
		Final: func(err error) []byte {
			if err == ErrEnded || err == ErrShutdown {
				return []byte("0\r\n\r\n")
			}
			return nil
		},
		Sent: func(_, chunks int) { sent.Add(int64(chunks)) },
	}
}

// engineHarness is an engine behind a real HTTP server on 127.0.0.1 that
// hands every request to it as a chunked Ogg listener of prog.
type engineHarness struct {
	e      *Engine
	prog   *program.Program
	srv    *httptest.Server
	chunks atomic.Int64 // delivered, as Kind.Sent reports them
	taken  atomic.Int64 // Takes returned: the listener is its shard's
	mu     sync.Mutex
	ends   []error
	frames uint64 // frames published, numbering the packets
}

func newEngineHarness(t *testing.T, cfg Config) *engineHarness {
	t.Helper()
	eh := &engineHarness{prog: program.New(program.Config{})}
	kind := testOggKind(&eh.chunks)
	eh.e = New(cfg, testPolicy{}, kind)
	eh.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		head := append([]byte(testOggHead), eh.prog.OggHeadersHTTP()...)
		err := eh.e.Take(w, r, Handover{Program: eh.prog, Kind: kind, Head: head, Pos: eh.prog.Head(), Ended: func(err error) {
			eh.mu.Lock()
			eh.ends = append(eh.ends, err)
			eh.mu.Unlock()
		}})
		if err != nil {
			http.Error(w, err.Error(), http.StatusHTTPVersionNotSupported)
		}
		eh.taken.Add(1)
	}))
	t.Cleanup(func() {
		eh.prog.Close()
		eh.e.Close()
		eh.srv.Close()
	})
	return eh
}

func (eh *engineHarness) publish(chunks int) {
	for range chunks * eh.prog.Config().ChunkFrames {
		eh.prog.WriteFrame(packet(eh.frames))
		eh.frames++
	}
}

// playOut publishes chunks chunks, ends the program, and checks that every
// client got each chunk's two packets and a clean end.
func (eh *engineHarness) playOut(t *testing.T, cs []*oggClient, chunks int) {
	t.Helper()
	for range chunks {
		eh.publish(1)
		time.Sleep(2 * time.Millisecond)
	}
	eh.prog.Close()
	for i, c := range cs {
		if err := c.wait(t); err != io.EOF {
			t.Fatalf("listener %d ended with %v, want a clean end", i, err)
		}
		if got := c.packets.Load(); got != int64(chunks*2) {
			t.Fatalf("listener %d got %d packets, want %d", i, got, chunks*2)
		}
	}
}

func (eh *engineHarness) endCount() int {
	eh.mu.Lock()
	defer eh.mu.Unlock()
	return len(eh.ends)
}

// packet is a small fake Opus packet.
func packet(seq uint64) []byte { return []byte{0xF8, byte(seq), byte(seq >> 8), 1, 2, 3, 4, 5} }

// oggClient counts the data packets of a listen stream in a goroutine and
// keeps their sequence numbers (see packet).
type oggClient struct {
	packets atomic.Int64
	done    chan error
	mu      sync.Mutex
	seqs    []uint64
}

// checkConsecutive asserts the client got frames first..end-1 exactly, in order.
func (c *oggClient) checkConsecutive(t *testing.T, name string, first, end uint64) {
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

var testClient = &http.Client{Timeout: 20 * time.Second}

func listen(t *testing.T, url string) *oggClient {
	t.Helper()
	resp, err := testClient.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	c := &oggClient{done: make(chan error, 1)}
	go func() {
		defer resp.Body.Close()
		r := testkit.NewOggReader(resp.Body)
		for n := 0; ; n++ {
			pkt, _, err := r.NextPacket()
			if err != nil {
				c.done <- err
				return
			}
			if n >= 2 { // after OpusHead, OpusTags
				if len(pkt) >= 3 {
					c.mu.Lock()
					c.seqs = append(c.seqs, uint64(pkt[1])|uint64(pkt[2])<<8)
					c.mu.Unlock()
				}
				c.packets.Add(1)
			}
		}
	}()
	return c
}

func (c *oggClient) wait(t *testing.T) error {
	t.Helper()
	select {
	case err := <-c.done:
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("client did not finish")
		return nil
	}
}

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

func needRing(t *testing.T) {
	t.Helper()
	r, err := uring.New(8)
	if err != nil {
		t.Skipf("MAJLIS-SKIP: no io_uring on this kernel: %v (a kernel or container policy, not a tool scripts/deps installs; the shard falls back to write(2))", err)
	}
	r.Close()
}

// TestTakeRefuses: a request the engine cannot take is left to the caller,
// untouched, and Ended is not called.
func TestTakeRefuses(t *testing.T) {
	var sent atomic.Int64
	kind := testOggKind(&sent)
	e := New(Config{}, testPolicy{}, kind)
	p := program.New(program.Config{})
	defer p.Close()
	ended := func(error) { t.Error("Ended called for a refused request") }
	h := Handover{Program: p, Kind: kind, Head: []byte(testOggHead), Ended: ended}

	rec := httptest.NewRecorder() // not a Hijacker
	if err := e.Take(rec, httptest.NewRequest(http.MethodGet, "/", nil), h); err != ErrNotHijackable {
		t.Fatalf("recorder: %v, want ErrNotHijackable", err)
	}
	r2 := httptest.NewRequest(http.MethodGet, "/", nil)
	r2.ProtoMajor, r2.ProtoMinor = 2, 0
	if err := e.Take(rec, r2, h); err != ErrNotHijackable {
		t.Fatalf("HTTP/2: %v, want ErrNotHijackable", err)
	}
	if rec.Body.Len() != 0 || rec.Code != http.StatusOK || len(rec.Header()) != 0 {
		t.Fatalf("refused request was written to: %d %v %q", rec.Code, rec.Header(), rec.Body)
	}
	e.Close()
	if err := e.Take(rec, httptest.NewRequest(http.MethodGet, "/", nil), h); err != ErrClosed {
		t.Fatalf("after Close: %v, want ErrClosed", err)
	}
}

// TestTakeStreams: listeners taken by the engine get every chunk from their
// position and a clean end with the program; Ended runs once each with
// ErrEnded, and Kind.Sent saw every chunk.
func TestTakeStreams(t *testing.T) {
	const listeners, chunks = 5, 20
	eh := newEngineHarness(t, Config{Shards: 2, NoURing: true})
	var cs []*oggClient
	for range listeners {
		cs = append(cs, listen(t, eh.srv.URL))
	}
	// Take returns once the shard has the listener: all start at chunk 0.
	waitFor(t, "listeners taken", func() bool { return eh.taken.Load() == listeners })
	eh.playOut(t, cs, chunks)
	waitFor(t, "every Ended", func() bool { return eh.endCount() == listeners })
	for i, err := range eh.ends {
		if err != ErrEnded {
			t.Fatalf("listener %d ended with %v, want ErrEnded", i, err)
		}
	}
	if got := eh.chunks.Load(); got != listeners*chunks {
		t.Fatalf("Kind.Sent saw %d chunks, want %d", got, listeners*chunks)
	}
}

// TestShardsGrowWithAudience: a program's station starts with one shard and
// starts another each time its audience passes ShardListeners per shard,
// up to Shards; every listener gets every chunk whichever shard serves it,
// and the station's count falls back as they leave.
func TestShardsGrowWithAudience(t *testing.T) {
	eh := newEngineHarness(t, Config{Shards: 3, ShardListeners: 2, NoURing: true})
	shards := func() (int, int64) {
		eh.e.smu.Lock()
		defer eh.e.smu.Unlock()
		st := eh.e.stations[eh.prog]
		if st == nil {
			return 0, 0
		}
		return len(st.shards), st.listeners.Load()
	}
	var cs []*oggClient
	for i, want := range []int{1, 1, 2, 2, 3, 3, 3} {
		cs = append(cs, listen(t, eh.srv.URL))
		waitFor(t, "listener taken", func() bool { return eh.taken.Load() == int64(i+1) })
		if n, l := shards(); n != want || l != int64(i+1) {
			t.Fatalf("%d listeners: %d shards running and %d counted, want %d shards", i+1, n, l, want)
		}
	}
	const chunks = 10
	eh.playOut(t, cs, chunks)
	waitFor(t, "the station dropped", func() bool { n, _ := shards(); return n == 0 })
}

// TestWSInputPing: a client's ping (masked, any payload up to 125 bytes,
// split anywhere) leaves a pong carrying the unmasked payload.
func TestWSInputPing(t *testing.T) {
	now := time.Unix(1000, 0)
	lim := &Input{MaxFrame: 1024, Rate: ratelimit.Rate{PerSecond: 4, Burst: 16}}
	for _, payload := range [][]byte{nil, []byte("abc"), []byte(fmt.Sprintf("%0125d", 7))} {
		frame := wsframe.AppendMasked(nil, wsframe.OpPing, [4]byte{1, 2, 3, 4}, payload)
		for split := 1; split <= len(frame); split++ {
			var in wsInput
			if err := in.feed(frame[:split], lim, now); err != nil {
				t.Fatal(err)
			}
			if err := in.feed(frame[split:], lim, now); err != nil {
				t.Fatal(err)
			}
			if want := wsframe.AppendFrame(nil, wsframe.OpPong, payload); string(in.pong) != string(want) {
				t.Fatalf("payload %d bytes, split at %d: pong %x, want %x", len(payload), split, in.pong, want)
			}
		}
	}
}

// TestWSInputEnds: how a client's input ends its listener.
func TestWSInputEnds(t *testing.T) {
	now := time.Unix(1000, 0)
	lim := &Input{MaxFrame: 1024, Rate: ratelimit.Rate{PerSecond: 4, Burst: 16}}
	key := [4]byte{9, 9, 9, 9}
	flood := []byte{}
	for range 17 {
		flood = wsframe.AppendMasked(flood, wsframe.OpText, key, []byte("hi"))
	}
	big := wsframe.AppendMasked(nil, wsframe.OpBinary, key, make([]byte, 1025))
	for _, tc := range []struct {
		name string
		in   []byte
		want error
	}{
		{"text frames within budget", flood[:16*8], nil},
		{"flood", flood, ErrFlood},
		{"close", wsframe.AppendMasked(nil, wsframe.OpClose, key, []byte{3, 0xe8}), ErrClientClosed},
		{"too big", big, ErrTooBig},
		{"unmasked", wsframe.AppendFrame(nil, wsframe.OpText, []byte("hi")), ErrProtocol},
		{"reserved bit", []byte{0xC1, 0x80, 0, 0, 0, 0}, ErrProtocol},
		{"fragmented ping", []byte{0x09, 0x80, 0, 0, 0, 0}, ErrProtocol},
	} {
		var in wsInput
		if err := in.feed(tc.in, lim, now); err != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
}

// FuzzWSInput: the client frame parser never panics, and its verdict does
// not depend on how the bytes are split across reads.
func FuzzWSInput(f *testing.F) {
	key := [4]byte{1, 2, 3, 4}
	f.Add(wsframe.AppendMasked(nil, wsframe.OpText, key, []byte("hi")), uint8(1))
	f.Add(wsframe.AppendMasked(nil, wsframe.OpClose, key, []byte{3, 0xe8}), uint8(3))
	f.Add([]byte{0x82, 0xfe, 0x04, 0x01, 1, 2, 3, 4}, uint8(5))
	f.Add([]byte{0x82, 0xff, 0, 0, 0, 0, 0, 0, 0, 9, 1, 2, 3, 4}, uint8(2))
	lim := &Input{MaxFrame: 1024, Rate: ratelimit.Rate{PerSecond: 4, Burst: 16}}
	f.Fuzz(func(t *testing.T, b []byte, split uint8) {
		now := time.Unix(1000, 0)
		var whole, parts wsInput
		want := whole.feed(b, lim, now)
		var got error
		step := int(split%16) + 1
		for i := 0; i < len(b) && got == nil; i += step {
			got = parts.feed(b[i:min(i+step, len(b))], lim, now)
		}
		if got != want {
			t.Fatalf("split every %d: %v, whole: %v", step, got, want)
		}
		if got == nil && string(parts.pong) != string(whole.pong) {
			t.Fatalf("split every %d: pong %x, whole: %x", step, parts.pong, whole.pong)
		}
	})
}

// TestRingFailure: if the ring fails, the listeners of the failed batch
// end (a send may or may not have happened: no repeated or torn chunk is
// risked), and new listeners are served with write(2).
func TestRingFailure(t *testing.T) {
	needRing(t)
	eh := newEngineHarness(t, Config{Shards: 1, RingMinListeners: 1})
	first := listen(t, eh.srv.URL)
	waitFor(t, "first taken", func() bool { return eh.taken.Load() == 1 })
	eh.publish(5)
	waitFor(t, "5 chunks", func() bool { return first.packets.Load() == 10 })
	eh.e.breakRing.Store(true)
	eh.publish(1)
	if err := first.wait(t); err == io.EOF {
		t.Fatalf("listener under the failed ring got a clean end")
	}
	first.checkConsecutive(t, "first", 0, uint64(first.packets.Load()))
	sends := eh.e.RingSends()
	second := listen(t, eh.srv.URL)
	// Closing the program before the shard has the listener would drop
	// the station, and the listener would start a new one with a new ring.
	waitFor(t, "second taken", func() bool { return eh.taken.Load() == 2 })
	eh.publish(5)
	eh.prog.Close()
	if err := second.wait(t); err != io.EOF {
		t.Fatalf("listener after the failure ended with %v", err)
	}
	if got := second.packets.Load(); got != 10 {
		t.Fatalf("listener after the failure got %d packets, want the 10 published after it joined", got)
	}
	end := eh.frames
	second.checkConsecutive(t, "second", end-uint64(second.packets.Load()), end)
	if got := eh.e.RingSends(); got != sends {
		t.Fatalf("ring used after it failed: %d sends, was %d", got, sends)
	}
}
