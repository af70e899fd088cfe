package fanout

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/coder/websocket"

	"majlis/internal/metrics"
	"majlis/internal/program"
	"majlis/internal/testkit"
)

// discardSink is a listener connection that takes every write at once.
type discardSink struct {
	chunks atomic.Uint64
	_      [56]byte // keep each counter on its own cache line
}

func (s *discardSink) write(b []byte) error {
	_, _ = io.Discard.Write(b)
	s.chunks.Add(1)
	return nil
}

func (s *discardSink) flush() error { return nil }

// BenchmarkFanout measures one chunk delivered to N listeners through the
// goroutine-per-listener loop (perlistener_test.go: position, backlog
// check, metrics, wakeup) with instant sinks. One op is one chunk published and written by every
// listener; allocs/op must not grow with N (the program's own framing
// allocations per chunk are the whole of it).
func BenchmarkFanout(b *testing.B) {
	for _, n := range []int{1, 100, 1000, 10000} {
		b.Run(fmt.Sprintf("listeners=%d", n), func(b *testing.B) {
			h := NewHub(Config{Metrics: metrics.New(nil)})
			p := program.New(program.Config{})
			sinks := make([]discardSink, n)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			var wg sync.WaitGroup
			for i := range sinks {
				wg.Go(func() { _ = h.stream(ctx, p, 0, &sinks[i], &h.ogg, false) })
			}
			frame := packet(0, 80) // ~32 kbit/s; shared, never modified
			publishAndWait := func(chunks uint64) {
				p.WriteFrame(frame)
				p.WriteFrame(frame)
				for j := range sinks {
					for sinks[j].chunks.Load() < chunks {
						runtime.Gosched()
					}
				}
			}
			// Warm up: every listener has parked once (the runtime allocates
			// its wait records on first use).
			publishAndWait(1)
			publishAndWait(2)
			b.ReportAllocs()
			b.ResetTimer()
			for i := range uint64(b.N) {
				publishAndWait(i + 3)
			}
			b.StopTimer()
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/listener-chunk")
			p.Close()
			wg.Wait()
		})
	}
}

// BenchmarkFanoutSockets is the same over real loopback connections
// (net/http chunked Ogg, and WebSocket), with the reading clients in the
// same process: allocs/op include both ends.
func BenchmarkFanoutSockets(b *testing.B) {
	const n = 50
	// "ogg" and "ws" are the engine, "-perlistener" the goroutine per
	// listener writing through net/http or github.com/coder/websocket
	// (perlistener_test.go, the baseline).
	for _, mode := range []string{"ogg", "ogg-perlistener", "ws", "ws-perlistener"} {
		proto := strings.TrimSuffix(mode, "-perlistener")
		b.Run(fmt.Sprintf("%s/listeners=%d", mode, n), func(b *testing.B) {
			m := metrics.New(nil)
			h := NewHub(Config{Metrics: m, MaxBacklog: 100})
			p := program.New(program.Config{RingChunks: 256})
			mux := http.NewServeMux()
			if strings.HasSuffix(mode, "-perlistener") {
				pl := newPerListener(h)
				defer pl.close()
				mux.HandleFunc("/listen.ogg", func(w http.ResponseWriter, r *http.Request) { pl.serveOgg(w, r, p) })
				mux.HandleFunc("/listen.ws", func(w http.ResponseWriter, r *http.Request) { pl.serveWS(w, r, p) })
			} else {
				mux.HandleFunc("/listen.ogg", func(w http.ResponseWriter, r *http.Request) { h.ServeOggDetached(w, r, p, func() {}, nil) })
				mux.HandleFunc("/listen.ws", func(w http.ResponseWriter, r *http.Request) { h.ServeWSDetached(w, r, p, func() {}, nil) })
			}
			srv := newBenchServer(mux)
			defer srv.Close()
			defer h.Close()

			counts := make([]discardSink, n)
			var wg sync.WaitGroup
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			for i := range counts {
				url := srv.URL + "/listen." + proto
				if proto == "ogg" {
					req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
					resp, err := streamHTTP.Do(req)
					if err != nil {
						b.Fatal(err)
					}
					wg.Go(func() {
						defer resp.Body.Close()
						buf := make([]byte, 64<<10)
						for {
							k, err := resp.Body.Read(buf)
							counts[i].chunks.Add(uint64(k))
							if err != nil {
								return
							}
						}
					})
					continue
				}
				conn, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(url, "http"), wsDial)
				if err != nil {
					b.Fatal(err)
				}
				conn.SetReadLimit(-1)
				wg.Go(func() {
					defer conn.CloseNow()
					buf := make([]byte, 64<<10)
					for {
						// No deadline context: the library allocates per read
						// with a cancelable one, which would blur the figure.
						_, r, err := conn.Reader(context.Background())
						if err != nil {
							return
						}
						for {
							k, err := r.Read(buf)
							counts[i].chunks.Add(uint64(k))
							if err != nil {
								break
							}
						}
					}
				})
			}
			for h.Listeners() < n {
				runtime.Gosched()
			}
			frame := packet(0, 80)
			// Clients count bytes; wait until each has the headers and chunk i.
			p.WriteFrame(frame)
			p.WriteFrame(frame)
			c0 := p.Chunk(0)
			per := uint64(len(c0.Ogg))
			base := uint64(len(p.OggHeaders()))
			if proto == "ws" {
				per = uint64(len(c0.WS))
				base = uint64(len(`{"codec":"opus","sample_rate":48000,"channels":1,"frame_samples":960,"version":1}`))
			}
			waitBytes := func(k uint64) {
				for j := range counts {
					for counts[j].chunks.Load() < k {
						runtime.Gosched()
					}
				}
			}
			waitBytes(base + per)
			b.ReportAllocs()
			cpu0 := testkit.ProcessCPU()
			b.ResetTimer()
			for i := range b.N {
				p.WriteFrame(frame)
				p.WriteFrame(frame)
				waitBytes(base + per*uint64(i+2))
			}
			b.StopTimer()
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/n, "ns/listener-chunk")
			// CPU time (both ends, this process): less sensitive than wall
			// time to other load on the box.
			b.ReportMetric(float64(testkit.ProcessCPU()-cpu0)/float64(b.N)/n, "cpu-ns/listener-chunk")
			p.Close()
			cancel()
			h.Close()
			wg.Wait()
		})
	}
}

func newBenchServer(h http.Handler) *httptest.Server { return httptest.NewServer(h) }
