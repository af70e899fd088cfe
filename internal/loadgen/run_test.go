package loadgen

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"majlis/internal/fanout"
	"majlis/internal/program"
)

// liveProgram feeds p one silence frame every 20 ms until the test ends,
// stopping after stopAfter frames when it is positive (a stuck program).
func liveProgram(t *testing.T, p *program.Program, stopAfter int) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		// Frame n+1 is due at start + (n+1)·20 ms, however late the
		// goroutine ran (a ticker drops the ticks it missed: the program
		// would fall behind the wall clock for good).
		start := time.Now()
		due := time.NewTimer(20 * time.Millisecond)
		defer due.Stop()
		for n := 0; stopAfter <= 0 || n < stopAfter; n++ {
			p.WriteFrame([]byte{0xF8, 0xFF, 0xFE})
			due.Reset(time.Until(start.Add(time.Duration(n+1) * 20 * time.Millisecond)))
			select {
			case <-due.C:
			case <-ctx.Done():
				return
			}
		}
	}()
	t.Cleanup(func() { cancel(); <-done })
}

func serveProgram(t *testing.T, p *program.Program) string {
	return serveRooms(t, map[string]*program.Program{"r": p}, nil)
}

// serveRooms serves programs by room id, counting each room's listeners in served.
func serveRooms(t *testing.T, progs map[string]*program.Program, served map[string]*atomic.Int64) string {
	hub := fanout.NewHub(fanout.Config{})
	mux := http.NewServeMux()
	for id, p := range progs {
		count := func() {
			if served != nil {
				served[id].Add(1)
			}
		}
		mux.HandleFunc("/api/v1/rooms/"+id+"/listen.ogg", func(w http.ResponseWriter, r *http.Request) { count(); hub.ServeOggDetached(w, r, p, func() {}, nil) })
		mux.HandleFunc("/api/v1/rooms/"+id+"/listen.ws", func(w http.ResponseWriter, r *http.Request) { count(); hub.ServeWSDetached(w, r, p, func() {}, nil) })
	}
	srv := httptest.NewServer(mux)
	t.Cleanup(func() { hub.Close(); srv.Close() })
	return srv.URL
}

// TestRunHearsTheProgram runs listeners of both protocols against a real
// fan-out: each must get audio without stalls or gaps, and a listener of
// a program that stops delivering must be reported as stalled.
func TestRunHearsTheProgram(t *testing.T) {
	for _, tc := range []struct {
		name      string
		stopAfter int // frames before the program stops (0: never)
		stalled   bool
	}{
		{"live", 0, false},
		{"stuck program", 30, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := program.New(program.Config{})
			liveProgram(t, p, tc.stopAfter)
			base := serveProgram(t, p)
			time.Sleep(300 * time.Millisecond) // some history for the pre-roll
			rs, err := Run(t.Context(), Config{Origin: base, Room: "r", Ticket: "x", Listeners: 6, Proto: "mix",
				Ramp: 50, Duration: Duration(2500 * time.Millisecond), Tolerance: Duration(500 * time.Millisecond),
				Sources: []string{"127.0.0.1", "127.0.0.2"}})
			if err != nil {
				t.Fatal(err)
			}
			rep := Summarize(Config{}, 1, time.Now(), rs)
			t.Logf("%+v", rep)
			for i, r := range rs {
				if !r.Audio || r.Err != "" || r.Gaps != 0 {
					t.Fatalf("listener %d: %+v", i, r)
				}
				if (r.Stalls > 0) != tc.stalled {
					t.Fatalf("listener %d: %d stalls, want stalled=%v: %+v", i, r.Stalls, tc.stalled, r)
				}
			}
			if rs[0].Proto != "ogg" || rs[1].Proto != "ws" {
				t.Fatalf("protocols %s %s, want ogg ws", rs[0].Proto, rs[1].Proto)
			}
		})
	}
}

// TestRunManyRooms: --room with several rooms spreads the listeners over
// them, listener n to room n mod count, and each hears its room.
func TestRunManyRooms(t *testing.T) {
	progs := map[string]*program.Program{}
	served := map[string]*atomic.Int64{}
	for _, id := range []string{"a", "b", "c"} {
		progs[id] = program.New(program.Config{})
		served[id] = &atomic.Int64{}
		liveProgram(t, progs[id], 0)
	}
	base := serveRooms(t, progs, served)
	time.Sleep(300 * time.Millisecond)
	rs, err := Run(t.Context(), Config{Origin: base, Room: "a,b,c", Ticket: "x", Listeners: 7, Proto: "mix",
		Ramp: 50, Duration: Duration(1500 * time.Millisecond), Tolerance: Duration(500 * time.Millisecond)})
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range rs {
		if !r.Audio || r.Err != "" || r.Gaps != 0 || r.Stalls != 0 {
			t.Fatalf("listener %d: %+v", i, r)
		}
	}
	if a, b, c := served["a"].Load(), served["b"].Load(), served["c"].Load(); a != 3 || b != 2 || c != 2 {
		t.Fatalf("listeners per room a %d, b %d, c %d, want 3, 2, 2", a, b, c)
	}
	if err := (&Config{Origin: base, Room: "a,,b", Listeners: 1, Proto: "ogg", Duration: Duration(time.Second)}).Validate(); err == nil {
		t.Fatal("a room list with an empty id validated")
	}
}
