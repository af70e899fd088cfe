package recording

import (
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
//   - the disk goroutine then walks the jobs one after another: it frames
//     their pages and writes them (one write per file and pass), ends the
//     jobs whose input ended, and every SyncEvery syncs the files written
//     since the last sync in one pass, spread over at most syncWorkers
//     goroutines (an fsync mostly waits on the device: a few in flight
//     finish sooner than one after another, and never one per file).
//
// So the wake-ups, writes and fsyncs are one batch per FlushEvery, not one
// timer and two goroutines per file, and at most 1 + syncWorkers threads
// are ever blocked on the disk at once.
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

// syncWorkers bounds the fsyncs in flight during a sync pass.
const syncWorkers = 4

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
	var jobs, ended []job
	for range p.work {
		jobs = p.snapshot(jobs)
		ended = ended[:0]
		for _, j := range jobs {
			if j.write() {
				ended = append(ended, j)
			}
		}
		p.mu.Lock()
		if len(ended) > 0 {
			live := p.jobs[:0]
			for _, j := range p.jobs {
				if !contains(ended, j) {
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
			syncAll(jobs, ended)
		}
		clear(jobs)
		clear(ended)
	}
}

// syncAll syncs the jobs (but those that just ended: they synced
// themselves) with at most syncWorkers fsyncs in flight.
func syncAll(jobs, ended []job) {
	var next atomic.Int64
	var wg sync.WaitGroup
	n := min(syncWorkers, len(jobs))
	wg.Add(n)
	for range n {
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= len(jobs) {
					return
				}
				if !contains(ended, jobs[i]) {
					jobs[i].sync()
				}
			}
		}()
	}
	wg.Wait()
}

func contains(js []job, j job) bool {
	for _, k := range js {
		if k == j {
			return true
		}
	}
	return false
}
