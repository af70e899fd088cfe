package shard

import (
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"majlis/internal/program"
)

// The sharded writer: instead of one goroutine per listener that wakes for
// every chunk, a few shard goroutines per program each own a list of
// listener connections (hijacked from net/http) and, for every chunk, write
// its shared wire-ready bytes (Kind.Wire) to each of them with one
// non-blocking write(2). A listener whose socket buffer is full is not
// waited for: it keeps its place (chunk and byte offset) and is continued
// on the next round, so the kernel send buffer is its backlog; beyond
// MaxBacklog chunks the Policy decides (at a chunk boundary, so framing
// stays intact), and after WriteTimeout without progress it is dropped.

// station runs the shards of one program: one to begin with, another each
// time the audience passes Config.ShardListeners per shard, up to
// Config.Shards.
type station struct {
	e         *Engine
	p         *program.Program
	shards    []*shard     // the running ones; guarded by Engine.smu
	next      int          // round-robin shard for the next listener; guarded by Engine.smu
	listeners atomic.Int64 // handed to a shard and not yet removed
}

type shard struct {
	st       *station
	mu       sync.Mutex
	incoming []*listener   // added by Take, taken by the shard
	finished bool          // the shard ended: no more listeners accepted
	wake     chan struct{} // cap 1: a listener was added
	ls       []*listener   // owned by the shard goroutine
	rbuf     []byte        // client input is read into this and dropped
	// sent counts what this round delivered per Kind; handed to Kind.Sent
	// once per round.
	sent   []sentCount
	batch  batch  // the io_uring path (batch.go)
	inputs inputs // readiness of talking listeners' input (input.go)
}

type sentCount struct{ bytes, chunks int }

// flushSent hands the round's deliveries to the kinds.
func (sh *shard) flushSent() {
	for i, k := range sh.st.e.kinds {
		if c := &sh.sent[i]; c.chunks > 0 {
			k.Sent(c.bytes, c.chunks)
			*c = sentCount{}
		}
	}
}

// stationFor returns the running station of p, starting it if needed.
func (e *Engine) stationFor(p *program.Program) *station {
	e.smu.Lock()
	defer e.smu.Unlock()
	if e.stations == nil {
		e.stations = make(map[*program.Program]*station)
	}
	if st := e.stations[p]; st != nil {
		return st
	}
	st := &station{e: e, p: p}
	st.startShardLocked()
	e.stations[p] = st
	return st
}

// startShardLocked starts another shard of st. e.smu must be held, and
// the caller (Take) holds a count of e.wg, so Close waits for it too.
func (st *station) startShardLocked() {
	e := st.e
	sh := &shard{
		st: st, wake: make(chan struct{}, 1), rbuf: make([]byte, shardReadBuf),
		sent: make([]sentCount, len(e.kinds)), inputs: inputs{ep: -1},
	}
	st.shards = append(st.shards, sh)
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		sh.run()
	}()
}

// add hands l to one of st's shards, starting another first if the
// audience has outgrown them; false if the station has finished (the
// program ended), in which case the caller ends l itself.
func (st *station) add(l *listener) bool {
	st.e.smu.Lock()
	if n := len(st.shards); n < st.e.cfg.Shards && st.listeners.Load() >= int64(n*st.e.cfg.ShardListeners) {
		st.startShardLocked()
	}
	sh := st.shards[st.next%len(st.shards)]
	st.next++
	st.e.smu.Unlock()
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if sh.finished {
		return false
	}
	st.listeners.Add(1)
	sh.incoming = append(sh.incoming, l)
	select {
	case sh.wake <- struct{}{}:
	default: // a wake-up is already pending
	}
	return true
}

// run delivers chunks to the shard's listeners until the program ends and
// every listener is finished, or the engine closes.
func (sh *shard) run() {
	e, p := sh.st.e, sh.st.p
	defer sh.closeRing()
	defer sh.closeInputs()
	var retry *time.Timer
	// While the program publishes, a listener that went away shows up as
	// a failed write within two chunks. When it is idle, probe for closed
	// connections instead.
	idle := time.NewTicker(idleProbe)
	defer idle.Stop()
	lastHead, lastChange := p.Head(), time.Now()
	for {
		// Take the wait channel before looking at Head, so a chunk
		// published in between still wakes us.
		wait := p.Wait()
		closed := p.Closed()
		sh.mu.Lock()
		for _, l := range sh.incoming {
			if l.in != nil {
				sh.watch(l)
			}
		}
		sh.ls = append(sh.ls, sh.incoming...)
		clear(sh.incoming)
		sh.incoming = sh.incoming[:0]
		if closed && len(sh.ls) == 0 {
			sh.finished = true
			sh.mu.Unlock()
			e.dropStation(sh.st)
			return
		}
		sh.mu.Unlock()

		head := p.Head()
		now := time.Now()
		sh.pollInputs()
		var blocked bool
		if sh.useRing() {
			blocked = sh.roundBatched(head, closed, now)
		} else {
			blocked = sh.round(head, closed, now)
		}
		sh.flushSent()
		var retryC <-chan time.Time
		if closed && blocked {
			// No more chunks will wake us: retry the listeners still
			// taking the end of the program.
			if retry == nil {
				retry = time.NewTimer(20 * time.Millisecond)
			} else {
				retry.Reset(20 * time.Millisecond)
			}
			retryC = retry.C
		}
		select {
		case <-wait:
		case <-sh.wake:
		case <-retryC:
		case now := <-idle.C:
			if hd := p.Head(); hd != lastHead {
				lastHead, lastChange = hd, now
				break
			}
			if now.Sub(lastChange) < idleAfter {
				break
			}
			for i := 0; i < len(sh.ls); {
				l := sh.ls[i]
				if l.in != nil {
					err := sh.readClient(l, now)
					if err == nil && l.in.pong != nil {
						err = sh.deliver(l, p.Head(), p.Closed(), now) // the pong, now
					}
					if err != nil && err != errAgain {
						sh.remove(i, err)
						continue
					}
				} else if l.gone() {
					sh.remove(i, ErrClientGone)
					continue
				}
				i++
			}
		case <-e.ctx.Done():
			sh.mu.Lock()
			sh.finished = true
			sh.ls = append(sh.ls, sh.incoming...)
			sh.incoming = nil
			sh.mu.Unlock()
			for len(sh.ls) > 0 {
				// Shutting down: remove ends the stream cleanly if it fits.
				sh.remove(0, ErrShutdown)
			}
			return
		}
	}
}

// round brings every listener up to head with one write(2) per piece.
// It returns whether some listener's socket was full.
func (sh *shard) round(head uint64, closed bool, now time.Time) (blocked bool) {
	for i := 0; i < len(sh.ls); {
		l := sh.ls[i]
		var err error
		if l.in != nil && now.UnixNano() >= l.nextRead {
			err = sh.readClient(l, now)
		}
		if err == nil {
			err = sh.deliver(l, head, closed, now)
		}
		if err == errAgain {
			blocked = true
		}
		if err != nil && err != errAgain {
			sh.remove(i, err)
			continue
		}
		i++
		if i%yieldEvery == 0 {
			// A round over thousands of sockets takes tens of ms: let
			// the mixer and the other goroutines of this P run.
			runtime.Gosched()
		}
	}
	return blocked
}

// idleProbe is how often a shard of an idle program looks for listeners
// that went away.
// A program counts as idle after idleAfter without a new chunk (longer than
// the longest chunk).
const (
	idleProbe = 500 * time.Millisecond
	idleAfter = 2 * time.Second
)

// deliver writes what l is missing up to head. It returns nil when l has
// caught up, errAgain when its socket is full, ErrEnded when the program
// ended and l got all of it, or the error that ends l.
func (sh *shard) deliver(l *listener, head uint64, closed bool, now time.Time) error {
	for {
		b, err := sh.next(l, head, closed, now)
		if b == nil {
			return err
		}
		n, werr := l.write(b)
		if err := sh.wrote(l, n, werr, now); err != nil {
			return err
		}
	}
}

// next returns the bytes l is to be sent now: the rest of its current
// chunk, or the next chunk it is missing up to head. It returns nil when
// there is nothing to send: with a nil error when l has caught up, or with
// the reason l ends (ErrEnded, or the Policy's verdict on a lagging l).
func (sh *shard) next(l *listener, head uint64, closed bool, now time.Time) ([]byte, error) {
	e, p := sh.st.e, sh.st.p
	if l.cur == nil && l.in != nil && l.in.pong != nil {
		// A pong goes out between chunks, before the next one.
		l.cur, l.off, l.ctl = l.in.pong, 0, true
		l.in.pong = nil
	}
	for l.cur == nil {
		if l.pos >= head {
			l.progress = now.UnixNano()
			if closed {
				return nil, ErrEnded // remove writes the end
			}
			return nil, nil
		}
		var c *program.Chunk
		if head-l.pos <= uint64(e.cfg.MaxBacklog) {
			c = p.Chunk(l.pos)
		}
		if c == nil { // too far behind, or the chunk was overwritten
			pos, err := e.policy.Lagging(p, l.kind, head, int(l.skips))
			if err != nil {
				return nil, err
			}
			l.skips++
			l.pos = pos
			continue
		}
		l.cur, l.off = l.kind.Wire(c), 0
	}
	return l.cur[l.off:], nil
}

// wrote takes the result of sending l the bytes next returned: n written,
// err from the write. It returns nil when l's chunk is complete (more may
// follow), errAgain when l's socket is full for now, or the error that ends l.
func (sh *shard) wrote(l *listener, n int, err error, now time.Time) error {
	l.off += int32(n)
	if n > 0 {
		l.progress = now.UnixNano()
	}
	if err == errAgain || (err == nil && int(l.off) < len(l.cur)) {
		if time.Duration(now.UnixNano()-l.progress) > sh.st.e.cfg.WriteTimeout {
			return ErrWriteTimeout
		}
		return errAgain
	}
	if err != nil {
		return err
	}
	if l.ctl { // a control frame went out: no chunk was delivered
		l.cur, l.ctl = nil, false
		return nil
	}
	c := &sh.sent[l.kind.idx]
	c.bytes += len(l.cur)
	c.chunks++
	l.cur = nil
	l.pos++
	return nil
}

// remove ends listener i: writes its final bytes for err if it is between
// chunks, closes its connection and tells its handler.
func (sh *shard) remove(i int, err error) {
	l := sh.ls[i]
	if l.cur == nil && l.kind.Final != nil {
		if b := l.kind.Final(err); b != nil {
			_, _ = l.write(b)
		}
	}
	last := len(sh.ls) - 1
	sh.ls[i] = sh.ls[last]
	sh.ls[last] = nil
	sh.ls = sh.ls[:last]
	if l.watched {
		sh.unwatch(l)
	}
	sh.st.listeners.Add(-1)
	l.close()
	l.ended(err)
}

// dropStation forgets st once all its shards have finished.
func (e *Engine) dropStation(st *station) {
	e.smu.Lock()
	shards := slices.Clone(st.shards)
	e.smu.Unlock()
	for _, sh := range shards {
		sh.mu.Lock()
		f := sh.finished
		sh.mu.Unlock()
		if !f {
			return
		}
	}
	e.smu.Lock()
	if e.stations[st.p] == st {
		delete(e.stations, st.p)
	}
	e.smu.Unlock()
}

// yieldEvery is how many listeners a shard serves between yields.
// shardReadBuf is the size of a shard's buffer for client input.
// clientReadEvery is how often a talking listener's input is read.
const (
	yieldEvery      = 512
	shardReadBuf    = 4 << 10
	clientReadEvery = time.Second
)
