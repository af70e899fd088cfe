package server

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"majlis/internal/attack"
	"majlis/internal/joinclient"
)

// BenchmarkAttackKinds measures what each kind of attack (attack.Kinds and
// attack.MoreKinds) does to a server at two rates, aimed at an origin's
// audience port or at an edge's: the stage API's p99 (a host's reads on the
// stage port), the audience's success rate (legitimate joins through the
// waiting room, at the origin), the existing listeners' worst gap between
// messages and the share of their frames with the host's tone, and the
// RSS and open descriptors of the process at their highest during the attack (which holds the origin,
// the edge and the test's clients; the attacker is its own process at nice
// 19). Figures: docs/PERFORMANCE.md.
//
//	go test -run '^$' -bench AttackKinds -benchtime 1x -timeout 30m ./internal/server/
func BenchmarkAttackKinds(b *testing.B) {
	bin := buildMajlis(b)
	rates := []struct {
		name             string
		workers, sockets int
	}{{"low", 2, 50}, {"high", 8, 300}}
	for _, role := range []string{"origin", "edge"} {
		for _, kind := range append(append([]string{}, attack.Kinds...), attack.MoreKinds...) {
			for _, rate := range rates {
				b.Run(role+"/"+kind+"/"+rate.name, func(b *testing.B) {
					for range b.N {
						attackRun(b, bin, role, kind, rate.workers, rate.sockets)
					}
				})
			}
		}
	}
}

func attackRun(b *testing.B, bin, role, kind string, workers, sockets int) {
	const (
		attackFor = 8 * time.Second
		hz        = 440.0
	)
	dir := b.TempDir()
	cfg := testConfig(b, dir)
	cfg.Admission = AdmissionConfig{StageHTTPAddr: "127.0.0.1:0", JoinRate: 30, JoinBurst: 5,
		AudienceMaxConns: 3000, AudienceConnsPerIP: 64, AudienceConnsPerNet: 64, AudienceAcceptRate: 300}
	ts := runServer(b, cfg)
	stage := &testServer{Server: ts.Server, base: "http://" + ts.StageAddr()}
	target := ts.base
	if role == "edge" {
		_, target = startEdgeWith(b, ts, dir, func(c *EdgeConfig) {
			c.Admission = AdmissionConfig{AudienceMaxConns: 3000, AudienceConnsPerIP: 64, AudienceConnsPerNet: 64, AudienceAcceptRate: 300}
		})
	}
	_, hostTok := stage.createUser(b, "host")
	room := stage.liveRoom(b, hostTok)
	sp := publishTone(b, stage, room, hostTok, &tone{freq: hz, amp: toneAmp})
	defer sp.stop()
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	var watches []*wsWatch
	for range 3 {
		watches = append(watches, watchWS(b, ctx, strings.Replace(target, "http", "ws", 1)+ts.join(b, room).Listen.WS, hz))
	}
	time.Sleep(time.Second)

	atk, atkCancel := context.WithTimeout(ctx, attackFor+10*time.Second)
	defer atkCancel()
	var rep attack.Report
	atkDone := make(chan error, 1)
	go func() {
		out, err := exec.CommandContext(atk, "nice", "-n", "19", bin, "attack", "--target", target, "--room", room, "--kinds", kind,
			"--duration", attackFor.String(), "--workers", strconv.Itoa(workers), "--sockets", strconv.Itoa(sockets), "--ws", "4", "--json").Output()
		if err == nil {
			err = json.Unmarshal(out, &rep)
		}
		atkDone <- err
	}()
	probeCtx, probeCancel := context.WithTimeout(ctx, attackFor)
	probes := make(chan []time.Duration, 1)
	go func() { probes <- probeStage(probeCtx, stage.base+"/api/v1/rooms/"+room) }()
	time.Sleep(time.Second)
	ok := 0
	const joins = 10
	for i := range joins {
		jctx, jcancel := context.WithTimeout(ctx, 5*time.Second)
		if _, err := joinclient.Join(jctx, ts.base, room, joinclient.Options{Client: sourceClient(fmt.Sprintf("127.0.210.%d", i+1))}); err == nil {
			ok++
		}
		jcancel()
	}
	fds, rss := 0, int64(0)
	for probeCtx.Err() == nil {
		if entries, err := os.ReadDir("/proc/self/fd"); err == nil {
			fds = max(fds, len(entries))
		}
		rss = max(rss, residentSet())
		time.Sleep(200 * time.Millisecond)
	}
	probeCancel()
	p := <-probes
	if err := <-atkDone; err != nil {
		b.Fatalf("attack: %v", err)
	}
	cancel()
	worst, tone := time.Duration(0), 1.0
	for _, w := range watches {
		<-w.done
		w.mu.Lock()
		worst = max(worst, w.maxGap)
		if w.frames > 0 {
			tone = min(tone, float64(w.toneWins)/float64(w.frames))
		} else {
			tone = 0
		}
		w.mu.Unlock()
	}
	sent := int64(0)
	if k := rep.Kinds[kind]; k != nil {
		sent = k.Requests
	}
	b.ReportMetric(float64(pct(p, 99).Microseconds())/1000, "stage-p99-ms")
	b.ReportMetric(float64(ok)/joins, "joins-ok")
	b.ReportMetric(float64(worst.Milliseconds()), "worst-gap-ms")
	b.ReportMetric(tone, "tone-frames")
	b.ReportMetric(float64(rss)/(1<<20), "peak-rss-MiB")
	b.ReportMetric(float64(fds), "peak-fds")
	b.ReportMetric(float64(sent), "attack-requests")
}

// residentSet is this process's resident set (VmRSS), in bytes.
func residentSet() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb << 10
		}
	}
	return 0
}
