package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"majlis/internal/admission"
	"majlis/internal/attack"
	"majlis/internal/audio"
	"majlis/internal/joinclient"
	"majlis/internal/overload"
	"majlis/internal/program"
	"majlis/internal/testkit"
)

// startAdmissionServer runs a server with the given admission config and a
// separate stage port; it returns the audience view and the stage view.
func startAdmissionServer(t testing.TB, ac AdmissionConfig) (aud, stage *testServer) {
	t.Helper()
	ac.StageHTTPAddr = "127.0.0.1:0"
	s, err := New(Config{DataDir: t.TempDir(), HTTPAddr: "127.0.0.1:0", AdminAddr: "127.0.0.1:0", WebRTCUDP: "127.0.0.1:0",
		AdminToken: testAdminToken, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Admission: ac})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	aud = &testServer{Server: s, base: "http://" + s.HTTPAddr(), cancel: cancel, done: make(chan error, 1)}
	go func() { aud.done <- s.Serve(ctx) }()
	t.Cleanup(aud.stop)
	return aud, &testServer{Server: s, base: "http://" + s.StageAddr()}
}

// sourceClient is an HTTP client whose connections come from src (a loopback address).
func sourceClient(src string) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
	d.Timeout = 5 * time.Second
	return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{DialContext: d.DialContext}}
}

type apiAnswer struct {
	status int
	header http.Header
	Error  struct{ Code string }
	Queue  struct {
		Token    string
		Position int
		WaitMS   int64 `json:"wait_ms"`
		State    string
	}
	PoW struct {
		Challenge  string
		Difficulty int
	}
	Ticket string
	Listen struct{ Ogg, WS string }
}

func post(t *testing.T, c *http.Client, url string, hdr map[string]string) apiAnswer {
	t.Helper()
	req, _ := http.NewRequest("POST", url, nil)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var a apiAnswer
	json.NewDecoder(resp.Body).Decode(&a)
	a.status, a.header = resp.StatusCode, resp.Header
	return a
}

// TestAdmissionPlanes checks the admission pieces one by one through a real
// server: the stage port, one connection per ticket, the waiting room and
// its lobby, proof of work, per-IP limits and shedding.
func TestAdmissionPlanes(t *testing.T) {
	ts, stage := startAdmissionServer(t, AdmissionConfig{JoinRate: 2, JoinBurst: 2, PoWBits: [3]int{8, 10, 12}})
	_, hostTok := stage.createUser(t, "host")
	room := stage.liveRoom(t, hostTok)
	joinURL := ts.base + "/api/v1/rooms/" + room + "/join"
	c := sourceClient("127.0.1.1")

	t.Run("stage port serves no audience", func(t *testing.T) {
		if code := stage.call(t, "POST", "/api/v1/rooms/"+room+"/join", "", nil, nil); code != http.StatusNotFound {
			t.Fatalf("join on the stage port = %d, want 404", code)
		}
		if code := ts.call(t, "POST", "/api/v1/rooms/"+room+"/end", hostTok, nil, nil); code != http.StatusNotFound {
			t.Fatalf("end on the audience port = %d, want 404 (stage plane elsewhere)", code)
		}
		var rv struct{ State string }
		if code := stage.call(t, "GET", "/api/v1/rooms/"+room, "", nil, &rv); code != http.StatusOK || rv.State != "live" {
			t.Fatalf("room on the stage port = %d %+v", code, rv)
		}
	})

	t.Run("waiting room", func(t *testing.T) {
		var got []apiAnswer
		for range 4 {
			got = append(got, post(t, sourceClient("127.0.2.1"), joinURL, nil))
		}
		// The burst (2) was admitted; the next two wait their turn 0.5 s apart.
		if got[0].status != 200 || got[1].status != 200 {
			t.Fatalf("burst joins: %d %d", got[0].status, got[1].status)
		}
		for i, a := range got[2:] {
			if a.status != http.StatusTooManyRequests || a.Error.Code != "queued" || a.Queue.Token == "" || a.Queue.Position != i+1 || a.header.Get("Retry-After") == "" {
				t.Fatalf("join %d beyond the rate: %d %+v", i+2, a.status, a)
			}
		}
		// Too early: still waiting; at its turn: a ticket; the token is single-use.
		tok := got[3].Queue.Token
		if a := post(t, c, joinURL, map[string]string{"Majlis-Queue": tok}); a.status != http.StatusTooManyRequests {
			t.Fatalf("early return = %d", a.status)
		}
		time.Sleep(time.Duration(got[3].Queue.WaitMS)*time.Millisecond + 50*time.Millisecond)
		if a := post(t, c, joinURL, map[string]string{"Majlis-Queue": tok}); a.status != 200 || a.Ticket == "" {
			t.Fatalf("join at its turn = %d %+v", a.status, a)
		}
		if a := post(t, c, joinURL, map[string]string{"Majlis-Queue": tok}); a.status == 200 {
			t.Fatalf("queue token replayed")
		}
	})

	t.Run("lobby then start", func(t *testing.T) {
		var r struct{ ID string }
		stage.call(t, "POST", "/api/v1/rooms", hostTok, map[string]string{"title": "later"}, &r)
		a := post(t, sourceClient("127.0.3.1"), ts.base+"/api/v1/rooms/"+r.ID+"/join", nil)
		if a.status != http.StatusConflict || a.Error.Code != "room_not_live" || a.Queue.State != "lobby" || a.Queue.Token == "" {
			t.Fatalf("join before the start = %d %+v", a.status, a)
		}
		stage.call(t, "POST", "/api/v1/rooms/"+r.ID+"/start", hostTok, nil, nil)
		time.Sleep(300 * time.Millisecond) // the audience caches a scheduled room's state 200 ms
		b := post(t, sourceClient("127.0.3.1"), ts.base+"/api/v1/rooms/"+r.ID+"/join", map[string]string{"Majlis-Queue": a.Queue.Token})
		if b.status != 200 {
			t.Fatalf("lobby token after the start = %d %+v", b.status, b)
		}
	})

	t.Run("one connection per ticket", func(t *testing.T) {
		time.Sleep(time.Second) // let the room's rate refill
		j, err := joinclient.Join(t.Context(), ts.base, room, joinclient.Options{Client: sourceClient("127.0.4.1")})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(t.Context())
		first := listenOgg(t, ctx, ts.base+j.Listen.Ogg)
		resp, err := sourceClient("127.0.4.2").Get(ts.base + j.Listen.Ogg)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusConflict {
			t.Fatalf("second connection with one ticket = %d, want 409", resp.StatusCode)
		}
		// The ticket streaming Ogg cannot open a WebSocket either; a second ticket's WebSocket is alone too.
		if _, resp, err := websocket.Dial(ctx, strings.Replace(ts.base, "http", "ws", 1)+j.Listen.WS, &websocket.DialOptions{HTTPClient: testHTTP}); err == nil || resp == nil || resp.StatusCode != http.StatusConflict {
			t.Fatalf("WebSocket with a ticket already streaming Ogg: %v, want 409", err)
		}
		j2, err := joinclient.Join(ctx, ts.base, room, joinclient.Options{Client: sourceClient("127.0.4.3")})
		if err != nil {
			t.Fatal(err)
		}
		wsURL := strings.Replace(ts.base, "http", "ws", 1) + j2.Listen.WS
		w1 := watchWS(t, ctx, wsURL, lowHz)
		if _, resp, err := websocket.Dial(ctx, wsURL, &websocket.DialOptions{HTTPClient: testHTTP}); err == nil || resp == nil || resp.StatusCode != http.StatusConflict {
			t.Fatalf("second WebSocket with one ticket: %v, want 409", err)
		}
		cancel()
		<-first.done
		<-w1.done
		deadline := time.Now().Add(3 * time.Second)
		for {
			resp, err := testHTTP.Get(ts.base + j.Listen.Ogg)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("reconnect after the first connection closed = %d", resp.StatusCode)
			}
			time.Sleep(50 * time.Millisecond)
		}
	})

	t.Run("proof of work", func(t *testing.T) {
		ts.Overload().Force(overload.Elevated)
		defer ts.Overload().Force(-1)
		time.Sleep(time.Second)
		cl := sourceClient("127.0.5.1")
		a := post(t, cl, joinURL, nil)
		if a.status != http.StatusTooManyRequests || a.Error.Code != "pow_required" || a.PoW.Difficulty != 8 || a.PoW.Challenge == "" {
			t.Fatalf("join under load without work = %d %+v", a.status, a)
		}
		sol := admission.Solve(a.PoW.Challenge)
		if b := post(t, cl, joinURL, map[string]string{"Majlis-Pow": sol}); b.status != 200 {
			t.Fatalf("join with the solution = %d %+v", b.status, b)
		}
		if b := post(t, cl, joinURL, map[string]string{"Majlis-Pow": sol}); b.Error.Code != "pow_required" {
			t.Fatalf("replayed solution = %d %+v", b.status, b)
		}
		// Reactions are shed first.
		req, _ := http.NewRequest("POST", ts.base+"/api/v1/rooms/"+room+"/reactions", strings.NewReader(`{"emoji":"👏"}`))
		resp, err := cl.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
			t.Fatalf("reaction while elevated = %d", resp.StatusCode)
		}
	})

	t.Run("per-IP join limit", func(t *testing.T) {
		cl := sourceClient("127.0.6.1")
		// Past the burst of 20 joins come faster than the refill: limited
		// soon (up to 100 tries, however slow the machine makes each).
		limited, n := 0, 0
		for ; n < 100 && limited < 5; n++ {
			if a := post(t, cl, ts.base+"/api/v1/rooms/nosuchroom/join", nil); a.Error.Code == "rate_limited" {
				limited++
			}
		}
		if limited < 5 || n < 20 {
			t.Fatalf("%d of %d rapid joins from one address limited, want 5 limited, after the burst of 20", limited, n)
		}
	})
}

// wsWatch is a WebSocket listener that records arrival stalls and decodes the program.
type wsWatch struct {
	mu       sync.Mutex
	frames   int
	gaps     int
	maxGap   time.Duration
	toneWins int           // 20 ms frames with the tone at level
	perSec   map[int64]int // frames received in each second (Unix time of arrival)
	done     chan struct{}
	err      error
}

func watchWS(t testing.TB, ctx context.Context, url string, freq float64) *wsWatch {
	t.Helper()
	c, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{HTTPClient: testHTTP})
	if err != nil {
		t.Fatal(err)
	}
	dec, err := audio.NewDecoder(1)
	if err != nil {
		t.Fatal(err)
	}
	w := &wsWatch{done: make(chan struct{}), perSec: map[int64]int{}}
	go func() {
		defer close(w.done)
		pcm := make([]int16, 5760)
		next := uint64(0)
		var last time.Time
		for {
			typ, msg, err := c.Read(ctx)
			if err != nil {
				if ctx.Err() == nil {
					w.err = err
				}
				c.CloseNow()
				return
			}
			if typ != websocket.MessageBinary {
				continue
			}
			now := time.Now()
			m, err := program.ParseWS(msg)
			if err != nil {
				w.err = err
				return
			}
			w.mu.Lock()
			if !last.IsZero() {
				w.maxGap = max(w.maxGap, now.Sub(last))
			}
			last = now
			if next != 0 && m.FirstSeq != next {
				w.gaps++
			}
			next = m.FirstSeq + uint64(len(m.Frames))
			w.perSec[now.Unix()] += len(m.Frames)
			for _, f := range m.Frames {
				if k, err := dec.Decode(f, pcm); err == nil {
					w.frames++
					if testkit.Goertzel(pcm[:k], audio.SampleRate, freq) > toneAmp/3 {
						w.toneWins++
					}
				}
			}
			w.mu.Unlock()
		}
	}()
	return w
}

// firstTone listens to url (Ogg) and reports when the tone freq is first heard.
func firstTone(ctx context.Context, url string, freq float64) (time.Time, error) {
	req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
	resp, err := streamHTTP.Do(req)
	if err != nil {
		return time.Time{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return time.Time{}, fmt.Errorf("listen.ogg: %s", resp.Status)
	}
	dec, err := audio.NewDecoder(1)
	if err != nil {
		return time.Time{}, err
	}
	or := testkit.NewOggReader(resp.Body)
	pcm := make([]int16, 5760)
	for n := 0; ; n++ {
		pkt, _, err := or.NextPacket()
		if err != nil {
			return time.Time{}, err
		}
		if n < 2 {
			continue
		}
		k, err := dec.Decode(pkt, pcm)
		if err != nil {
			return time.Time{}, err
		}
		if testkit.Goertzel(pcm[:k], audio.SampleRate, freq) > toneAmp/3 {
			return time.Now(), nil
		}
	}
}

// TestStartOnTimeUnderAttack is issue 6's acceptance test. While the attack
// simulator floods the audience port with every kind of junk at several
// times its admission capacity, a host starts a room and publishes: the
// first listener hears the host within 2 s of the start, listeners connected
// before the attack have no stall and no gap, legitimate joiners are
// admitted through the waiting room, and the stage port answers with
// p99 ≤ 100 ms.
func TestStartOnTimeUnderAttack(t *testing.T) {
	if testing.Short() {
		t.Skip("attack test is long")
	}
	const (
		attackFor   = 14 * time.Second
		legitJoins  = 16
		stallLimit  = 500 * time.Millisecond
		hostHz      = 1000.0
		existingHz  = 440.0
		stageBudget = 100 * time.Millisecond
	)
	// The attacker is a separate process (`majlis attack`) at the lowest CPU
	// priority, so the server's share of the machine does not depend on
	// how hard the attacker spins: the timing checks measure admission, not
	// the scheduler. The behaviour checks (every frame, the tone, every
	// joiner admitted, every attack kind sent) always apply. Timing needs
	// this process to get most of the machine (spinning before and after:
	// 60% of the cores): on a box busy with other work the timing checks
	// are not asserted, and the test ends in a visible MAJLIS-SKIP with
	// what they measured (scripts/test fails on CI for it).
	bin := buildMajlis(t)
	share := cpuShare()
	var timing []string // timing checks that failed
	terrorf := func(format string, args ...any) { timing = append(timing, fmt.Sprintf(format, args...)) }
	ts, stage := startAdmissionServer(t, AdmissionConfig{
		JoinRate: 30, JoinBurst: 5,
		AudienceMaxConns: 3000, AudienceConnsPerIP: 64, AudienceConnsPerNet: 64, AudienceAcceptRate: 300,
		PoWBits: [3]int{8, 10, 12},
	})
	_, hostTok := stage.createUser(t, "host")
	_, host2Tok := stage.createUser(t, "host2")

	// Room A is live with listeners before the attack.
	roomA := stage.liveRoom(t, hostTok)
	spA := publishTone(t, stage, roomA, hostTok, &tone{freq: existingHz, amp: toneAmp})
	defer spA.stop()
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	wsBase := strings.Replace(ts.base, "http", "ws", 1)
	var existing []*wsWatch
	for range 3 {
		existing = append(existing, watchWS(t, ctx, wsBase+ts.join(t, roomA).Listen.WS, existingHz))
	}
	// Room B is scheduled; its host will start it during the attack.
	var rb struct{ ID string }
	if code := stage.call(t, "POST", "/api/v1/rooms", host2Tok, map[string]string{"title": "Under attack"}, &rb); code != http.StatusCreated {
		t.Fatalf("create room: %d", code)
	}

	// The stage port's latency without the attack, on this (possibly shared) machine.
	baseCtx, baseCancel := context.WithTimeout(ctx, 2*time.Second)
	base := probeStage(baseCtx, stage.base+"/api/v1/rooms/"+rb.ID)
	baseCancel()

	// The flood: junk at several times the audience's capacity (20 joins/s per room).
	atkCtx, atkCancel := context.WithCancel(ctx)
	defer atkCancel()
	var rep attack.Report
	atkDone := make(chan error, 1)
	go func() {
		cmd := exec.CommandContext(atkCtx, "nice", "-n", "19", bin, "attack", "--target", ts.base, "--room", rb.ID,
			"--duration", attackFor.String(), "--workers", "3", "--sockets", "100", "--ws", "2", "--source-nets", "8", "--json")
		out, err := cmd.Output()
		if err == nil {
			err = json.Unmarshal(out, &rep)
		}
		atkDone <- err
	}()

	// The stage port is probed all along.
	var probes []time.Duration
	probeCtx, probeCancel := context.WithCancel(ctx)
	probeDone := make(chan struct{})
	go func() {
		defer close(probeDone)
		probes = probeStage(probeCtx, stage.base+"/api/v1/rooms/"+rb.ID)
	}()

	time.Sleep(2 * time.Second) // the flood is established; the detector has seen it
	// The first listener waits in the lobby (puzzle solved if asked), as the web app does before the start.
	firstClient := sourceClient("127.0.200.1")
	var lobbyTok string
	for lobbyTok == "" {
		a := post(t, firstClient, ts.base+"/api/v1/rooms/"+rb.ID+"/join", nil)
		switch a.Error.Code {
		case "pow_required":
			a = post(t, firstClient, ts.base+"/api/v1/rooms/"+rb.ID+"/join", map[string]string{"Majlis-Pow": admission.Solve(a.PoW.Challenge)})
		}
		if a.Error.Code == "room_not_live" && a.Queue.Token != "" {
			lobbyTok = a.Queue.Token
		} else if a.Error.Code != "pow_required" {
			t.Fatalf("lobby join under attack: %d %+v", a.status, a)
		}
	}
	time.Sleep(time.Second)
	levelAtStart := ts.Overload().Signals()

	// Start: the host starts and publishes; a listener joins right away.
	startAt := time.Now()
	if code := stage.call(t, "POST", "/api/v1/rooms/"+rb.ID+"/start", host2Tok, nil, nil); code != http.StatusOK {
		t.Fatalf("start under attack: %d", code)
	}
	heard := make(chan error, 1)
	var heardAt time.Time
	var first joinclient.Result
	go func() {
		var err error
		first, err = joinclient.Join(ctx, ts.base, rb.ID, joinclient.Options{Client: firstClient, QueueToken: lobbyTok})
		if err != nil {
			heard <- err
			return
		}
		heardAt, err = firstTone(ctx, ts.base+first.Listen.Ogg, hostHz)
		heard <- err
	}()
	spB := publishTone(t, stage, rb.ID, host2Tok, &tone{freq: hostHz, amp: toneAmp})
	defer spB.stop()
	publishedAt := time.Now()

	// Legitimate joiners arrive through the waiting room while the flood goes on.
	type legit struct {
		res joinclient.Result
		err error
	}
	legits := make([]legit, legitJoins)
	var wg sync.WaitGroup
	for i := range legitJoins {
		wg.Add(1)
		go func() {
			defer wg.Done()
			jctx, jcancel := context.WithTimeout(ctx, 20*time.Second)
			defer jcancel()
			legits[i].res, legits[i].err = joinclient.Join(jctx, ts.base, rb.ID, joinclient.Options{Client: sourceClient(fmt.Sprintf("127.0.201.%d", i+1))})
		}()
	}

	if err := <-heard; err != nil {
		t.Fatalf("first listener: %v", err)
	}
	wg.Wait()
	if err := <-atkDone; err != nil {
		t.Fatalf("attack: %v", err)
	}
	probeCancel()
	<-probeDone
	cancel()
	for _, w := range existing {
		<-w.done
	}

	after := cpuShare()
	timed := share >= 0.6 && after >= 0.6
	t.Logf("CPU share of %d cores: %.2f before, %.2f after the attack (timing asserted: %v)", runtime.GOMAXPROCS(0), share, after, timed)
	t.Logf("overload at start: %+v", levelAtStart)
	t.Logf("start → published %v, start → first listener hears the host %v (join %v, %d puzzles, refusals %v)",
		publishedAt.Sub(startAt).Round(time.Millisecond), heardAt.Sub(startAt).Round(time.Millisecond), first.Took.Round(time.Millisecond), first.Puzzles, first.Answers)
	t.Logf("%s", rep)
	if d := heardAt.Sub(startAt); d > 2*time.Second {
		terrorf("first listener heard the host %v after the start, want ≤ 2 s", d)
	}
	// Existing listeners: every frame, no stall.
	for i, w := range existing {
		w.mu.Lock()
		t.Logf("existing listener %d: %d frames, %d gaps, max gap between messages %v, tone in %d frames", i, w.frames, w.gaps, w.maxGap, w.toneWins)
		if w.err != nil {
			t.Errorf("existing listener %d ended: %v", i, w.err)
		}
		if w.gaps != 0 {
			t.Errorf("existing listener %d: %d gaps in the frame numbering", i, w.gaps)
		}
		if w.maxGap > stallLimit {
			terrorf("existing listener %d: longest silence %v (stall limit %v)", i, w.maxGap, stallLimit)
		}
		if w.toneWins < w.frames*9/10 {
			t.Errorf("existing listener %d: tone in %d of %d frames, want ≥ 90%%", i, w.toneWins, w.frames)
		}
		w.mu.Unlock()
	}
	// Legitimate joiners all admitted, through the queue.
	var took []time.Duration
	queued, puzzles := 0, 0
	for i, l := range legits {
		if l.err != nil {
			t.Errorf("legitimate joiner %d: %v", i, l.err)
			continue
		}
		took = append(took, l.res.Took)
		if l.res.Queued {
			queued++
		}
		puzzles += l.res.Puzzles
	}
	slices.Sort(took)
	if len(took) > 0 {
		t.Logf("legitimate joins: %d/%d admitted, %d queued, %d puzzles; join latency p50 %v max %v",
			len(took), legitJoins, queued, puzzles, took[len(took)/2].Round(time.Millisecond), took[len(took)-1].Round(time.Millisecond))
	}
	// The stage plane.
	p99, baseP99 := pct(probes, 99), pct(base, 99)
	t.Logf("stage port under attack: %d probes, p50 %v p99 %v max %v; without attack: %d probes, p50 %v p99 %v",
		len(probes), pct(probes, 50), p99, pct(probes, 100), len(base), pct(base, 50), baseP99)
	// The budget is 100 ms; on a machine already slow without the attack
	// (shared CI), the attack may not more than double the stage's p99.
	// The race detector slows every goroutine of the process several times over: 2.5× the budget then.
	budget := stageBudget
	if raceEnabled {
		budget = stageBudget * 5 / 2
	}
	if budget := max(budget, 2*baseP99); p99 > budget {
		terrorf("stage API p99 %v under attack, want ≤ %v (100 ms, 250 ms with -race, or twice the %v measured without the attack)", p99, budget, baseP99)
	}
	// The attack did hit the audience port: every kind sent its traffic.
	for _, kind := range attack.Kinds {
		k := rep.Kinds[kind]
		switch {
		case k == nil:
			t.Errorf("attack kind %s did not run", kind)
		case kind == "wsflood": // a few connections (they join through the queue), flooding
			if k.Requests < 1 || k.Bytes < 1<<20 {
				t.Errorf("WebSocket flood: %d connections, %d bytes, want ≥ 1 and ≥ 1 MiB: %+v", k.Requests, k.Bytes, k)
			}
		case k.Requests < 20:
			t.Errorf("attack kind %s sent %d requests or sockets, too few to mean anything: %+v", kind, k.Requests, k)
		}
	}
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		t.Errorf("test ran into its 40 s bound")
	}
	if len(timing) > 0 {
		if timed {
			for _, f := range timing {
				t.Error(f)
			}
		} else {
			t.Skipf("MAJLIS-SKIP: busy machine (CPU share %.2f before, %.2f after the attack, want 0.60): timing not asserted; it measured: %s", share, after, strings.Join(timing, "; "))
		}
	}
}

// probeStage GETs url every 50 ms until ctx ends and returns the latencies
// (a failure counts as an hour).
func probeStage(ctx context.Context, url string) []time.Duration {
	var out []time.Duration
	cl := &http.Client{Timeout: 5 * time.Second}
	for ctx.Err() == nil {
		t0 := time.Now()
		resp, err := cl.Get(url)
		d := time.Since(t0)
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		if ctx.Err() != nil {
			break
		}
		if err != nil || resp.StatusCode != 200 {
			d = time.Hour
		}
		out = append(out, d)
		select {
		case <-ctx.Done():
		case <-time.After(50 * time.Millisecond):
		}
	}
	return out
}

// pct is the p-th percentile of ds (p = 100: the maximum).
func pct(ds []time.Duration, p int) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[min(len(s)-1, len(s)*p/100)]
}

// BenchmarkAdmissionUnderAttack measures, for each attack kind alone and all
// together, what legitimate joiners get: success rate and join latency
// through the waiting room, plus the stage port's latency.
//
//	go test -run xxx -bench AdmissionUnderAttack -benchtime 1x ./internal/server/
func BenchmarkAdmissionUnderAttack(b *testing.B) {
	kinds := append([][]string{{"none"}}, [][]string{{"listen"}, {"join"}, {"slowloris"}, {"idle"}, {"wsflood"}, {"whip"}, attack.Kinds}...)
	for _, k := range kinds {
		name := strings.Join(k, "+")
		if len(k) > 1 {
			name = "all"
		}
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				ts, stage := startAdmissionServer(b, AdmissionConfig{JoinRate: 30, JoinBurst: 5,
					AudienceMaxConns: 3000, AudienceConnsPerIP: 64, AudienceConnsPerNet: 64, AudienceAcceptRate: 300, PoWBits: [3]int{8, 10, 12}})
				_, hostTok := stage.createUser(b, "host")
				room := stage.liveRoom(b, hostTok)
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				atkDone := make(chan struct{})
				if k[0] != "none" {
					go func() {
						defer close(atkDone)
						attack.Run(ctx, attack.Config{Target: ts.base, Room: room, Kinds: k, Duration: 8 * time.Second, Workers: 4, Sockets: 100, WSConns: 2, SourceNets: 8})
					}()
				} else {
					close(atkDone)
				}
				time.Sleep(2 * time.Second)
				var probes []time.Duration
				pctx, pcancel := context.WithTimeout(ctx, 5*time.Second)
				probeDone := make(chan struct{})
				go func() { defer close(probeDone); probes = probeStage(pctx, stage.base+"/api/v1/rooms/"+room) }()
				const joiners = 40
				took := make([]time.Duration, joiners)
				ok := 0
				var mu sync.Mutex
				var wg sync.WaitGroup
				for i := range joiners {
					wg.Add(1)
					go func() {
						defer wg.Done()
						time.Sleep(time.Duration(i) * 100 * time.Millisecond) // 10 legitimate arrivals a second
						jctx, jcancel := context.WithTimeout(ctx, 10*time.Second)
						defer jcancel()
						r, err := joinclient.Join(jctx, ts.base, room, joinclient.Options{Client: sourceClient(fmt.Sprintf("127.0.%d.%d", 201+i/200, 1+i%200))})
						mu.Lock()
						defer mu.Unlock()
						if err == nil {
							ok++
							took[i] = r.Took
						} else {
							took[i] = time.Hour
						}
					}()
				}
				wg.Wait()
				level := ts.Overload().Signals()
				<-probeDone
				pcancel()
				cancel()
				<-atkDone
				b.ReportMetric(float64(ok)/joiners*100, "%joined")
				b.ReportMetric(float64(pct(took, 50).Milliseconds()), "join-p50-ms")
				b.ReportMetric(float64(pct(took, 95).Milliseconds()), "join-p95-ms")
				b.ReportMetric(float64(pct(probes, 99).Microseconds())/1000, "stage-p99-ms")
				b.ReportMetric(float64(level.Level), "level")
				ts.stop()
			}
		})
	}
}

// cpuShare spins GOMAXPROCS goroutines for 300 ms and returns the fraction
// of that CPU the process actually got (1: the machine is ours).
func cpuShare() float64 {
	n := runtime.GOMAXPROCS(0)
	c0 := testkit.ProcessCPU()
	t0 := time.Now()
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			x := 0
			for time.Since(t0) < 300*time.Millisecond {
				for i := range 10000 {
					x += i
				}
			}
			_ = x
		}()
	}
	wg.Wait()
	wall := time.Since(t0)
	return float64(testkit.ProcessCPU()-c0) / float64(wall) / float64(n)
}
