package audio

import (
	"sync"
	"sync/atomic"
	"time"
)

// Clock ticks many mixers from a few goroutines on one 20 ms grid, instead
// of a timer and a goroutine per room: a process hosting a thousand small
// rooms wakes a few times per frame in all, not a thousand. Each mixer
// keeps its own schedule on the grid (its first frame is due at the grid
// point after it joined) and its batching (MixerConfig.Batch, asked right
// after each batch as Mixer.Run does): a worker sleeps until the earliest
// batch of its mixers is due, then ticks every one of its mixers whose
// batch is due, back to back. An idle mixer's batches (IdleBatch) end on
// the grid's multiples of MaxBatchFrames, so a process of idle rooms wakes
// once per MaxBatchFrames in all, whenever each room started. Mixers are
// spread over the workers round robin. A worker whose round of ticks has
// run longer than a frame (a slow room, or a stall) is stuck: the others
// then also keep its mixers' schedules and tick those that fall due
// (rescue), skipping the one it is ticking, so one slow room delays the
// rooms of its worker by at most a frame and the other workers' next
// wake-up, not by its own tick time. Nothing is added while no worker is
// stuck: a worker only reads its peers' round start when it wakes. A tick
// that starts more than a frame late is reported late through
// MixerConfig.OnTick, with how long it took.
type Clock struct {
	epoch   time.Time
	workers []*clockWorker
	next    atomic.Uint32
	wg      sync.WaitGroup
	once    sync.Once
	stop    chan struct{}
}

type clockWorker struct {
	c      *Clock
	mu     sync.Mutex
	mixers []*clocked
	joined chan struct{} // a mixer joined: its first frame may be due before the worker's next wake-up
	// round is when the worker's round of ticks began (unix nanoseconds),
	// 0 between rounds: its peers read it to tell it is stuck.
	round atomic.Int64
}

// stuck reports whether w's round has run longer than a frame at now.
func (w *clockWorker) stuck(now time.Time) bool {
	r := w.round.Load()
	return r != 0 && now.UnixNano()-r > int64(FrameDuration)
}

// clocked is one mixer's place on the grid.
type clocked struct {
	m       *Mixer
	mu      sync.Mutex // serialises the worker's ticks with Leave
	start   time.Time  // when frame 0 was due
	base    int64      // frame 0's place on the clock's grid (frames since the epoch)
	n       int64      // the next frame to mix
	k       int        // frames of the batch under way, asked of the mixer when the last one ended
	stopped bool
}

// deadline is when the batch under way is due: its last frame's time.
func (cl *clocked) deadline() time.Time {
	return cl.start.Add(time.Duration(cl.n+int64(cl.k)-1) * FrameDuration)
}

// NewClock starts a clock with workers goroutines (at least 1). Close stops them.
func NewClock(workers int) *Clock {
	c := &Clock{epoch: time.Now(), stop: make(chan struct{})}
	for range max(workers, 1) {
		c.workers = append(c.workers, &clockWorker{c: c, joined: make(chan struct{}, 1)})
	}
	// Started once all are made: each reads its peers (rescue).
	for _, w := range c.workers {
		c.wg.Add(1)
		go w.run()
	}
	return c
}

// Join puts m on the clock; its first frame is due at the next grid point.
// leave takes it off and returns once no tick of m is running: after it,
// m is never ticked again.
func (c *Clock) Join(m *Mixer) (leave func()) {
	now := time.Now()
	n := now.Sub(c.epoch)/FrameDuration + 1
	cl := &clocked{m: m, start: c.epoch.Add(n * FrameDuration), base: int64(n)}
	cl.k = cl.nextBatch()
	w := c.workers[int(c.next.Add(1))%len(c.workers)]
	w.mu.Lock()
	w.mixers = append(w.mixers, cl)
	w.mu.Unlock()
	select {
	case w.joined <- struct{}{}:
	default:
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			cl.mu.Lock()
			cl.stopped = true
			cl.mu.Unlock()
			w.mu.Lock()
			for i, x := range w.mixers {
				if x == cl {
					w.mixers = append(w.mixers[:i], w.mixers[i+1:]...)
					break
				}
			}
			w.mu.Unlock()
		})
	}
}

// Close stops the workers (after the mixers left, or they stop ticking).
func (c *Clock) Close() {
	c.once.Do(func() { close(c.stop) })
	c.wg.Wait()
}

func (w *clockWorker) run() {
	defer w.c.wg.Done()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	var batch []*clocked
	for {
		// Sleep until the earliest batch of this worker's mixers is due
		// (an idle worker a second at most), or of a stuck peer's.
		now := time.Now()
		wake := now.Add(time.Second)
		w.mu.Lock()
		for _, cl := range w.mixers {
			if d := cl.due(); d.Before(wake) {
				wake = d
			}
		}
		w.mu.Unlock()
		for _, p := range w.c.workers {
			if p != w && p.stuck(now) {
				wake = p.earliest(wake)
			}
		}
		timer.Reset(wake.Sub(now))
		select {
		case <-w.c.stop:
			return
		case <-w.joined:
			timer.Stop() // Go ≥ 1.23 timers: no stale tick to drain after Stop
			continue
		case <-timer.C:
		}
		w.mu.Lock()
		batch = append(batch[:0], w.mixers...)
		w.mu.Unlock()
		w.round.Store(time.Now().UnixNano())
		for _, cl := range batch {
			cl.mu.Lock()
			cl.stepLocked()
			cl.mu.Unlock()
		}
		w.round.Store(0)
		// A stuck peer's due mixers (all but the one it is ticking).
		now = time.Now()
		for _, p := range w.c.workers {
			if p != w && p.stuck(now) {
				batch = p.rescue(batch[:0])
			}
		}
		clear(batch) // no mixer kept alive by the reused slice
	}
}

// earliest is the earliest due batch of w's mixers before wake, leaving out
// a mixer being ticked (its lock is held).
func (w *clockWorker) earliest(wake time.Time) time.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, cl := range w.mixers {
		if !cl.mu.TryLock() {
			continue
		}
		if d := cl.deadline(); d.Before(wake) {
			wake = d
		}
		cl.mu.Unlock()
	}
	return wake
}

// rescue ticks the due batches of stuck w's mixers from another worker,
// leaving out the one w is ticking; batch is scratch space, returned for
// reuse. w's round then finds them not due.
func (w *clockWorker) rescue(batch []*clocked) []*clocked {
	w.mu.Lock()
	batch = append(batch, w.mixers...)
	w.mu.Unlock()
	for _, cl := range batch {
		if cl.mu.TryLock() {
			cl.stepLocked()
			cl.mu.Unlock()
		}
	}
	return batch
}

// due is when cl's next batch is due.
func (cl *clocked) due() time.Time {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	return cl.deadline()
}

// stepLocked ticks cl's batch if its last frame is due, as Mixer.Run does
// (a mixer more than maxBehind behind skips the missed frames), then asks
// the mixer for its next batch. cl.mu is held.
func (cl *clocked) stepLocked() {
	if cl.stopped {
		return
	}
	now := time.Now()
	deadline := cl.deadline()
	if now.Before(deadline) {
		return
	}
	behind := now.Sub(deadline)
	if behind > maxBehind {
		cl.n, cl.k = int64(now.Sub(cl.start)/FrameDuration), 1
	}
	for i := range cl.k {
		cl.m.tick(behind > FrameDuration, cl.k-1-i)
	}
	cl.n += int64(cl.k)
	cl.k = cl.nextBatch()
}

// nextBatch asks the mixer for its next batch; an idle one is cut to end
// on the grid's next multiple of MaxBatchFrames.
func (cl *clocked) nextBatch() int {
	k, idle := cl.m.batch()
	if idle {
		k = MaxBatchFrames - int((cl.base+cl.n)%MaxBatchFrames)
	}
	return k
}
