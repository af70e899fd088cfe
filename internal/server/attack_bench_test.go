package server

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"majlis/internal/attack"
	"majlis/internal/joinclient"
)

// BenchmarkAttackKinds measures what each kind of attack (attack.Kinds and
// attack.MoreKinds) does to a server at two rates, aimed at an origin's
// audience port or at an edge's. The origin (and the edge) run as their own
// `majlis serve` processes, the attacker as a third at nice 19; the test
// process holds only the measuring clients. Figures, over the 8 s attack:
//
//   - stage-p99-ms: p99 of an anonymous room read on the origin's stage
//     port, one every 50 ms (a failure counts as an hour);
//   - audience-ok: the share of the legitimate audience's calls that
//     succeeded, at the origin's audience port (an edge serves only
//     listeners): 5 joins a second through the waiting room (joinclient,
//     each from its own address 127.0.210.x, admitted within 5 s) and 5 room
//     reads a second (GET /api/v1/rooms/{room} from 127.0.211.x, a 2xx within
//     5 s); joins-ok and reads-ok split it;
//   - worst-sec-frames: the fewest program frames (20 ms each: 50 a second
//     in steady state) that any of the three existing listeners (listen.ws on
//     the target) received in any whole second of the attack;
//   - tone-frames: the lowest share of a listener's frames that carry the
//     host's tone;
//   - server-rss-MiB, server-fds: the attacked process's peak VmRSS and open
//     descriptors (/proc/PID), sampled every 200 ms; for an edge,
//     origin-rss-MiB and origin-fds are the origin's;
//   - attack-requests: what the attacker sent (requests or sockets opened).
//
// For the rooms kind the origin first holds 3,000 rooms (2,950 scheduled,
// 50 live, made by the admin, whom no room quota limits) so that lists are
// long. Figures: docs/PERFORMANCE.md.
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

// Room counts of the rooms kind's origin.
const (
	attackRooms     = 3000
	attackLiveRooms = 50
)

// attackServers is an origin, and an edge for role edge, each its own process.
type attackServers struct {
	origin, edge *proc
	stage, aud   *testServer // the origin's stage and audience ports (base URLs only)
	target       string      // the attacked audience port
	attacked     *proc
}

func startAttackServers(b *testing.B, bin, role string) attackServers {
	b.Helper()
	dir := b.TempDir()
	stageAddr := "127.0.0.1:" + strconv.Itoa(freePort(b))
	audience := []string{"--http", "127.0.0.1:0", "--admin", "127.0.0.1:0",
		"--audience-max-conns", "3000", "--audience-conns-per-ip", "64", "--audience-accept-rate", "300"}
	args := []string{"serve", "--data", dir, "--stage-http", stageAddr, "--webrtc-udp", "127.0.0.1:0",
		"--join-rate", "30", "--join-burst", "5"}
	// An edge is fed over the cluster: the origin's embedded NATS server.
	natsAddr := ""
	if role == "edge" {
		natsAddr = "127.0.0.1:" + strconv.Itoa(freePort(b))
		args = append(args, "--cluster", "embedded", "--cluster-listen", natsAddr)
	}
	origin := runProc(b, bin, append(args, audience...), []string{"MAJLIS_ADMIN_TOKEN=" + sigtermToken}, servingRE)
	s := attackServers{origin: origin, attacked: origin, target: origin.base,
		stage: &testServer{base: "http://" + stageAddr}, aud: &testServer{base: origin.base}}
	if role == "edge" {
		s.edge = runProc(b, bin, append([]string{"serve", "--role", "edge", "--cluster", "nats://" + natsAddr, "--data", b.TempDir(),
			"--ticket-key-file", filepath.Join(dir, "ticket.key")}, audience...), nil, edgeServingRE)
		s.attacked, s.target = s.edge, s.edge.base
	}
	return s
}

// makeRooms has the admin create n rooms on the stage port, live of them started.
func makeRooms(b *testing.B, stageBase string, n, live int) {
	b.Helper()
	var next atomic.Int64
	errs := make(chan error, 8)
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := next.Add(1); i <= int64(n); i = next.Add(1) {
				var r struct{ ID string }
				if err := adminCall(stageBase, "POST", "/api/v1/rooms", map[string]string{"title": fmt.Sprintf("Room %d", i)}, &r, http.StatusCreated); err != nil {
					errs <- err
					return
				}
				if i <= int64(live) {
					if err := adminCall(stageBase, "POST", "/api/v1/rooms/"+r.ID+"/start", nil, nil, http.StatusOK); err != nil {
						errs <- err
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		b.Fatal(err)
	}
}

func adminCall(base, method, path string, body, out any, want int) error {
	resp, err := testHTTP.Do(jsonRequest(method, base+path, sigtermToken, body))
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != want {
		raw, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("%s %s: %d %s, want %d", method, path, resp.StatusCode, raw, want)
	}
	if out != nil {
		return json.NewDecoder(resp.Body).Decode(out)
	}
	return nil
}

// audienceLoad is the legitimate audience during an attack.
type audienceLoad struct {
	wg                             sync.WaitGroup
	joins, joinsOK, reads, readsOK atomic.Int64
}

// start sends the i-th join and room read, each bounded by 5 s.
func (a *audienceLoad) start(ctx context.Context, base, room string, i int) {
	a.wg.Add(2)
	go func() {
		defer a.wg.Done()
		cl := sourceClient(fmt.Sprintf("127.0.210.%d", 1+i%250))
		defer cl.Transport.(*http.Transport).CloseIdleConnections()
		jctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		a.joins.Add(1)
		if _, err := joinclient.Join(jctx, base, room, joinclient.Options{Client: cl}); err == nil {
			a.joinsOK.Add(1)
		}
	}()
	go func() {
		defer a.wg.Done()
		cl := sourceClient(fmt.Sprintf("127.0.211.%d", 1+i%250))
		defer cl.Transport.(*http.Transport).CloseIdleConnections()
		rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		a.reads.Add(1)
		req, _ := http.NewRequestWithContext(rctx, "GET", base+"/api/v1/rooms/"+room, nil)
		resp, err := cl.Do(req)
		if err != nil {
			return
		}
		_, err = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if err == nil && resp.StatusCode/100 == 2 {
			a.readsOK.Add(1)
		}
	}()
}

// peak is a process's highest resident set and descriptor count seen.
type peak struct {
	rss int64
	fds int
}

func (p *peak) sample(pid int) {
	if entries, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid)); err == nil {
		p.fds = max(p.fds, len(entries))
	}
	p.rss = max(p.rss, residentSet(pid))
}

func attackRun(b *testing.B, bin, role, kind string, workers, sockets int) {
	const (
		attackFor = 8 * time.Second
		hz        = 440.0
	)
	srv := startAttackServers(b, bin, role)
	var u struct{ Token string }
	if err := adminCall(srv.stage.base, "POST", "/api/v1/users", map[string]string{"name": "host"}, &u, http.StatusCreated); err != nil {
		b.Fatal(err)
	}
	if kind == "rooms" {
		makeRooms(b, srv.stage.base, attackRooms-1, attackLiveRooms-1) // the host's is the last live one
	}
	room := srv.stage.liveRoom(b, u.Token)
	sp := publishTone(b, srv.stage, room, u.Token, &tone{freq: hz, amp: toneAmp})
	defer sp.stop()
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	var watches []*wsWatch
	for range 3 {
		// The join's path at the attacked port (over the cluster the join
		// may name the edge by its absolute URL).
		u, err := url.Parse(srv.aud.join(b, room).Listen.WS)
		if err != nil {
			b.Fatal(err)
		}
		watches = append(watches, watchWS(b, ctx, strings.Replace(srv.target, "http", "ws", 1)+u.RequestURI(), hz))
	}
	time.Sleep(time.Second)

	atk, atkCancel := context.WithTimeout(ctx, attackFor+10*time.Second)
	defer atkCancel()
	var rep attack.Report
	atkDone := make(chan error, 1)
	t0 := time.Now()
	go func() {
		out, err := exec.CommandContext(atk, "nice", "-n", "19", bin, "attack", "--target", srv.target, "--join-target", srv.aud.base, "--room", room, "--kinds", kind,
			"--duration", attackFor.String(), "--workers", strconv.Itoa(workers), "--sockets", strconv.Itoa(sockets), "--ws", "4", "--json").Output()
		if err == nil {
			err = json.Unmarshal(out, &rep)
		}
		atkDone <- err
	}()
	probeCtx, probeCancel := context.WithDeadline(ctx, t0.Add(attackFor))
	defer probeCancel()
	probes := make(chan []time.Duration, 1)
	go func() { probes <- probeStage(probeCtx, srv.stage.base+"/api/v1/rooms/"+room) }()
	var aud audienceLoad
	var attacked, origin peak
	tick := time.NewTicker(200 * time.Millisecond)
	for i := 0; probeCtx.Err() == nil; i++ {
		select {
		case <-probeCtx.Done():
			continue
		case <-tick.C:
		}
		aud.start(ctx, srv.aud.base, room, i)
		attacked.sample(srv.attacked.cmd.Process.Pid)
		if srv.edge != nil {
			origin.sample(srv.origin.cmd.Process.Pid)
		}
	}
	tick.Stop()
	p := <-probes
	aud.wg.Wait()
	if err := <-atkDone; err != nil {
		b.Fatalf("attack: %v", err)
	}
	cancel()

	// Whole seconds inside the attack window.
	first, last := int64(math.Ceil(float64(t0.UnixNano())/1e9)), t0.Add(attackFor).Unix()-1
	worstSec, tone := math.MaxInt, 1.0
	for _, w := range watches {
		<-w.done
		w.mu.Lock()
		for s := first; s <= last; s++ {
			worstSec = min(worstSec, w.perSec[s])
		}
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
		b.Logf("attack %s: errors %d, held %d, refused %d, status %v", kind, k.Errors, k.Held, k.Refused, k.Status)
	}
	ratio := func(ok, n *atomic.Int64) float64 {
		if n.Load() == 0 {
			return 0
		}
		return float64(ok.Load()) / float64(n.Load())
	}
	b.ReportMetric(float64(pct(p, 99).Microseconds())/1000, "stage-p99-ms")
	b.ReportMetric(float64(aud.joinsOK.Load()+aud.readsOK.Load())/float64(max(1, aud.joins.Load()+aud.reads.Load())), "audience-ok")
	b.ReportMetric(ratio(&aud.joinsOK, &aud.joins), "joins-ok")
	b.ReportMetric(ratio(&aud.readsOK, &aud.reads), "reads-ok")
	b.ReportMetric(float64(worstSec), "worst-sec-frames")
	b.ReportMetric(tone, "tone-frames")
	b.ReportMetric(float64(attacked.rss)/(1<<20), "server-rss-MiB")
	b.ReportMetric(float64(attacked.fds), "server-fds")
	if srv.edge != nil {
		b.ReportMetric(float64(origin.rss)/(1<<20), "origin-rss-MiB")
		b.ReportMetric(float64(origin.fds), "origin-fds")
	}
	b.ReportMetric(float64(sent), "attack-requests")
}

// residentSet is process pid's resident set (VmRSS), in bytes.
func residentSet(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
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
