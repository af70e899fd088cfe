package server

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"majlis/internal/admission"
	"majlis/internal/testkit"
)

// heartbeatClientEnv names the file of a heartbeat client's orders: set, the
// test binary runs TestHLSHeartbeatClient as the client process of
// BenchmarkHLSHeartbeatOrigin.
const heartbeatClientEnv = "MAJLIS_HEARTBEAT_CLIENT"

type heartbeatOrders struct {
	URL     string        // the heartbeat URL without t
	Tickets []string      // one player each
	Conns   int           // keep-alive connections
	For     time.Duration // measured phase
}

type heartbeatResult struct {
	OK     int64         `json:"ok"`
	Failed map[int]int64 `json:"failed"` // status → count
}

// playerAddr is player i's address as the trusted proxy forwards it:
// 256 players a /24, so no address or prefix meets the guard's limits.
func playerAddr(i int) string {
	return fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255)
}

// BenchmarkHLSHeartbeatOrigin: the origin's CPU per LL-HLS heartbeat
// through the whole HTTP path: the audience guard (trusted-proxy
// X-Forwarded-For, the per-address and per-/24 heartbeat limits), the
// ticket's signature, and the room's count. 100,000 players' tickets beat,
// each from its own address as a cache forwards it, over keep-alive
// loopback connections from a client in another process (the test binary
// run again), so the server's CPU (getrusage of this process, less its
// idle rate measured before) is its own. The players beat once each first
// (new sessions, not measured), then as fast as the client goes for 10 s.
//
//	go test -run '^$' -bench HLSHeartbeatOrigin -benchtime 1x ./internal/server/
func BenchmarkHLSHeartbeatOrigin(b *testing.B) {
	const players, conns, dur = 100_000, 32, 10 * time.Second
	ts := startServerWith(b, "", func(c *Config) { c.Admission.TrustedProxies = []string{"127.0.0.1"} })
	_, hostTok := ts.createUser(b, "amal")
	room := ts.liveRoom(b, hostTok)
	keys, err := admission.LoadKeys(ts.cfg.DataDir)
	if err != nil {
		b.Fatal(err)
	}
	signer, err := admission.NewSignerKeys(keys, time.Hour)
	if err != nil {
		b.Fatal(err)
	}
	o := heartbeatOrders{URL: ts.base + "/api/v1/rooms/" + room + "/hls/heartbeat?t=", Conns: conns, For: dur}
	for range players {
		tok, _, err := signer.Issue(room)
		if err != nil {
			b.Fatal(err)
		}
		o.Tickets = append(o.Tickets, tok)
	}
	f, err := os.CreateTemp(b.TempDir(), "orders")
	if err != nil {
		b.Fatal(err)
	}
	if err := json.NewEncoder(f).Encode(o); err != nil {
		b.Fatal(err)
	}
	f.Close()

	// The server's idle CPU (a live room's ticks, the guard's sweeps).
	idle0, t0 := testkit.ProcessCPU(), time.Now()
	time.Sleep(3 * time.Second)
	idleRate := float64(testkit.ProcessCPU()-idle0) / float64(time.Since(t0))

	var perBeat, clientPerBeat, rate float64
	for range b.N {
		cmd := exec.Command(os.Args[0], "-test.run=^TestHLSHeartbeatClient$", "-test.count=1")
		cmd.Env = append(os.Environ(), heartbeatClientEnv+"="+f.Name())
		cmd.Stderr = os.Stderr
		out, err := cmd.StdoutPipe()
		if err != nil {
			b.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		sc := bufio.NewScanner(out)
		var cpu0, cpu1 time.Duration
		var w0, w1 time.Time
		var res heartbeatResult
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "warm":
				cpu0, w0 = testkit.ProcessCPU(), time.Now()
			case strings.HasPrefix(line, "{"):
				cpu1, w1 = testkit.ProcessCPU(), time.Now()
				if err := json.Unmarshal([]byte(line), &res); err != nil {
					b.Fatal(err)
				}
			}
		}
		io.Copy(io.Discard, out)
		if err := cmd.Wait(); err != nil || w1.IsZero() || res.OK == 0 {
			b.Fatalf("client: %v, result %+v", err, res)
		}
		if len(res.Failed) > 0 {
			b.Errorf("refused heartbeats: %v", res.Failed)
		}
		wall := w1.Sub(w0)
		server := float64(cpu1-cpu0) - idleRate*float64(wall)
		perBeat = server / float64(res.OK) / 1e3
		clientPerBeat = float64(cmd.ProcessState.UserTime()+cmd.ProcessState.SystemTime()) / float64(res.OK+players) / 1e3
		rate = float64(res.OK) / wall.Seconds()
	}
	b.ReportMetric(perBeat, "µs-cpu/beat")
	b.ReportMetric(1e6/perBeat, "beats/s/core")
	b.ReportMetric(rate, "beats/s")
	b.ReportMetric(clientPerBeat, "client-µs/beat")
	b.ReportMetric(idleRate*100, "idle-%cpu")
	b.ReportMetric(0, "ns/op")
}

// TestHLSHeartbeatClient is BenchmarkHLSHeartbeatOrigin's client process;
// without its orders (heartbeatClientEnv) it does nothing. It beats every
// ticket once, prints "warm", beats round the tickets for the measured
// phase and prints its result as JSON.
func TestHLSHeartbeatClient(t *testing.T) {
	path := os.Getenv(heartbeatClientEnv)
	if path == "" {
		return
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var o heartbeatOrders
	if err := json.Unmarshal(b, &o); err != nil {
		t.Fatal(err)
	}
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: o.Conns, MaxConnsPerHost: o.Conns}, Timeout: 10 * time.Second}
	var mu sync.Mutex
	res := heartbeatResult{Failed: map[int]int64{}}
	beat := func(i int) bool {
		req, _ := http.NewRequest("POST", o.URL+o.Tickets[i], nil)
		req.Header.Set("X-Forwarded-For", playerAddr(i))
		resp, err := hc.Do(req)
		if err != nil {
			mu.Lock()
			res.Failed[0]++
			mu.Unlock()
			return false
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			mu.Lock()
			res.Failed[resp.StatusCode]++
			mu.Unlock()
			return false
		}
		return true
	}
	phase := func(until time.Time, once bool) int64 {
		var ok atomic.Int64
		var next atomic.Int64
		var wg sync.WaitGroup
		for range o.Conns {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					i := int(next.Add(1) - 1)
					if once && i >= len(o.Tickets) || !once && time.Now().After(until) {
						return
					}
					if beat(i % len(o.Tickets)) {
						ok.Add(1)
					}
				}
			}()
		}
		wg.Wait()
		return ok.Load()
	}
	phase(time.Time{}, true)
	fmt.Println("warm")
	res.OK = phase(time.Now().Add(o.For), false)
	if len(res.Failed) == 0 {
		res.Failed = nil
	}
	j, _ := json.Marshal(res)
	fmt.Println(string(j))
	os.Stdout.Sync()
}
