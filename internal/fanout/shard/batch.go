package shard

import (
	"errors"
	"math"
	"runtime"
	"syscall"
	"time"

	"majlis/internal/uring"
)

// Batched sends: a shard with many listeners hands its writes to the
// kernel through an io_uring (internal/uring), a batch of non-blocking
// sends per io_uring_enter instead of one write(2) each. Per send this
// halves the CPU on this project's reference machine (a 2-vCPU VM, where a
// system call costs over a microsecond): docs/PERFORMANCE.md. A shard
// without a ring (small audience, a kernel without io_uring, Config.NoURing,
// or a ring that failed) uses write(2) as before; the listener state and
// its rules (next, wrote) are the same either way.

// defaultRingMinListeners is the audience of a shard from which it sets up
// a ring (Config.RingMinListeners): below it the saving is small and a ring
// costs a descriptor and about 30 KB. ringEntries is the most sends per
// io_uring_enter.
const (
	defaultRingMinListeners = 64
	ringEntries             = 128
)

// batch is a shard's ring and its scratch space, reused every round.
type batch struct {
	ring   *uring.Ring
	failed bool // set up failed or the ring broke: write(2) from now on

	fds      []int32
	bufs     [][]byte
	res      []int32
	who      []int32 // index in the group's listeners of each send
	active   []int32 // listeners with more to send in this round
	outcome  []error // per listener: nil caught up, errAgain full, else its end
	toRemove []int32
}

// useRing reports whether this round goes through the ring, setting it up
// when the shard's audience (all its groups) has grown enough.
func (sh *shard) useRing() bool {
	b := &sh.batch
	if b.ring != nil {
		return true
	}
	e := sh.e
	if b.failed || e.cfg.NoURing || e.noRing.Load() || sh.count < e.cfg.RingMinListeners {
		return false
	}
	r, err := uring.New(ringEntries)
	if err != nil {
		b.failed = true
		if errors.Is(err, uring.ErrUnsupported) && !e.noRing.Swap(true) {
			// The kernel has none: no shard of this engine asks again.
			e.cfg.Logger.Warn("shard: io_uring unavailable, writing with write(2)", "err", err)
		} else if !errors.Is(err, uring.ErrUnsupported) {
			e.cfg.Logger.Warn("shard: no io_uring for this shard, writing with write(2)", "err", err)
		}
		return false
	}
	b.ring = r
	return true
}

// closeRing releases the shard's ring (when the shard ends).
func (sh *shard) closeRing() {
	if sh.batch.ring != nil {
		sh.batch.ring.Close()
		sh.batch.ring = nil
	}
}

// roundBatched brings every listener up to head like round, in passes: each
// pass sends one piece (the rest of a chunk, or the next chunk) to every
// listener that has one, through the ring; a listener that completed a
// chunk and still lags goes into the next pass. It returns whether some
// listener's socket was full.
func (sh *shard) roundBatched(g *group, head uint64, closed bool, now time.Time) (blocked bool) {
	b := &sh.batch
	n := len(g.ls)
	b.outcome = growErrs(b.outcome, n)
	b.active = b.active[:0]
	for i, l := range g.ls {
		if l.in != nil && now.UnixNano() >= l.nextRead {
			if err := sh.readClient(l, now); err != nil {
				b.outcome[i] = err
				continue
			}
		}
		b.active = append(b.active, int32(i))
	}
	for len(b.active) > 0 {
		b.fds, b.bufs, b.who = b.fds[:0], b.bufs[:0], b.who[:0]
		for _, i := range b.active {
			l := g.ls[i]
			buf, err := sh.next(g, l, head, closed, now)
			if buf == nil {
				b.outcome[i] = err
				continue
			}
			b.fds = append(b.fds, l.fd)
			b.bufs = append(b.bufs, buf)
			b.who = append(b.who, i)
		}
		b.active = b.active[:0]
		b.res = growInt32(b.res, len(b.who))
		for start := 0; start < len(b.who); start += yieldEvery {
			end := min(start+yieldEvery, len(b.who))
			sh.sendBatch(g, start, end)
			for k := start; k < end; k++ {
				i := b.who[k]
				wn, werr := 0, error(nil)
				switch r := b.res[k]; {
				case r == ringFailed:
					werr = errRing
				case r >= 0:
					wn = int(r)
				default: // -errno: EAGAIN and EINTR mean try again, as for write(2)
					_, werr = sysResult(0, syscall.Errno(-r))
				}
				if err := sh.wrote(g.ls[i], wn, werr, now); err != nil {
					b.outcome[i] = err
				} else {
					b.active = append(b.active, i)
				}
			}
			if end < len(b.who) {
				runtime.Gosched() // let the mixer and others on this P run
			}
		}
	}
	// Remove the ended listeners, highest index first: remove swaps the
	// last listener into the hole, and every later one is already settled.
	b.toRemove = b.toRemove[:0]
	for i := range n {
		switch err := b.outcome[i]; err {
		case nil:
		case errAgain:
			blocked = true
		default:
			b.toRemove = append(b.toRemove, int32(i))
		}
	}
	for k := len(b.toRemove) - 1; k >= 0; k-- {
		i := b.toRemove[k]
		sh.remove(g, int(i), b.outcome[i])
	}
	clear(b.outcome[:n])
	clear(b.bufs[:cap(b.bufs)]) // drop references to chunks
	return blocked
}

// sendBatch sends b.bufs[start:end] and leaves the results in b.res (sized
// by the caller), with
// the ring if the shard has one, else with write(2). If the ring fails
// (never seen: it would take a kernel refusing io_uring_enter) some sends
// of the batch may have happened and others not, so their listeners end
// (errRing: they reconnect) rather than risk a repeated or torn chunk, and
// the shard writes with write(2) from then on.
func (sh *shard) sendBatch(g *group, start, end int) {
	b := &sh.batch
	if b.ring != nil {
		if sh.e.breakRing.Swap(false) {
			b.ring.Close() // as if the kernel had failed the ring
		}
		err := b.ring.Send(b.fds[start:end], b.bufs[start:end], b.res[start:end])
		if err == nil {
			sh.e.ringSends.Add(int64(end - start))
			return
		}
		sh.e.cfg.Logger.Warn("shard: io_uring failed, writing with write(2) from now on", "err", err)
		sh.closeRing()
		b.failed = true
		for k := start; k < end; k++ {
			b.res[k] = ringFailed
		}
		return
	}
	for k := start; k < end; k++ {
		// Results as the ring gives them: bytes written, or -errno.
		n, e := g.ls[b.who[k]].writeRaw(b.bufs[k])
		if e != 0 {
			b.res[k] = -int32(e)
		} else {
			b.res[k] = int32(n)
		}
	}
}

// ringFailed marks a send whose fate is unknown because the ring failed.
const ringFailed = math.MinInt32

// errRing ends a listener whose send was lost with a failed ring.
var errRing = errors.New("io_uring failed under this listener's send")

func growErrs(s []error, n int) []error {
	if cap(s) < n {
		return make([]error, n, n+n/4)
	}
	return s[:n]
}

func growInt32(s []int32, n int) []int32 {
	if cap(s) < n {
		return make([]int32, n, n+n/4)
	}
	return s[:n]
}
