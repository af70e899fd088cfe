package recording

import (
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// A pump serves all the files a Manager (or the evidence store) writes
// with two goroutines, however many rooms there are:
//
//   - the pull goroutine wakes once every FlushEvery and takes every job's
//     new input into memory (a program's chunks are shared and immutable:
//     pointers only). It never touches the disk, so a stalled disk cannot
//     make a job miss the program's ring; each job's queue is bounded
//     instead, and what does not fit is dropped and counted.
//   - the disk goroutine then runs a pass over the jobs, on at most
//     diskWorkers goroutines: it frames their pages and writes them (one
//     write per file and pass), opens and ends files and segments, ends
//     the jobs whose input ended, and every SyncEvery syncs the files
//     written since the last sync in one more such pass.
//
// So the wake-ups, writes and fsyncs are one batch per FlushEvery, not one
// timer and two goroutines per file, and at most diskWorkers threads are
// ever blocked on the disk at once.
type pump struct {
	flushEvery, syncEvery time.Duration

	mu      sync.Mutex // guards jobs and closing; a leaf
	jobs    []job
	closing bool

	work chan struct{} // cap 1: a disk pass is due
	stop chan struct{} // closed by the disk goroutine when closing and no job is left
	wg   sync.WaitGroup
}

// job is one file (or pair of files) the pump writes.
type job interface {
	// pull takes new input into the job's queue (the pull goroutine;
	// memory only, never blocks).
	pull()
	// write writes what was pulled (the disk goroutine). done: the job
	// has ended and is forgotten.
	write() (done bool)
	// sync makes what write wrote durable (a sync worker, while the disk
	// goroutine waits for the pass: it may touch the job's disk state).
	sync()
}

// diskWorkers bounds the jobs written or synced at once in a pass: the
// disk calls (an fsync, a metadata file's atomic replacement) mostly wait
// on the device, and a few in flight finish a pass of hundreds of files
// sooner than one after another, with never more than these threads
// blocked on the disk.
const diskWorkers = 4

var writeWorkers = 4

func newPump(flushEvery, syncEvery time.Duration) *pump {
	p := &pump{flushEvery: flushEvery, syncEvery: syncEvery, work: make(chan struct{}, 1), stop: make(chan struct{})}
	p.wg.Add(2)
	go p.pullLoop()
	go p.diskLoop()
	return p
}

// add starts serving j (from the next pass on).
func (p *pump) add(j job) {
	p.mu.Lock()
	p.jobs = append(p.jobs, j)
	p.mu.Unlock()
}

// kick asks for a disk pass now (a job was told to end).
func (p *pump) kick() {
	select {
	case p.work <- struct{}{}:
	default:
	}
}

// close waits until every job has ended (the caller told them to) and
// stops the goroutines.
func (p *pump) close() {
	p.mu.Lock()
	p.closing = true
	p.mu.Unlock()
	p.kick()
	p.wg.Wait()
}

func (p *pump) snapshot(buf []job) []job {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append(buf[:0], p.jobs...)
}

func (p *pump) pullLoop() {
	defer p.wg.Done()
	tick := time.NewTicker(p.flushEvery)
	defer tick.Stop()
	var jobs []job
	for {
		select {
		case <-tick.C:
		case <-p.stop:
			return
		}
		jobs = p.snapshot(jobs)
		for _, j := range jobs {
			j.pull()
		}
		clear(jobs)
		p.kick()
	}
}

func (p *pump) diskLoop() {
	defer p.wg.Done()
	defer close(p.stop)
	lastSync := time.Now()
	var jobs []job
	var ended []bool
	for range p.work {
		jobs = p.snapshot(jobs)
		ended = slices.Grow(ended[:0], len(jobs))[:len(jobs)]
		each(writeWorkers, len(jobs), func(i int) { ended[i] = jobs[i].write() })
		p.mu.Lock()
		if slices.Contains(ended, true) {
			gone := make(map[job]bool)
			for i, j := range jobs {
				if ended[i] {
					gone[j] = true
				}
			}
			live := p.jobs[:0]
			for _, j := range p.jobs {
				if !gone[j] {
					live = append(live, j)
				}
			}
			clear(p.jobs[len(live):])
			p.jobs = live
		}
		done := p.closing && len(p.jobs) == 0
		p.mu.Unlock()
		if done {
			return
		}
		if time.Since(lastSync) >= p.syncEvery {
			lastSync = time.Now()
			// Those that just ended synced themselves.
			each(diskWorkers, len(jobs), func(i int) {
				if !ended[i] {
					jobs[i].sync()
				}
			})
		}
		clear(jobs)
	}
}

// each calls fn(0) … fn(n−1) on at most diskWorkers goroutines and waits.
func each(workers, n int, fn func(i int)) {
	var next atomic.Int64
	var wg sync.WaitGroup
	k := min(workers, n)
	wg.Add(k)
	for range k {
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				fn(i)
			}
		}()
	}
	wg.Wait()
}
