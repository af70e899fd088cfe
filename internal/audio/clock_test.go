package audio

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestClockTicksManyMixers: mixers on a two-worker clock each produce one
// frame per 20 ms on their own schedule, in the batches they ask for, and
// none after they left.
func TestClockTicksManyMixers(t *testing.T) {
	c := NewClock(2)
	defer c.Close()
	const mixers = 40
	type counted struct {
		frames, batches, skips atomic.Int64
		leave                  func()
	}
	ms := make([]*counted, mixers)
	start := time.Now()
	for i := range ms {
		cm := &counted{}
		batch := 1 + i%MaxBatchFrames
		var m *Mixer
		prev := int64(-1) // the mixer's next frame at its previous ask
		ask := func() int {
			cm.batches.Add(1)
			// A worker more than maxBehind late skips the missed frames
			// and ticks one: that batch is not whole (the clock's own
			// frame count tells; asked by the worker, under the place's lock).
			if cl := c.placeOf(m); cl != nil {
				if prev >= 0 && cl.n-prev != int64(batch) {
					cm.skips.Add(1)
				}
				prev = cl.n
			}
			return batch
		}
		var err error
		m, err = NewMixer(MixerConfig{Out: func([]byte) { cm.frames.Add(1) }, Batch: ask})
		if err != nil {
			t.Fatal(err)
		}
		ms[i] = cm
		cm.leave = c.Join(m)
	}
	// Wait on the slowest: every mixer past 50 frames (a second of program).
	deadline := time.Now().Add(10 * time.Second)
	for i := 0; i < mixers; {
		if ms[i].frames.Load() >= 50 {
			i++
			continue
		}
		if time.Now().After(deadline) {
			t.Fatalf("mixer %d made %d frames in 10 s", i, ms[i].frames.Load())
		}
		time.Sleep(10 * time.Millisecond)
	}
	for _, cm := range ms {
		cm.leave()
	}
	elapsed := time.Since(start)
	// A mixer is never ahead of real time: at most the frames due by now
	// (plus the batch under way, which runs when its last frame is due).
	due := int64(elapsed/FrameDuration) + 1
	for i, cm := range ms {
		f, b, skips := cm.frames.Load(), cm.batches.Load(), cm.skips.Load()
		if f > due {
			t.Errorf("mixer %d: %d frames in %v, ahead of the %d due", i, f, elapsed, due)
		}
		// Each batch is asked for once and ticked whole (a skip's one
		// frame apart): frames/batch is its size.
		if want := int64(1 + i%MaxBatchFrames); b < 2 || f < (b-1-skips)*want+skips || f > b*want {
			t.Errorf("mixer %d: %d frames in %d batches of %d (%d skips)", i, f, b, want, skips)
		}
	}
	after := make([]int64, mixers)
	for i, cm := range ms {
		after[i] = cm.frames.Load()
	}
	time.Sleep(10 * FrameDuration)
	for i, cm := range ms {
		if n := cm.frames.Load(); n != after[i] {
			t.Errorf("mixer %d ticked %d times after it left", i, n-after[i])
		}
	}
}

// TestClockAlignsIdleMixers: idle mixers (IdleBatch) that joined at
// different moments all end their batches on the grid's multiples of
// MaxBatchFrames, so the workers wake once per 100 ms for all of them;
// each still makes one frame per 20 ms. The grid frame of each ask is the
// clock's own (the mixer's base and next frame), not the wall time the
// worker happened to run at: a loaded machine that runs a worker late
// delays the ask, it does not move the batch off the grid.
func TestClockAlignsIdleMixers(t *testing.T) {
	c := NewClock(2)
	defer c.Close()
	const mixers = 12
	var mu sync.Mutex
	asks := map[int64]int{} // grid frame (since the epoch) a batch was asked at -> asks
	joins, skips, early := 0, 0, 0
	frames := make([]atomic.Int64, mixers)
	var joined [mixers]time.Time
	var leaves []func()
	for i := range mixers {
		var m *Mixer
		prev := int64(-1) // the grid frame of this mixer's previous ask
		batch := func() int {
			// Asked by Join (m not on a worker yet) or by the worker's
			// step, which holds the clocked's lock while it asks.
			cl := c.placeOf(m)
			mu.Lock()
			defer mu.Unlock()
			if cl == nil {
				joins++
				return IdleBatch
			}
			frame := cl.base + cl.n
			if !cl.start.Equal(c.epoch.Add(time.Duration(cl.base) * FrameDuration)) {
				early++ // frame 0 not on the epoch's grid
			}
			if at := time.Since(c.epoch); at < time.Duration(frame-1)*FrameDuration {
				early++ // asked before the last frame of its batch was due
			}
			if prev >= 0 && frame-prev > MaxBatchFrames {
				skips++ // the worker was more than maxBehind late and skipped frames
			}
			prev = frame
			asks[frame]++
			return IdleBatch
		}
		var err error
		m, err = NewMixer(MixerConfig{Out: func([]byte) { frames[i].Add(1) }, Batch: batch})
		if err != nil {
			t.Fatal(err)
		}
		joined[i] = time.Now()
		leaves = append(leaves, c.Join(m))
		time.Sleep(7 * time.Millisecond) // spread the joins over the 20 ms grid
	}
	time.Sleep(time.Second)
	for _, leave := range leaves {
		leave()
	}
	left := time.Now()
	mu.Lock()
	defer mu.Unlock()
	off, on := 0, 0
	for frame, n := range asks {
		// A batch is asked as the one before it ends: at a multiple of
		// MaxBatchFrames (after a skip, once elsewhere).
		if frame%MaxBatchFrames == 0 {
			on += n
		} else {
			off += n
		}
	}
	if joins != mixers || on < mixers*5 || off > skips {
		t.Errorf("%d joins; batches asked on the 100 ms grid %d, off it %d (%d skips): want the idle mixers aligned", joins, on, off, skips)
	}
	if early > 0 {
		t.Errorf("%d batches off the epoch's grid or asked before they were due", early)
	}
	if len(asks) > 12+skips {
		t.Errorf("the batches of %d mixers were asked at %d grid frames in about 1 s, want about 10: one wake-up per 100 ms for all", mixers, len(asks))
	}
	for i := range frames {
		// One frame per 20 ms it was on the clock: never more, and not
		// many fewer (the test sleeps a second: 50 due).
		if f, due := frames[i].Load(), int64(left.Sub(joined[i])/FrameDuration)+1; f < 40 || f > due {
			t.Errorf("idle mixer %d made %d frames in %v on the clock, want about 50 and at most %d", i, f, left.Sub(joined[i]), due)
		}
	}
}

// placeOf finds m's place on the clock (nil before Join put it there).
func (c *Clock) placeOf(m *Mixer) *clocked {
	cl, _ := c.find(m)
	return cl
}

// workerOf is the worker m is on, or nil.
func (c *Clock) workerOf(m *Mixer) *clockWorker {
	_, w := c.find(m)
	return w
}

// find is m's place and worker, or nils.
func (c *Clock) find(m *Mixer) (*clocked, *clockWorker) {
	for _, w := range c.workers {
		w.mu.Lock()
		for _, cl := range w.mixers {
			if cl.m == m {
				w.mu.Unlock()
				return cl, w
			}
		}
		w.mu.Unlock()
	}
	return nil, nil
}

// TestClockRescuesStuckWorker: a room whose tick blocks for a second holds
// up its worker, but not the other room on that worker: the second worker
// sees the first stuck and ticks its other mixers meanwhile (the blocked
// one is left to its worker), so that room keeps making frames on its
// schedule. Without the rescue its frames stop for the whole second.
func TestClockRescuesStuckWorker(t *testing.T) {
	c := NewClock(2)
	defer c.Close()
	var block atomic.Bool
	release := make(chan struct{})
	blocked := make(chan struct{})
	// Joined in turn on worker 1, 0, 1: slow and victim share a worker.
	slow, err := NewMixer(MixerConfig{Batch: func() int { return 1 }, Out: func([]byte) {
		if block.CompareAndSwap(true, false) {
			close(blocked)
			<-release
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	other, err := NewMixer(MixerConfig{Batch: func() int { return IdleBatch }, Out: func([]byte) {}})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var at []time.Time // the victim's frames
	victim, err := NewMixer(MixerConfig{Batch: func() int { return 2 }, Out: func([]byte) {
		mu.Lock()
		at = append(at, time.Now())
		mu.Unlock()
	}})
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []*Mixer{slow, other, victim} {
		defer c.Join(m)()
	}
	var unblock sync.Once
	defer unblock.Do(func() { close(release) }) // before the slow room leaves
	if c.placeOf(slow) == nil || c.workerOf(slow) != c.workerOf(victim) || c.workerOf(slow) == c.workerOf(other) {
		t.Fatal("the slow room and the victim are not on one worker, apart from the other room")
	}
	time.Sleep(300 * time.Millisecond)
	block.Store(true)
	select {
	case <-blocked:
	case <-time.After(5 * time.Second):
		t.Fatal("the slow room's tick never ran")
	}
	from := time.Now()
	const hold = time.Second
	time.Sleep(hold)
	unblock.Do(func() { close(release) })
	until := time.Now()
	mu.Lock()
	defer mu.Unlock()
	var n int
	longest, prev := time.Duration(0), from
	for _, a := range at {
		if a.Before(from) || a.After(until) {
			continue
		}
		n++
		longest = max(longest, a.Sub(prev))
		prev = a
	}
	longest = max(longest, until.Sub(prev))
	// 50 frames are due in the second; the rescuer notices the stuck
	// worker at its own next wake-up (the idle room's, 100 ms at most)
	// and then keeps the victim's 40 ms batches.
	if n < 25 || longest > 500*time.Millisecond {
		t.Fatalf("while its worker was stuck %v the victim made %d frames, the longest gap %v; want ≥ 25 frames, gaps under 500 ms",
			until.Sub(from).Round(time.Millisecond), n, longest.Round(time.Millisecond))
	}
	t.Logf("while its worker was stuck %v the victim made %d frames, the longest gap %v", until.Sub(from).Round(time.Millisecond), n, longest.Round(time.Millisecond))
}
