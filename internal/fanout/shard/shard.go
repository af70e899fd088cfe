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
// every chunk, a few shard goroutines each own lists of listener
// connections (hijacked from net/http) and, for every chunk, write its
// shared wire-ready bytes (Kind.Wire) to each of them with one non-blocking
// write(2). A listener whose socket buffer is full is not waited for: it
// keeps its place (chunk and byte offset) and is continued on the next
// round, so the kernel send buffer is its backlog; beyond MaxBacklog chunks
// the Policy decides (at a chunk boundary, so framing stays intact), and
// after WriteTimeout without progress it is dropped.
//
// Small programs share their writers. A program's first ShardListeners
// listeners go to one of the engine's pool shards (Config.Shards of them,
// each program on one, round robin), which serve the listeners of many
// programs from one goroutine: a thousand rooms of ten listeners wake a
// few writers per chunk, not a thousand. Program.Notify wakes a shard (a
// channel of capacity 1, so chunks that programs publish together, as the
// mixers' common clock has them do, wake it once), and a round serves only
// the programs that moved. A larger audience gets dedicated shards on top,
// one per ShardListeners more, up to Shards in all: only an audience whose
// writes take a core's time needs more than one writer.

// station is one program's place in the engine: its listener count and
// the shards serving it, shards[0] a pool shard. It is dropped with its
// last listener.
type station struct {
	e         *Engine
	p         *program.Program
	shards    []*shard     // guarded by Engine.smu
	next      int          // round-robin shard for the next listener; guarded by Engine.smu
	listeners atomic.Int64 // handed to a shard and not yet removed; raised under Engine.smu
}

// group is the listeners of one program on one shard.
type group struct {
	st   *station
	ls   []*listener
	stop func() // ends the program's notices to the shard
	// head is the program's head when the group was last served; a group
	// whose program has not moved, with nothing blocked or new, is skipped.
	head    uint64
	blocked bool // some socket was full in the last round
	dirty   bool // a listener joined or has input to read
	// lastChange is when a round last found the program moved: an idle
	// program's listeners are probed instead (see idleProbe).
	lastChange time.Time
}

type shard struct {
	e         *Engine
	own       *station // a dedicated shard's station; nil for a pool shard, which serves many programs as long as the engine lives
	mu        sync.Mutex
	incoming  []arrival     // added by place, taken by the shard
	finished  bool          // a dedicated shard ended: no more listeners accepted
	wake      chan struct{} // cap 1: a listener was added, or a program of the shard moved
	groups    []*group      // owned by the shard goroutine
	byStation map[*station]*group
	count     int    // listeners in groups
	rbuf      []byte // client input is read into this and dropped
	// sent counts what this round delivered per Kind; handed to Kind.Sent
	// once per round.
	sent   []sentCount
	batch  batch  // the io_uring path (batch.go)
	inputs inputs // readiness of talking listeners' input (input.go)
	// stops is set when a listener of the shard was stopped (Stop): the
	// shard looks for it at its next turn.
	stops atomic.Bool
}

// arrival is a listener on its way to a shard.
type arrival struct {
	st *station
	l  *listener
}

type sentCount struct{ bytes, chunks int }

// flushSent hands the round's deliveries to the kinds.
func (sh *shard) flushSent() {
	for i, k := range sh.e.kinds {
		if c := &sh.sent[i]; c.chunks > 0 {
			k.Sent(c.bytes, c.chunks)
			*c = sentCount{}
		}
	}
}

// place hands l, a listener of p, to a shard of p's station (starting the
// station, the pool shard or another dedicated shard as needed), and
// returns that shard. It returns nil, having done nothing, once the engine
// is closing: the caller ends l.
func (e *Engine) place(p *program.Program, l *listener) *shard {
	e.smu.Lock()
	defer e.smu.Unlock()
	if e.stations == nil {
		e.stations = make(map[*program.Program]*station)
	}
	st := e.stations[p]
	if st == nil {
		if len(e.pool) < e.cfg.Shards {
			e.pool = append(e.pool, e.startShardLocked(nil))
		}
		st = &station{e: e, p: p, shards: []*shard{e.pool[e.nextPool%len(e.pool)]}}
		e.nextPool++
		e.stations[p] = st
	}
	var sh *shard
	if n := len(st.shards); n < e.cfg.Shards && st.listeners.Load() >= int64(n*e.cfg.ShardListeners) {
		// The new shard takes this listener: a dedicated shard with none
		// would end at once.
		sh = e.startShardLocked(st)
		st.shards = append(st.shards, sh)
	} else {
		sh = st.shards[st.next%len(st.shards)]
		st.next++
	}
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if sh.finished {
		return nil // only a pool shard, and only when the engine closes
	}
	st.listeners.Add(1)
	sh.incoming = append(sh.incoming, arrival{st, l})
	signal(sh.wake)
	return sh
}

// startShardLocked starts a pool shard (own nil) or a dedicated shard of
// own. e.smu must be held, and the caller (Take) holds a count of e.wg, so
// Close waits for it too.
func (e *Engine) startShardLocked(own *station) *shard {
	sh := &shard{
		e: e, own: own, wake: make(chan struct{}, 1), rbuf: make([]byte, shardReadBuf),
		byStation: make(map[*station]*group),
		sent:      make([]sentCount, len(e.kinds)), inputs: inputs{ep: -1},
	}
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		sh.run()
	}()
	return sh
}

func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default: // a wake-up is already pending
	}
}

// takeIncoming moves the arrivals into their groups. A dedicated shard
// with no listener left finishes here (false): it is taken out of its
// station first, under the same locks place takes, so no listener is
// handed to it after.
func (sh *shard) takeIncoming(now time.Time) bool {
	sh.mu.Lock()
	in := sh.incoming
	sh.incoming = nil
	if len(in) == 0 && len(sh.groups) == 0 && sh.own != nil {
		sh.mu.Unlock()
		return !sh.finishDedicated()
	}
	sh.mu.Unlock()
	for _, a := range in {
		g := sh.byStation[a.st]
		if g == nil {
			g = &group{st: a.st, lastChange: now}
			g.stop = a.st.p.Notify(sh.wake)
			sh.byStation[a.st] = g
			sh.groups = append(sh.groups, g)
		}
		a.l.g = g
		g.ls = append(g.ls, a.l)
		sh.count++
		g.dirty = true
		if a.l.in != nil {
			sh.watch(a.l)
		}
	}
	return true
}

// finishDedicated ends a dedicated shard that has no listener, unless one
// has just arrived; it reports whether it ended.
func (sh *shard) finishDedicated() bool {
	e := sh.e
	e.smu.Lock()
	defer e.smu.Unlock()
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if len(sh.incoming) > 0 {
		return false
	}
	sh.finished = true
	if i := slices.Index(sh.own.shards, sh); i >= 0 {
		sh.own.shards = slices.Delete(sh.own.shards, i, i+1)
	}
	return true
}

// run delivers chunks to the shard's listeners until the engine closes or,
// for a dedicated shard, its last listener is gone.
func (sh *shard) run() {
	e := sh.e
	defer sh.closeRing()
	defer sh.closeInputs()
	var retry *time.Timer
	// While a program publishes, a listener that went away shows up as a
	// failed write within two chunks. When it is idle, probe for closed
	// connections instead.
	idle := time.NewTicker(idleProbe)
	defer idle.Stop()
	for {
		now := time.Now()
		if !sh.takeIncoming(now) {
			return
		}
		if sh.stops.Swap(false) {
			sh.removeStopped()
		}
		sh.pollInputs()
		waitRetry := false
		for i := 0; i < len(sh.groups); {
			g := sh.groups[i]
			// Closed before Head: once closed, Head no longer moves, so
			// a closed program's listeners get all of it. A chunk
			// published after Head is read leaves a token in sh.wake.
			closed := g.st.p.Closed()
			head := g.st.p.Head()
			if head != g.head || closed || g.blocked || g.dirty {
				if head != g.head {
					g.lastChange = now
				}
				g.dirty = false
				if sh.useRing() {
					g.blocked = sh.roundBatched(g, head, closed, now)
				} else {
					g.blocked = sh.round(g, head, closed, now)
				}
				g.head = head
			}
			if len(g.ls) == 0 {
				sh.dropGroup(i)
				continue
			}
			// No more chunks will wake us: retry the listeners still
			// taking the end of the program.
			waitRetry = waitRetry || (closed && g.blocked)
			i++
		}
		sh.flushSent()
		var retryC <-chan time.Time
		if waitRetry {
			if retry == nil {
				retry = time.NewTimer(20 * time.Millisecond)
			} else {
				retry.Reset(20 * time.Millisecond)
			}
			retryC = retry.C
		}
		var idleC <-chan time.Time
		if len(sh.groups) > 0 {
			idleC = idle.C
		}
		select {
		case <-sh.wake:
		case <-retryC:
		case now := <-idleC:
			sh.probeIdle(now)
		case <-e.ctx.Done():
			sh.mu.Lock()
			sh.finished = true
			in := sh.incoming
			sh.incoming = nil
			sh.mu.Unlock()
			for _, a := range in {
				// Shutting down: each gets its clean end if it fits.
				sh.end(a.st, a.l, ErrShutdown)
			}
			for len(sh.groups) > 0 {
				g := sh.groups[0]
				for len(g.ls) > 0 {
					sh.remove(g, 0, ErrShutdown)
				}
				sh.dropGroup(0)
			}
			return
		}
	}
}

// probeIdle looks for listeners of idle programs that went away, and
// answers their pings.
func (sh *shard) probeIdle(now time.Time) {
	for _, g := range sh.groups {
		p := g.st.p
		// A chunk the shard has not served yet is news enough.
		if p.Head() != g.head || now.Sub(g.lastChange) < idleAfter {
			continue
		}
		for i := 0; i < len(g.ls); {
			l := g.ls[i]
			if l.in != nil {
				err := sh.readClient(l, now)
				if err == nil && l.in.pong != nil {
					err = sh.deliver(g, l, p.Head(), p.Closed(), now) // the pong, now
				}
				if err != nil && err != errAgain {
					sh.remove(g, i, err)
					continue
				}
			} else if l.gone() {
				sh.remove(g, i, ErrClientGone)
				continue
			}
			i++
		}
	}
}

// dropGroup forgets group i, which has no listener left.
func (sh *shard) dropGroup(i int) {
	g := sh.groups[i]
	g.stop()
	delete(sh.byStation, g.st)
	last := len(sh.groups) - 1
	sh.groups[i] = sh.groups[last]
	sh.groups[last] = nil
	sh.groups = sh.groups[:last]
}

// round brings every listener up to head with one write(2) per piece.
// It returns whether some listener's socket was full.
func (sh *shard) round(g *group, head uint64, closed bool, now time.Time) (blocked bool) {
	for i := 0; i < len(g.ls); {
		l := g.ls[i]
		var err error
		if l.in != nil && now.UnixNano() >= l.nextRead {
			err = sh.readClient(l, now)
		}
		if err == nil {
			err = sh.deliver(g, l, head, closed, now)
		}
		if err == errAgain {
			blocked = true
		}
		if err != nil && err != errAgain {
			sh.remove(g, i, err)
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
func (sh *shard) deliver(g *group, l *listener, head uint64, closed bool, now time.Time) error {
	for {
		b, err := sh.next(g, l, head, closed, now)
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
func (sh *shard) next(g *group, l *listener, head uint64, closed bool, now time.Time) ([]byte, error) {
	e, p := sh.e, g.st.p
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
		if time.Duration(now.UnixNano()-l.progress) > sh.e.cfg.WriteTimeout {
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

// remove ends listener i of g: writes its final bytes for err if it is
// between chunks, closes its connection and tells its handler.
func (sh *shard) remove(g *group, i int, err error) {
	l := g.ls[i]
	last := len(g.ls) - 1
	g.ls[i] = g.ls[last]
	g.ls[last] = nil
	g.ls = g.ls[:last]
	sh.count--
	if l.watched {
		sh.unwatch(l)
	}
	sh.end(g.st, l, err)
}

// end ends l, a listener of st out of its group (or never in one): its
// final bytes and socket (finish), its handler told; the station goes with
// its last listener.
func (sh *shard) end(st *station, l *listener, err error) {
	l.finish(err)
	l.g = nil
	if st.listeners.Add(-1) == 0 {
		sh.e.dropStation(st)
	}
	l.ended(err)
}

// dropStation forgets st if it has no listener (place raises the count
// under the same lock, so none is on its way).
func (e *Engine) dropStation(st *station) {
	e.smu.Lock()
	defer e.smu.Unlock()
	if st.listeners.Load() == 0 && e.stations[st.p] == st {
		delete(e.stations, st.p)
	}
}

// yieldEvery is how many listeners a shard serves between yields.
// shardReadBuf is the size of a shard's buffer for client input.
// clientReadEvery is how often a talking listener's input is read.
const (
	yieldEvery      = 512
	shardReadBuf    = 4 << 10
	clientReadEvery = time.Second
)
