package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"majlis/internal/admission"
	"majlis/internal/audio"
	"majlis/internal/program"
	"majlis/internal/testkit"
)

// testAdminToken is the admin token of in-process test servers (at least
// 43 characters, as the server requires).
const testAdminToken = "test-admin-token-0123456789abcdefghijklmnopqrstuvwxyz"

// Every test HTTP client has a timeout: a request that hangs fails its test
// instead of stalling the suite. testHTTP is for calls; streamHTTP is for
// listener and event streams, whose bodies last as long as the request's
// context (each stream test gives it a deadline), so it bounds the dial and
// the response head instead.
var (
	testHTTP   = &http.Client{Timeout: 30 * time.Second}
	streamHTTP = &http.Client{Transport: &http.Transport{
		DialContext:           (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
		ResponseHeaderTimeout: 10 * time.Second,
	}}
)

// testServer runs a whole server on loopback with a fresh data dir.
type testServer struct {
	*Server
	base   string
	client *http.Client // the API calls' and WHIP's client; nil: testHTTP
	cancel context.CancelFunc
	done   chan error
}

func startServer(t testing.TB, dataDir string) *testServer {
	t.Helper()
	cfg := testConfig(t, dataDir)
	cfg.MaxOpenRooms, cfg.RoomCreateRate = 1<<20, admission.Rate{PerSecond: 1e6, Burst: 1e6}
	return runServer(t, cfg)
}

// testConfig is a server on loopback ports the kernel picks, with dataDir
// (a fresh one when empty) and the test admin token.
func testConfig(t testing.TB, dataDir string) Config {
	if dataDir == "" {
		dataDir = t.TempDir()
	}
	return Config{DataDir: dataDir, HTTPAddr: "127.0.0.1:0", AdminAddr: "127.0.0.1:0", WebRTCUDP: "127.0.0.1:0",
		AdminToken: testAdminToken, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
}

// runServer builds a server from cfg and serves it until the test ends.
func runServer(t testing.TB, cfg Config) *testServer {
	t.Helper()
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ts := &testServer{Server: s, base: "http://" + s.HTTPAddr(), cancel: cancel, done: make(chan error, 1)}
	go func() { ts.done <- s.Serve(ctx) }()
	t.Cleanup(ts.stop)
	return ts
}

func (ts *testServer) stop() {
	if ts.cancel == nil {
		return
	}
	ts.cancel()
	<-ts.done
	ts.cancel = nil
}

// call does a JSON API call and decodes the answer into out (when non-nil).
// jsonRequest is a request with an optional bearer token and JSON body.
func jsonRequest(method, url, token string, body any) *http.Request {
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, url, rd)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	return req
}

func (ts *testServer) call(t testing.TB, method, path, token string, body any, out any) int {
	t.Helper()
	c := testHTTP
	if ts.client != nil {
		c = ts.client
	}
	resp, err := c.Do(jsonRequest(method, ts.base+path, token, body))
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			t.Fatalf("%s %s: %d %q: %v", method, path, resp.StatusCode, raw, err)
		}
	}
	return resp.StatusCode
}

func (ts *testServer) createUser(t testing.TB, name string) (id, token string) {
	t.Helper()
	var u struct{ ID, Token string }
	if code := ts.call(t, "POST", "/api/v1/users", ts.AdminToken(), map[string]string{"name": name}, &u); code != http.StatusCreated {
		t.Fatalf("create user: %d", code)
	}
	return u.ID, u.Token
}

// newRoom creates a room (scheduled, not started) and returns its id.
func (ts *testServer) newRoom(t testing.TB, hostToken, title string) string {
	t.Helper()
	var r struct{ ID string }
	if code := ts.call(t, "POST", "/api/v1/rooms", hostToken, map[string]string{"title": title}, &r); code != http.StatusCreated {
		t.Fatalf("create room: %d", code)
	}
	return r.ID
}

func (ts *testServer) liveRoom(t testing.TB, hostToken string) string {
	t.Helper()
	id := ts.newRoom(t, hostToken, "Test room")
	if code := ts.call(t, "POST", "/api/v1/rooms/"+id+"/start", hostToken, nil, nil); code != http.StatusOK {
		t.Fatalf("start room: %d", code)
	}
	return id
}

type joinResp struct {
	Ticket    string `json:"ticket"`
	ExpiresAt string `json:"expires_at"`
	Listen    struct {
		Ogg string `json:"ogg"`
		WS  string `json:"ws"`
	} `json:"listen"`
	Events string `json:"events"`
}

// metric is the value of the unlabelled series name on the server's admin
// /metrics.
func (ts *testServer) metric(t testing.TB, name string) string {
	t.Helper()
	resp, err := testHTTP.Get("http://" + ts.AdminAddr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			return v
		}
	}
	t.Fatalf("/metrics has no %s", name)
	return ""
}

func (ts *testServer) join(t testing.TB, room string) joinResp {
	t.Helper()
	var j joinResp
	if code := ts.call(t, "POST", "/api/v1/rooms/"+room+"/join", "", nil, &j); code != http.StatusOK {
		t.Fatalf("join: %d", code)
	}
	return j
}

// tone makes a sine generator at freq with amplitude amp (0..1 of full scale).
type tone struct {
	freq, amp float64
	n         int
}

func (g *tone) frame(pcm []int16) {
	for i := range pcm {
		pcm[i] = int16(g.amp * 32767 * math.Sin(2*math.Pi*g.freq*float64(g.n)/audio.SampleRate))
		g.n++
	}
}

// speaker publishes a tone over WHIP in real time and decodes what the server sends back.
type speaker struct {
	c      *testkit.WHIPClient
	cancel context.CancelFunc
	done   chan struct{}

	mu    sync.Mutex
	heard []int16
	dec   *audio.Decoder
}

func publishTone(t testing.TB, ts *testServer, room, token string, g *tone) *speaker {
	t.Helper()
	return publishPCM(t, ts, room, token, func(_ int, pcm []int16) { g.frame(pcm) }, nil)
}

// publishPCM publishes the frames gen makes, in real time; onSent (optional)
// learns when each frame was handed to the WebRTC track.
func publishPCM(t testing.TB, ts *testServer, room, token string, gen func(n int, pcm []int16), onSent func(n int, at time.Time)) *speaker {
	t.Helper()
	return publishPCMWith(t, ts, room, token, nil, gen, onSent)
}

// publishPCMWith is publishPCM sending header with the WHIP requests (a
// web session's cookie, with token "").
func publishPCMWith(t testing.TB, ts *testServer, room, token string, header http.Header, gen func(n int, pcm []int16), onSent func(n int, at time.Time)) *speaker {
	t.Helper()
	dec, err := audio.NewDecoder(1)
	if err != nil {
		t.Fatal(err)
	}
	sp := &speaker{dec: dec, done: make(chan struct{})}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	pcmOut := make([]int16, 5760)
	sp.c, err = testkit.PublishWHIP(ctx, ts.base+"/api/v1/rooms/"+room+"/whip", token, testkit.WHIPOptions{
		LoopbackOnly: true,
		Header:       header,
		HTTPClient:   ts.client,
		OnPacket: func(_ uint16, _ uint32, payload []byte) {
			sp.mu.Lock()
			defer sp.mu.Unlock()
			if n, err := sp.dec.Decode(payload, pcmOut); err == nil {
				sp.heard = append(sp.heard, pcmOut[:n]...)
			}
		},
	})
	if err != nil {
		t.Fatalf("publish: %v", err)
	}
	enc, err := audio.NewEncoder(1, 32000)
	if err != nil {
		t.Fatal(err)
	}
	sctx, scancel := context.WithCancel(context.Background())
	sp.cancel = scancel
	go func() {
		defer close(sp.done)
		pcm := make([]int16, audio.FrameSamples)
		buf := make([]byte, 1500)
		start := time.Now()
		for n := 0; ; n++ {
			select {
			case <-sctx.Done():
				return
			case <-time.After(time.Until(start.Add(time.Duration(n) * audio.FrameDuration))):
			}
			gen(n, pcm)
			k, err := enc.Encode(pcm, buf)
			if err != nil {
				return
			}
			if onSent != nil {
				onSent(n, time.Now())
			}
			if sp.c.WriteOpus(buf[:k], audio.FrameDuration) != nil {
				return
			}
		}
	}()
	return sp
}

func (sp *speaker) stop() {
	sp.cancel()
	<-sp.done
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	sp.c.Close(ctx)
}

func (sp *speaker) heardPCM() []int16 {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	return append([]int16(nil), sp.heard...)
}

// listener collects the decoded program one listener receives, and checks
// the frame numbering for gaps as it goes.
type listener struct {
	mu      sync.Mutex
	pcm     []int16
	gaps    int
	levels  map[uint32]uint8 // listen.ws: the loudest level of each speaker key heard
	endErr  error            // how the stream ended: nil for a clean end
	done    chan struct{}
	started time.Time
}

func (l *listener) add(pcm []int16) {
	l.mu.Lock()
	l.pcm = append(l.pcm, pcm...)
	l.mu.Unlock()
}

func (l *listener) snapshot() []int16 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]int16(nil), l.pcm...)
}

func listenOgg(t *testing.T, ctx context.Context, url string) *listener {
	t.Helper()
	return listenOggWith(t, ctx, streamHTTP, url)
}

// listenOggWith is listenOgg over the client c (a stream client: its
// bodies last as long as ctx).
func listenOggWith(t *testing.T, ctx context.Context, c *http.Client, url string) *listener {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "audio/ogg" {
		t.Fatalf("listen.ogg: %s %s", resp.Status, resp.Header.Get("Content-Type"))
	}
	dec, err := audio.NewDecoder(1)
	if err != nil {
		t.Fatal(err)
	}
	l := &listener{done: make(chan struct{}), started: time.Now()}
	go func() {
		defer close(l.done)
		defer resp.Body.Close()
		or := testkit.NewOggReader(resp.Body)
		pcm := make([]int16, 5760)
		var lastGranule int64 = -1
		var samplesSince int64
		for n := 0; ; n++ {
			pkt, gran, err := or.NextPacket()
			if err != nil {
				if !errors.Is(err, io.EOF) {
					l.endErr = err
				}
				return
			}
			if n < 2 { // OpusHead, OpusTags
				continue
			}
			k, err := dec.Decode(pkt, pcm)
			if err != nil {
				l.endErr = err
				return
			}
			l.add(pcm[:k])
			samplesSince += int64(k)
			if gran >= 0 {
				if lastGranule >= 0 && gran-lastGranule != samplesSince {
					l.mu.Lock()
					l.gaps++
					l.mu.Unlock()
				}
				lastGranule, samplesSince = gran, 0
			}
		}
	}()
	return l
}

func listenWS(t *testing.T, ctx context.Context, url string) *listener {
	t.Helper()
	return listenWSWith(t, ctx, testHTTP, url)
}

// listenWSWith is listenWS dialling through client.
func listenWSWith(t *testing.T, ctx context.Context, client *http.Client, url string) *listener {
	t.Helper()
	c, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{HTTPClient: client})
	if err != nil {
		t.Fatal(err)
	}
	typ, hello, err := c.Read(ctx)
	if err != nil || typ != websocket.MessageText {
		t.Fatalf("ws hello: %v %v", typ, err)
	}
	var h struct {
		Codec        string `json:"codec"`
		SampleRate   int    `json:"sample_rate"`
		Channels     int    `json:"channels"`
		FrameSamples int    `json:"frame_samples"`
	}
	if err := json.Unmarshal(hello, &h); err != nil || h.Codec != "opus" || h.SampleRate != 48000 || h.Channels != 1 {
		t.Fatalf("ws hello %s: %v", hello, err)
	}
	dec, err := audio.NewDecoder(1)
	if err != nil {
		t.Fatal(err)
	}
	l := &listener{done: make(chan struct{}), started: time.Now()}
	go func() {
		defer close(l.done)
		pcm := make([]int16, 5760)
		next := uint64(math.MaxUint64)
		for {
			typ, msg, err := c.Read(ctx)
			if err != nil {
				if websocket.CloseStatus(err) != websocket.StatusNormalClosure {
					l.endErr = err
				}
				return
			}
			if typ != websocket.MessageBinary {
				continue
			}
			m, err := program.ParseWS(msg)
			if err != nil {
				l.endErr = err
				c.CloseNow()
				return
			}
			l.mu.Lock()
			if next != math.MaxUint64 && m.FirstSeq != next {
				l.gaps++
			}
			for _, lv := range m.Levels {
				if l.levels == nil {
					l.levels = map[uint32]uint8{}
				}
				l.levels[lv.Speaker] = max(l.levels[lv.Speaker], lv.Level)
			}
			l.mu.Unlock()
			next = m.FirstSeq + uint64(len(m.Frames))
			for _, f := range m.Frames {
				k, err := dec.Decode(f, pcm)
				if err != nil {
					l.endErr = err
					c.CloseNow()
					return
				}
				l.add(pcm[:k])
			}
		}
	}()
	return l
}

// windowLevels cuts pcm into windows of win samples and measures each tone.
func windowLevels(pcm []int16, win int, freqs ...float64) [][]float64 {
	var out [][]float64
	for i := 0; i+win <= len(pcm); i += win {
		row := make([]float64, len(freqs)+1)
		for j, f := range freqs {
			row[j] = testkit.Goertzel(pcm[i:i+win], audio.SampleRate, f)
		}
		row[len(freqs)] = audio.RMS(pcm[i : i+win])
		out = append(out, row)
	}
	return out
}

func within(got, want, dB float64) bool {
	r := math.Pow(10, dB/20)
	return got >= want/r && got <= want*r
}
