package overload

import (
	"context"
	"math"
	"runtime"
	"runtime/metrics"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Level is how loaded the process is; higher levels shed more.
type Level int32

// Levels, in the order shedding escalates.
const (
	Normal   Level = iota // nothing shed, no proof of work
	Elevated              // shed reactions and event detail; joins need a light puzzle; admission rate ×½
	High                  // also shed polling (HLS, event polls); harder puzzle; admission ×¼
	Critical              // new joins wait (503 + Retry-After); existing listeners and the stage go on
)

func (l Level) String() string {
	switch l {
	case Normal:
		return "normal"
	case Elevated:
		return "elevated"
	case High:
		return "high"
	}
	return "critical"
}

// Thresholds maps a signal to levels: the value at which Elevated, High and Critical begin.
type Thresholds [3]float64

func (t Thresholds) level(v float64) Level {
	l := Normal
	for i, th := range t {
		if th > 0 && v >= th {
			l = Level(i + 1)
		}
	}
	return l
}

// Config configures a Detector. Zero fields take the defaults in parentheses.
type Config struct {
	Interval time.Duration // sampling period (250 ms)
	Hold     time.Duration // quiet time before stepping down one level (10 s)
	// SchedP99 in seconds (20 ms, 50 ms, 100 ms: from one mixer frame, the
	// delay that starts to make the stage's ticks late); CPU as a fraction of
	// GOMAXPROCS (0.90, 0.95, 0.98: saturated, not merely busy); Conns as a
	// fraction of the audience connection cap (0.70, 0.85, 0.95).
	SchedP99, CPU, Conns Thresholds
	// PressureRPS is the audience request rate (per second) above which CPU and
	// scheduling delay count (200); below it only connection use does. The
	// rate alone never raises the level: a surge the process absorbs is not taxed.
	PressureRPS float64
	// Sustain is how long CPU or scheduling delay must stay at a level
	// before they raise the level to it (1 s, rounded to whole samples): a
	// burst the process absorbs within it, or one long garbage collection,
	// makes nobody solve a puzzle.
	Sustain time.Duration
	// SchedMinCPU is the share of GOMAXPROCS the process itself must use for
	// its scheduling delay to count (0.5): delay while the process is mostly
	// idle comes from a neighbour taking the machine, and making joiners
	// pay would not give it back.
	SchedMinCPU float64
	// Conns reports the audience port's open connections and cap (nil: not counted).
	ConnUse func() (open, limit int)
	// Backlog reports the waiting room's longest wait (nil: not counted);
	// BacklogSeconds maps it to levels (2 s, 30 s, 120 s). Like connection
	// use it is the audience's own pressure and always counts.
	Backlog        func() time.Duration
	BacklogSeconds Thresholds
}

// Signals is the last sample.
type Signals struct {
	SchedP99 time.Duration
	CPU      float64 // fraction of GOMAXPROCS cores
	ConnUse  float64 // fraction of the audience cap
	Backlog  time.Duration
	RPS      float64 // audience requests per second
	// Pressure is the level CPU and scheduling delay ask for in this sample
	// (Normal below PressureRPS); it raises Level once held for Sustain.
	Pressure Level
	Level    Level
	Forced   bool
}

// Detector samples load signals and derives a Level.
type Detector struct {
	cfg      Config
	level    atomic.Int32
	forced   atomic.Int32 // -1: not forced
	requests atomic.Int64

	mu   sync.Mutex
	last Signals

	// sampling state (only the Run goroutine)
	samples   []metrics.Sample
	prevHist  []uint64
	prevCPU   time.Duration
	prevWall  time.Time
	prevReqs  int64
	sustainN  int       // samples a pressure level must hold
	pressN    [3]int    // consecutive samples with pressure at or above Elevated, High, Critical
	highSince time.Time // when the wanted level was last at or above the current one
}

// New returns a Detector; call Run to start sampling.
func New(cfg Config) *Detector {
	if cfg.Interval <= 0 {
		cfg.Interval = 250 * time.Millisecond
	}
	if cfg.Hold <= 0 {
		cfg.Hold = 10 * time.Second
	}
	if cfg.SchedP99 == (Thresholds{}) {
		cfg.SchedP99 = Thresholds{0.020, 0.050, 0.100}
	}
	if cfg.CPU == (Thresholds{}) {
		cfg.CPU = Thresholds{0.90, 0.95, 0.98}
	}
	if cfg.Conns == (Thresholds{}) {
		cfg.Conns = Thresholds{0.70, 0.85, 0.95}
	}
	if cfg.BacklogSeconds == (Thresholds{}) {
		cfg.BacklogSeconds = Thresholds{2, 30, 120}
	}
	if cfg.PressureRPS <= 0 {
		cfg.PressureRPS = 200
	}
	if cfg.Sustain <= 0 {
		cfg.Sustain = time.Second
	}
	if cfg.SchedMinCPU <= 0 {
		cfg.SchedMinCPU = 0.5
	}
	d := &Detector{cfg: cfg, samples: []metrics.Sample{{Name: "/sched/latencies:seconds"}},
		sustainN: max(1, int(math.Round(float64(cfg.Sustain)/float64(cfg.Interval))))}
	d.forced.Store(-1)
	return d
}

// Level is the current level (the forced one when forced).
func (d *Detector) Level() Level {
	if d == nil {
		return Normal
	}
	if f := d.forced.Load(); f >= 0 {
		return Level(f)
	}
	return Level(d.level.Load())
}

// Force pins the level (operators under a known attack, tests); Force(-1) returns to measuring.
func (d *Detector) Force(l Level) { d.forced.Store(int32(l)) }

// Request counts one audience request (the pressure signal).
func (d *Detector) Request() {
	if d != nil {
		d.requests.Add(1)
	}
}

// Signals returns the last sample.
func (d *Detector) Signals() Signals {
	d.mu.Lock()
	defer d.mu.Unlock()
	s := d.last
	s.Level, s.Forced = d.Level(), d.forced.Load() >= 0
	return s
}

// Run samples until ctx is done.
func (d *Detector) Run(ctx context.Context) {
	t := time.NewTicker(d.cfg.Interval)
	defer t.Stop()
	d.sample(time.Now())
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			d.sample(now)
		}
	}
}

func (d *Detector) sample(now time.Time) {
	var s Signals
	metrics.Read(d.samples)
	if d.samples[0].Value.Kind() == metrics.KindFloat64Histogram {
		h := d.samples[0].Value.Float64Histogram()
		if d.prevHist != nil && len(d.prevHist) == len(h.Counts) {
			s.SchedP99 = time.Duration(p99(h, d.prevHist) * 1e9)
		}
		d.prevHist = append(d.prevHist[:0], h.Counts...)
	}
	cpu := processCPU()
	reqs := d.requests.Load()
	if !d.prevWall.IsZero() {
		wall := now.Sub(d.prevWall)
		if wall > 0 {
			s.CPU = float64(cpu-d.prevCPU) / float64(wall) / float64(runtime.GOMAXPROCS(0))
			s.RPS = float64(reqs-d.prevReqs) / wall.Seconds()
		}
	}
	d.prevCPU, d.prevWall, d.prevReqs = cpu, now, reqs
	d.update(now, s)
}

// update derives the level from the measured signals s (ConnUse and
// Backlog are read here) and records the sample. Only the run goroutine calls it.
func (d *Detector) update(now time.Time, s Signals) {
	if d.cfg.ConnUse != nil {
		if open, limit := d.cfg.ConnUse(); limit > 0 {
			s.ConnUse = float64(open) / float64(limit)
		}
	}
	want := d.cfg.Conns.level(s.ConnUse)
	if d.cfg.Backlog != nil {
		s.Backlog = d.cfg.Backlog()
		want = max(want, d.cfg.BacklogSeconds.level(s.Backlog.Seconds()))
	}
	want = max(want, d.pressure(&s))
	cur := Level(d.level.Load())
	switch {
	case want >= cur:
		d.level.Store(int32(want))
		d.highSince = now
	case now.Sub(d.highSince) >= d.cfg.Hold:
		d.level.Store(int32(cur - 1)) // one step at a time
		d.highSince = now
	}
	d.mu.Lock()
	d.last = s
	d.mu.Unlock()
}

// pressure derives the level CPU and scheduling delay ask for from s (and
// records it in s.Pressure), and returns the highest of them held for
// Sustain. Only the run goroutine calls it.
func (d *Detector) pressure(s *Signals) Level {
	if s.RPS >= d.cfg.PressureRPS {
		s.Pressure = d.cfg.CPU.level(s.CPU)
		if s.CPU >= d.cfg.SchedMinCPU {
			s.Pressure = max(s.Pressure, d.cfg.SchedP99.level(s.SchedP99.Seconds()))
		}
	}
	held := Normal
	for i := range d.pressN {
		if s.Pressure > Level(i) {
			d.pressN[i]++
		} else {
			d.pressN[i] = 0
		}
		if d.pressN[i] >= d.sustainN {
			held = Level(i + 1)
		}
	}
	return held
}

// p99 of the counts added since prev.
func p99(h *metrics.Float64Histogram, prev []uint64) float64 {
	var total uint64
	for i, c := range h.Counts {
		total += c - prev[i]
	}
	if total == 0 {
		return 0
	}
	target := uint64(math.Ceil(float64(total) * 0.99))
	var acc uint64
	for i, c := range h.Counts {
		acc += c - prev[i]
		if acc >= target {
			b := h.Buckets[i+1] // upper bound of bucket i
			if math.IsInf(b, 1) {
				b = h.Buckets[i]
			}
			return b
		}
	}
	return 0
}

func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
