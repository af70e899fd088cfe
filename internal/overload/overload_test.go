package overload

import (
	"context"
	"io"
	"net"
	"runtime"
	"testing"
	"time"
)

func TestListenerCaps(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := NewListener(ln, ListenerConfig{Max: 5, PerIP: 3, PerPrefix: 5})
	defer l.Close()
	accepted := make(chan net.Conn, 100)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			accepted <- c
		}
	}()
	dial := func(src string) net.Conn {
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
		c, err := d.Dial("tcp", ln.Addr().String())
		if err != nil {
			return nil // reset by the listener before the connect returned
		}
		return c
	}
	// closed reports whether the server side closed c.
	closed := func(c net.Conn) bool {
		if c == nil {
			return true
		}
		c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
		_, err := c.Read(make([]byte, 1))
		return err != nil && !isTimeout(err)
	}
	var keep []net.Conn
	for range 4 { // 3 from .1 kept, the 4th refused
		keep = append(keep, dial("127.0.0.1"))
	}
	if !closed(keep[3]) || closed(keep[0]) {
		t.Fatalf("per-IP cap not applied")
	}
	keep = append(keep, dial("127.0.0.2"), dial("127.0.0.2"), dial("127.0.0.3"))
	if closed(keep[4]) || closed(keep[5]) || !closed(keep[6]) {
		t.Fatalf("total cap of 5 not applied")
	}
	if l.Open() != 5 || l.Refused() != 2 {
		t.Fatalf("open %d refused %d, want 5 and 2", l.Open(), l.Refused())
	}
	// Closing a server-side connection frees its place.
	(<-accepted).Close()
	c := dial("127.0.0.3")
	if closed(c) {
		t.Fatal("connection refused after a place was freed")
	}
	for _, c := range keep {
		if c != nil {
			c.Close()
		}
	}
	// The /24 cap: another address of the same network is refused when the network is full.
	l.perIP, l.perPrefix = 100, l.Open()
	if !closed(dial("127.0.0.9")) {
		t.Fatal("per-/24 cap not applied")
	}
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout() && err != io.EOF
}

func TestDetectorLevels(t *testing.T) {
	open, limit := 0, 100
	d := New(Config{Interval: 10 * time.Millisecond, Hold: 50 * time.Millisecond, ConnUse: func() (int, int) { return open, limit }})
	now := time.Now()
	step := func(o int) Level {
		open = o
		now = now.Add(10 * time.Millisecond)
		d.sample(now)
		return d.Level()
	}
	if l := step(10); l != Normal {
		t.Fatalf("10%% conns: %v", l)
	}
	if l := step(90); l != High {
		t.Fatalf("90%% conns: %v, want high", l)
	}
	if l := step(99); l != Critical {
		t.Fatalf("99%% conns: %v, want critical", l)
	}
	// Down one step per hold, never straight to normal.
	if l := step(0); l != Critical {
		t.Fatalf("just after the peak: %v, want still critical", l)
	}
	for range 5 {
		step(0)
	}
	if l := d.Level(); l != High {
		t.Fatalf("after one hold: %v, want high", l)
	}
	d.Force(Elevated)
	if d.Level() != Elevated {
		t.Fatal("force ignored")
	}
	d.Force(-1)
	// CPU load without audience pressure does not raise the level.
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	d2 := New(Config{Interval: 20 * time.Millisecond, CPU: Thresholds{0.01, 0.02, 0.03}})
	go func() {
		for ctx.Err() == nil {
		}
	}()
	d2.Run(ctx)
	if d2.Level() != Normal {
		t.Fatalf("busy CPU without audience requests raised the level to %v", d2.Level())
	}
	if s := d2.Signals(); s.CPU <= 0 {
		t.Fatalf("CPU signal not measured: %+v", s)
	}

	// A known load with audience pressure: between two samples 200 ms
	// apart (the wall time is the detector's clock, given here), this
	// process burns 100 ms of CPU and sends requests above PressureRPS.
	// The CPU signal is then 100 ms / 200 ms / GOMAXPROCS (a little more:
	// the runtime works too), whatever else the machine runs, and it is
	// over the critical threshold set here: once sustained, the level is
	// critical.
	n := float64(runtime.GOMAXPROCS(0))
	want := 0.1 / 0.2 / n
	d3 := New(Config{Interval: 200 * time.Millisecond, Sustain: 400 * time.Millisecond, PressureRPS: 10,
		CPU: Thresholds{want * 0.3, want * 0.6, want * 0.9}, SchedP99: Thresholds{3600, 3600, 3600}})
	clock := time.Now()
	d3.sample(clock)
	for range 4 {
		burn(100 * time.Millisecond)
		for range 20 {
			d3.Request()
		}
		clock = clock.Add(200 * time.Millisecond)
		d3.sample(clock)
		if got := d3.Signals().CPU; got < want*0.95 || got > want*1.6 {
			t.Fatalf("100 ms of CPU in 200 ms on %v cores measured as %.3f of the cores, want %.3f", n, got, want)
		}
	}
	if l := d3.Level(); l != Critical {
		t.Fatalf("CPU %.3f over the critical threshold %.3f with requests over PressureRPS, sustained: level %v, want critical", d3.Signals().CPU, want*0.9, l)
	}
}

func TestDetectorBacklog(t *testing.T) {
	backlog := time.Duration(0)
	d := New(Config{Backlog: func() time.Duration { return backlog }})
	now := time.Now()
	for _, c := range []struct {
		backlog time.Duration
		want    Level
	}{{time.Second, Normal}, {3 * time.Second, Elevated}, {time.Minute, High}, {5 * time.Minute, Critical}} {
		backlog = c.backlog
		now = now.Add(250 * time.Millisecond)
		d.sample(now)
		if d.Level() != c.want {
			t.Fatalf("backlog %v: level %v, want %v", c.backlog, d.Level(), c.want)
		}
	}
}

// TestDetectorPressure checks when CPU and scheduling delay raise the level
// (default thresholds, four 250 ms samples of Sustain): a request rate alone
// never does, a surge the process absorbs does not, a saturation held for a
// second does.
func TestDetectorPressure(t *testing.T) {
	ms := time.Millisecond
	type step struct {
		s Signals
		n int // samples
	}
	surge := func(cpu float64, sched time.Duration) Signals { return Signals{RPS: 5000, CPU: cpu, SchedP99: sched} }
	for _, c := range []struct {
		name  string
		steps []step
		want  Level
	}{
		{"rate alone", []step{{surge(0.1, 0), 20}}, Normal},
		{"surge absorbed: busy, not saturated", []step{{surge(0.85, 10*ms), 20}}, Normal},
		{"delay while mostly idle: a neighbour's", []step{{surge(0.2, 80*ms), 20}}, Normal},
		{"saturation shorter than sustain", []step{{surge(0.99, 200*ms), 3}, {surge(0.3, 0), 1}, {surge(0.99, 200*ms), 3}}, Normal},
		{"CPU saturated for a second", []step{{surge(0.93, 0), 4}}, Elevated},
		{"CPU saturated, one sample short", []step{{surge(0.93, 0), 3}}, Normal},
		{"delay threatens the stage", []step{{surge(0.6, 60*ms), 4}}, High},
		{"critical after high", []step{{surge(0.6, 60*ms), 2}, {surge(0.99, 150*ms), 4}}, Critical},
		{"high held, critical not", []step{{surge(0.6, 60*ms), 2}, {surge(0.99, 150*ms), 2}}, High},
		{"saturated without audience pressure", []step{{Signals{RPS: 100, CPU: 0.99, SchedP99: 200 * ms}, 20}}, Normal},
	} {
		t.Run(c.name, func(t *testing.T) {
			d := New(Config{})
			now := time.Now()
			for _, st := range c.steps {
				for range st.n {
					now = now.Add(250 * ms)
					d.update(now, st.s)
				}
			}
			if got := d.Level(); got != c.want {
				t.Fatalf("level %v, want %v (last sample %+v)", got, c.want, d.Signals())
			}
		})
	}
}

// burn spins until this process has used d more CPU time.
func burn(d time.Duration) {
	end := processCPU() + d
	x := 0
	for processCPU() < end {
		for i := range 10000 {
			x += i
		}
	}
	_ = x
}
