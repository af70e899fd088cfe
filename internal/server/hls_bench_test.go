package server

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"majlis/internal/loadgen"
)

// BenchmarkHLSBehindNginx: LL-HLS players (`majlis loadgen --proto hls`)
// behind one nginx cache, or straight at the origin, for 10 s per run: the
// origin's HLS requests per second (nginx's fills), parts per player,
// missed parts, and the latency from a part's program-date-time to its
// arrival. Each sub-benchmark starts its own server, tone, and nginx.
//
//	go test -run '^$' -bench HLSBehindNginx -benchtime 1x ./internal/server/
func BenchmarkHLSBehindNginx(b *testing.B) {
	type run struct {
		players int
		part    time.Duration
		direct  bool
	}
	var runs []run
	for _, n := range []int{10, 100, 1000} {
		runs = append(runs, run{n, 500 * time.Millisecond, false})
	}
	for _, p := range []time.Duration{200 * time.Millisecond, time.Second} {
		runs = append(runs, run{100, p, false})
	}
	runs = append(runs, run{10, 500 * time.Millisecond, true})
	for _, r := range runs {
		name := fmt.Sprintf("players=%d/part=%v", r.players, r.part)
		if r.direct {
			name += "/direct"
		}
		b.Run(name, func(b *testing.B) {
			seg := 2 * time.Second
			if r.part == time.Second {
				seg = 4 * time.Second
			}
			ts := startServerWith(b, "", func(c *Config) { c.HLS.Part, c.HLS.Segment = r.part, seg })
			_, hostTok := ts.createUser(b, "amal")
			room := ts.liveRoom(b, hostTok)
			sp := publishTone(b, ts, room, hostTok, &tone{freq: lowHz, amp: toneAmp})
			defer sp.stop()
			listenAt := ts.base
			var ng *nginxCache
			if !r.direct {
				ng = startNginxConns(b, ts.HTTPAddr(), 4*r.players+256)
				listenAt = ng.base
			}
			time.Sleep(2 * time.Second)
			const dur = 10 * time.Second
			var rep loadgen.HLSReport
			for range b.N {
				ctx, cancel := context.WithTimeout(context.Background(), dur+30*time.Second)
				var err error
				rep, err = loadgen.RunHLS(ctx, loadgen.HLSConfig{Origin: ts.base, ListenAt: listenAt, Room: room, Players: r.players, Ramp: 1000, Duration: dur})
				cancel()
				if err != nil {
					b.Fatal(err)
				}
			}
			if ng != nil {
				fills := 0
				for uri, sts := range ng.cacheLog(b) {
					if !strings.Contains(uri, "/hls/") || strings.Contains(uri, "heartbeat") {
						continue
					}
					for _, s := range sts {
						if s != "HIT" {
							fills++
						}
					}
				}
				b.ReportMetric(float64(fills)/float64(b.N)/dur.Seconds(), "origin-req/s")
			}
			b.ReportMetric(float64(rep.Requests)/dur.Seconds(), "player-req/s")
			b.ReportMetric(float64(rep.PartsMin), "parts-min")
			b.ReportMetric(float64(rep.Missed), "missed")
			b.ReportMetric(float64(rep.Stalls), "stalls")
			b.ReportMetric(rep.LatencyP50, "lat-p50-ms")
			b.ReportMetric(rep.LatencyP99, "lat-p99-ms")
			if len(rep.Errors) > 0 || rep.Playing != r.players {
				b.Errorf("%d of %d players playing; errors %v", rep.Playing, r.players, rep.Errors)
			}
		})
	}
}
