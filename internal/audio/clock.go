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
// spread over the workers round robin, so a slow room delays only the
// rooms of its worker, and only by its own tick time; a tick that starts
// more than a frame late is reported late through MixerConfig.OnTick.
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
		w := &clockWorker{c: c, joined: make(chan struct{}, 1)}
		c.workers = append(c.workers, w)
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
		// (an idle worker a second at most).
		now := time.Now()
		wake := now.Add(time.Second)
		w.mu.Lock()
		for _, cl := range w.mixers {
			if d := cl.due(); d.Before(wake) {
				wake = d
			}
		}
		w.mu.Unlock()
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
		for _, cl := range batch {
			cl.step()
		}
		clear(batch) // no mixer kept alive by the reused slice
	}
}

// due is when cl's next batch is due.
func (cl *clocked) due() time.Time {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	return cl.deadline()
}

// step ticks cl's batch if its last frame is due, as Mixer.Run does (a
// mixer more than maxBehind behind skips the missed frames), then asks the
// mixer for its next batch.
func (cl *clocked) step() {
	cl.mu.Lock()
	defer cl.mu.Unlock()
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
