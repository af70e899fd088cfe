package server

import (
	"context"
	"math"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"majlis/internal/audio"
	"majlis/internal/cluster"
	"majlis/internal/program"
)

// BenchmarkMouthToEar measures the delay from a click entering a speaker's
// encoder to the listener playing it through listen.ws, on loopback. One
// iteration is one click (clicks are 600 ms apart). The listener plays with
// the smallest fixed playout delay that would have played every received
// frame on time (an ideal jitter buffer sized for the worst frame seen), so
// the figure includes the jitter buffer the listener needs.
//
//	go test -run xxx -bench MouthToEar -benchtime 15x ./internal/server/
func BenchmarkMouthToEar(b *testing.B) {
	ts := startServer(b, "")
	_, hostTok := ts.createUser(b, "host")
	room := ts.liveRoom(b, hostTok)
	mouthToEar(b, ts, hostTok, room, strings.Replace(ts.base, "http", "ws", 1)+ts.join(b, room).Listen.WS)
}

// BenchmarkMouthToEarEdge is BenchmarkMouthToEar through an edge: the
// origin publishes the program on its embedded NATS server, an edge in
// the same process takes it from there, and the listener is placed on the
// edge by the join (issue 14: at most 20 ms above the origin's figure).
//
//	go test -run xxx -bench 'MouthToEar(Edge)?$' -benchtime 15x ./internal/server/
func BenchmarkMouthToEarEdge(b *testing.B) {
	dir := b.TempDir()
	ts := startClusterOrigin(b, dir, cluster.Config{URL: cluster.Embedded, Listen: "127.0.0.1:0"})
	startClusterEdge(b, dir, ts.cluster.ServerURL())
	for deadline := time.Now().Add(10 * time.Second); ts.fleet.Edges() < 1; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			b.Fatal("the edge does not report")
		}
	}
	_, hostTok := ts.createUser(b, "host")
	room := ts.liveRoom(b, hostTok)
	ws := ts.join(b, room).Listen.WS
	if !strings.HasPrefix(ws, "http://") || strings.HasPrefix(ws, ts.base) {
		b.Fatalf("the join placed the listener at %q, not on the edge", ws)
	}
	mouthToEar(b, ts, hostTok, room, "ws"+strings.TrimPrefix(ws, "http"))
}

// mouthToEar is the benchmark's body: clicks published over WHIP to the
// origin ts, heard by a listener of wsURL.
func mouthToEar(b *testing.B, ts *testServer, hostTok, room, wsURL string) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(b.N)*time.Second+30*time.Second)
	defer cancel()

	c, _, err := websocket.Dial(ctx, wsURL, &websocket.DialOptions{HTTPClient: testHTTP})
	if err != nil {
		b.Fatal(err)
	}
	defer c.CloseNow()
	if _, _, err := c.Read(ctx); err != nil { // hello
		b.Fatal(err)
	}

	const clickEvery = 30 // frames: 600 ms
	var mu sync.Mutex
	sent := map[int]time.Time{} // click frame → when it was handed to WebRTC
	gen := func(n int, pcm []int16) {
		clear(pcm)
		if n%clickEvery == 0 && n > 0 {
			for i := 0; i < 240; i++ { // 5 ms burst of 2 kHz at the start of the frame
				pcm[i] = int16(0.7 * 32767 * math.Sin(2*math.Pi*2000*float64(i)/audio.SampleRate))
			}
		}
	}
	onSent := func(n int, at time.Time) {
		if n%clickEvery == 0 && n > 0 {
			mu.Lock()
			sent[n/clickEvery] = at
			mu.Unlock()
		}
	}

	type rx struct {
		seq uint64
		at  time.Time
	}
	var arrivals []rx
	var clicks []float64 // program time (s) of each detected click onset
	dec, _ := audio.NewDecoder(1)
	pcm := make([]int16, 5760)
	quiet := 0

	b.ResetTimer()
	sp := publishPCM(b, ts, room, hostTok, gen, onSent)
	defer sp.stop()
	for len(clicks) < b.N+1 {
		_, msg, err := c.Read(ctx)
		if err != nil {
			b.Fatal(err)
		}
		now := time.Now()
		m, err := program.ParseWS(msg)
		if err != nil {
			b.Fatal(err)
		}
		for i, f := range m.Frames {
			seq := m.FirstSeq + uint64(i)
			arrivals = append(arrivals, rx{seq, now})
			k, _ := dec.Decode(f, pcm)
			for j := 0; j < k; j++ {
				if math.Abs(float64(pcm[j])) > 0.2*32767 {
					if quiet > 4800 {
						clicks = append(clicks, (float64(seq)*audio.FrameSamples+float64(j))/audio.SampleRate)
					}
					quiet = 0
				} else {
					quiet++
				}
			}
		}
	}
	b.StopTimer()

	// Ideal playout: frame s plays at T0 + s·20 ms, T0 the latest arrival offset seen.
	// The pre-roll (old frames sent at connect) is skipped: it is not live.
	var t0 time.Time
	for _, a := range arrivals {
		if a.at.Before(arrivals[0].at.Add(500 * time.Millisecond)) {
			continue
		}
		off := a.at.Add(-time.Duration(a.seq) * audio.FrameDuration)
		if off.After(t0) {
			t0 = off
		}
	}
	var lat []float64
	mu.Lock()
	for i, pt := range clicks {
		at, ok := sent[i+1]
		if !ok {
			continue
		}
		mouth := at.Add(-audio.FrameDuration) // the frame's first sample was captured 20 ms before it could be encoded
		ear := t0.Add(time.Duration(pt * float64(time.Second)))
		lat = append(lat, ear.Sub(mouth).Seconds()*1000)
	}
	mu.Unlock()
	if len(lat) == 0 {
		b.Fatal("no click matched")
	}
	sort.Float64s(lat)
	b.ReportMetric(lat[len(lat)/2], "ms-p50")
	b.ReportMetric(lat[len(lat)-1], "ms-max")
	b.ReportMetric(0, "ns/op")
}
