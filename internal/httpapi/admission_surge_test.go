package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"majlis/internal/admission"
	"majlis/internal/overload"
	"majlis/internal/room"
	"majlis/internal/store"
)

// surgeGuard is an audience guard over one live room whose handler issues
// a ticket, on loopback, with per-source limits out of the way.
type surgeGuard struct {
	srv  *httptest.Server
	cl   *http.Client
	room string
}

func newSurgeGuard(t *testing.T, det *overload.Detector, workers int) *surgeGuard {
	t.Helper()
	st, rm := liveStoreRoom(t, "surge")
	key := make([]byte, 32)
	tickets, err := admission.NewSigner(key, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	wide := admission.Rate{PerSecond: 1e6, Burst: 1e6} // the per-source limits are not what this tests
	aud := NewAudience(AudienceConfig{
		Rooms:    storePeeker{st},
		Tickets:  tickets,
		Waiting:  admission.NewWaitingRoom(admission.WaitingConfig{Key: key, Rate: 1e5}),
		PoW:      admission.NewPoW(key),
		Joins:    admission.NewLimiter(admission.LimiterConfig{PerIP: wide, PerPrefix: wide}),
		Leases:   admission.NewLeases(),
		Overload: det,
		PoWBits:  [3]int{16, 18, 20},
	}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok, _, err := tickets.Issue(rm.ID)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"ticket": tok})
	}))
	srv := httptest.NewServer(aud)
	t.Cleanup(srv.Close)
	cl := srv.Client()
	cl.Timeout = 10 * time.Second
	cl.Transport.(*http.Transport).MaxIdleConnsPerHost = workers
	return &surgeGuard{srv: srv, cl: cl, room: rm.ID}
}

type surgeAnswer struct {
	status int
	Ticket string
	Error  struct{ Code string }
	PoW    struct {
		Challenge  string
		Difficulty int
	}
}

// code is the answer's error code, or "" for a ticket.
func (a surgeAnswer) code() string {
	if a.status == http.StatusOK && a.Ticket != "" {
		return ""
	}
	if a.Error.Code == "" {
		return http.StatusText(a.status)
	}
	return a.Error.Code
}

func (g *surgeGuard) join(t *testing.T, hdr map[string]string) surgeAnswer {
	req, _ := http.NewRequest(http.MethodPost, g.srv.URL+"/api/v1/rooms/"+g.room+"/join", nil)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := g.cl.Do(req)
	if err != nil {
		t.Error(err)
		return surgeAnswer{}
	}
	defer resp.Body.Close()
	a := surgeAnswer{status: resp.StatusCode}
	json.NewDecoder(resp.Body).Decode(&a)
	return a
}

// burst sends joins joins paced at rate per second from workers goroutines
// and returns the tickets and the refusals by code.
func (g *surgeGuard) burst(t *testing.T, joins, rate, workers int) (ok int64, refusals map[string]int, took time.Duration) {
	var next, okN atomic.Int64
	refusals = map[string]int{}
	var rmu sync.Mutex
	start := time.Now()
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1) - 1
				if i >= int64(joins) {
					return
				}
				time.Sleep(time.Until(start.Add(time.Duration(i) * time.Second / time.Duration(rate))))
				if c := g.join(t, nil).code(); c != "" {
					rmu.Lock()
					refusals[c]++
					rmu.Unlock()
					continue
				}
				okN.Add(1)
			}
		}()
	}
	wg.Wait()
	return okN.Load(), refusals, time.Since(start)
}

// TestJoinSurgeWithoutPoW sends a burst of legitimate joins through the
// audience guard, on loopback, ten times the detector's PressureRPS and for
// longer than its Sustain.
//
// With the level pinned (whatever the machine's load), the guard's policy:
// at normal nobody is asked for a proof of work however fast joins come;
// raised, arrivals are. Measured: with CPU to spare the detector stays
// normal (the detector before this policy taxed ~95% of them: request rate
// plus a few ms of scheduling delay). That part needs the spare CPU: its
// burst is an eighth of the pinned one's rate (still three times PressureRPS,
// and longer than Sustain), which takes well under a core under
// -race where the full rate takes all of both (CI measured CPU 1.06), so
// a loaded machine's scheduling delay does not count (SchedMinCPU); it
// skips, saying so, if the process used half the cores anyway.
func TestJoinSurgeWithoutPoW(t *testing.T) {
	const (
		joins   = 6000
		rate    = 5000 // joins per second the burst is paced at: 1.2 s, longer than Sustain
		workers = 64
	)
	t.Run("pinned level", func(t *testing.T) {
		det := overload.New(overload.Config{})
		g := newSurgeGuard(t, det, workers)
		det.Force(overload.Normal)
		ok, refusals, took := g.burst(t, joins/3, rate, workers)
		if ok != joins/3 || len(refusals) != 0 {
			t.Fatalf("at normal, %d of %d joins in %v got a ticket, refusals %v: a surge was taxed", ok, joins/3, took.Round(time.Millisecond), refusals)
		}
		for i, level := range []overload.Level{overload.Elevated, overload.High, overload.Critical} {
			det.Force(level)
			a := g.join(t, nil)
			if a.status != http.StatusTooManyRequests || a.code() != "pow_required" || a.PoW.Challenge == "" || a.PoW.Difficulty != 16+2*i {
				t.Fatalf("join at %v without work = %d %q (difficulty %d), want 429 pow_required of %d bits", level, a.status, a.code(), a.PoW.Difficulty, 16+2*i)
			}
		}
		det.Force(overload.Elevated)
		a := g.join(t, nil)
		sol := admission.Solve(a.PoW.Challenge)
		if b := g.join(t, map[string]string{HeaderPoW: sol}); b.code() != "" {
			t.Fatalf("join at elevated with the solution = %d %q, want a ticket", b.status, b.code())
		}
		if b := g.join(t, map[string]string{HeaderPoW: sol}); b.code() != "pow_required" {
			t.Fatalf("replayed solution = %d %q, want pow_required", b.status, b.code())
		}
	})

	t.Run("measured level", func(t *testing.T) {
		det := overload.New(overload.Config{Interval: 50 * time.Millisecond})
		dctx, stop := context.WithCancel(context.Background())
		var dwg sync.WaitGroup
		dwg.Add(1)
		go func() { defer dwg.Done(); det.Run(dctx) }()
		defer func() { stop(); dwg.Wait() }()
		g := newSurgeGuard(t, det, workers)

		// What the detector sees while the burst runs.
		var (
			mu                   sync.Mutex
			maxRPS, maxCPU       float64
			maxLevel             overload.Level
			watchDone, burstDone = make(chan struct{}), make(chan struct{})
		)
		go func() {
			defer close(watchDone)
			tick := time.NewTicker(10 * time.Millisecond)
			defer tick.Stop()
			for {
				s := det.Signals()
				mu.Lock()
				maxRPS, maxCPU, maxLevel = max(maxRPS, s.RPS), max(maxCPU, s.CPU), max(maxLevel, s.Level)
				mu.Unlock()
				select {
				case <-burstDone:
					return
				case <-tick.C:
				}
			}
		}()
		const measuredJoins, measuredRate = 1200, 600 // 2 s
		ok, refusals, took := g.burst(t, measuredJoins, measuredRate, workers)
		time.Sleep(120 * time.Millisecond) // the detector's sample covering the burst's end
		close(burstDone)
		<-watchDone
		t.Logf("%d joins in %v: %d tickets, refusals %v; detector saw up to %.0f requests/s, CPU %.2f, level %v",
			measuredJoins, took.Round(time.Millisecond), ok, refusals, maxRPS, maxCPU, maxLevel)
		if maxRPS < 200 {
			t.Fatalf("the detector saw at most %.0f requests/s: the burst did not press (PressureRPS 200)", maxRPS)
		}
		// Whatever the level did, the guard answered only with tickets, puzzles or turns.
		for code := range refusals {
			if code != "pow_required" && code != "queued" {
				t.Fatalf("refusals %v during the surge: %q is not an answer of the join policy", refusals, code)
			}
		}
		if maxLevel > overload.Normal && maxCPU >= 0.5 {
			// This process (server and clients alike, slowed by -race or a loaded
			// box) used half the cores or more, where the detector may count
			// scheduling delay: not the spare-CPU case this asserts.
			t.Skipf("MAJLIS-SKIP: busy machine: CPU reached %.2f of the cores during the burst and the detector went to %v (it counts scheduling delay from 0.50): the spare-CPU case did not happen", maxCPU, maxLevel)
		}
		if ok != measuredJoins || len(refusals) != 0 {
			t.Fatalf("%d of %d joins got a ticket, refusals %v: a surge with CPU to spare was taxed", ok, measuredJoins, refusals)
		}
		if maxLevel != overload.Normal {
			t.Fatalf("level %v during a surge with CPU %.2f", maxLevel, maxCPU)
		}
	})
}

// storePeeker reads room records straight from a store (room.Service.Peek
// without the rest of the room domain).
type storePeeker struct{ st *store.Store }

func (p storePeeker) Peek(ctx context.Context, id string) (room.Info, error) {
	rec, err := p.st.Room(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return room.Info{}, room.ErrRoomNotFound
	}
	return room.Info(rec), err
}

// liveStoreRoom is a store in a temp dir holding one live room with title.
func liveStoreRoom(t *testing.T, title string) (*store.Store, store.Room) {
	t.Helper()
	st, err := store.Open(filepath.Join(t.TempDir(), "majlis.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	ctx := context.Background()
	rm, err := st.CreateRoom(ctx, title, "host")
	if err != nil {
		t.Fatal(err)
	}
	if err := st.SetRoomState(ctx, rm.ID, store.StateLive, time.Now()); err != nil {
		t.Fatal(err)
	}
	return st, rm
}
