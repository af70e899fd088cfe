package room

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/axiomhq/hyperloglog"

	"majlis/internal/ratelimit"
	"majlis/internal/store"
)

// audienceShards splits the audience's locks so that joins and reactions
// of one room do not queue behind one another.
const audienceShards = 16

// audience is a room's audience-side state: atomics and audience-only
// locks. No stage operation waits on any of them.
type audience struct {
	peak     atomic.Int64
	uniqBase int64 // unique count stored by earlier processes
	uniq     [audienceShards]uniqShard

	hls [audienceShards]hlsShard // HLS listeners: tickets heard from lately (HLSHeartbeat)

	reacts [len(reactionSet)]atomic.Int64 // this interval's aggregate, by reactionSet index
	limits [audienceShards]limitShard     // per-user reaction buckets

	people    listenerSet // signed-in listeners connected now (people.go)
	hlsPeople hlsPeople   // the signed-in HLS players among them

	// flushMu orders counts flushes (ticker, End, Close) and guards last and final.
	flushMu sync.Mutex
	last    Counts
	final   bool // the room ended: its last counts are written
}

// uniqShard counts the distinct listener tickets of a slice of the nonce
// space: exactly, in a set, up to uniqExactPerShard of them, then in a
// HyperLogLog sketch (axiomhq/hyperloglog, precision 14: about 0.8 %
// standard error, at most 16 KiB), so a room's unique count costs bounded
// memory however large its audience (at most 16 × 16 KiB) instead of a set
// that grows with every listener who ever joined.
type uniqShard struct {
	mu   sync.Mutex
	seen map[uint64]struct{} // nil once the shard is a sketch
	hll  *hyperloglog.Sketch
	// n is the shard's count, read without mu: exact while a set; the
	// sketch's estimate as of its last refresh (the ticker's) once a sketch.
	n atomic.Int64
}

// uniqExactPerShard is how many tickets a shard counts exactly (16,384 a
// room) before it turns into a sketch.
const uniqExactPerShard = 1024

// add counts a ticket nonce (under mu). Nonces are random 64-bit values
// from the signer of tickets (a ticket is verified before it counts), so
// they serve as the sketch's hash as they are.
func (u *uniqShard) add(nonce uint64) {
	if u.hll != nil {
		u.hll.InsertHash(nonce)
		return
	}
	if _, seen := u.seen[nonce]; seen {
		return
	}
	u.seen[nonce] = struct{}{}
	u.n.Add(1)
	if len(u.seen) > uniqExactPerShard {
		u.hll = hyperloglog.New14()
		for k := range u.seen {
			u.hll.InsertHash(k)
		}
		u.seen = nil
	}
}

// refresh stores a sketch's estimate in n (the ticker, each second).
func (u *uniqShard) refresh() {
	u.mu.Lock()
	if u.hll != nil {
		u.n.Store(int64(u.hll.Estimate()))
	}
	u.mu.Unlock()
}

// unique is the tickets seen by this process, without a lock.
func (a *audience) unique() int64 {
	var n int64
	for i := range a.uniq {
		n += a.uniq[i].n.Load()
	}
	return n
}

type limitShard struct {
	mu sync.Mutex
	m  map[string]ratelimit.Bucket
}

func (a *audience) init(rec store.Room) {
	a.peak.Store(rec.PeakListeners)
	a.uniqBase = rec.UniqueListeners
	for i := range a.uniq {
		a.uniq[i].seen = make(map[uint64]struct{})
	}
	for i := range a.limits {
		a.limits[i].m = make(map[string]ratelimit.Bucket)
	}
	for i := range a.hls {
		a.hls[i].cur, a.hls[i].prev = make(map[uint64]struct{}), make(map[uint64]struct{})
	}
}

// FleetCounts is a room's audience in other processes (the edges of a
// cluster), as the origin's room service counts it. Both calls are on the
// audience path: they must not block (the cluster's Fleet reads atomics).
type FleetCounts interface {
	// Listeners is the room's listeners connected to edges now.
	Listeners(room string) int64
	// Unique is the room's distinct listener tickets seen by edges since
	// this process started (an estimate).
	Unique(room string) int64
}

// Counts are a room's listener figures.
type Counts struct {
	Listeners int64 `json:"listeners"`
	Peak      int64 `json:"peak"`
	Unique    int64 `json:"unique"`
}

// ListenerJoined records a listener connection (ticket nonce) for the unique count.
func (s *Service) ListenerJoined(id string, nonce uint64) {
	r := s.loaded(id)
	if r == nil {
		return
	}
	// Nonces are random; mix anyway so a patterned source cannot pile onto one shard.
	sh := &r.aud.uniq[(nonce*0x9e3779b97f4a7c15)>>60]
	sh.mu.Lock()
	sh.add(nonce)
	sh.mu.Unlock()
}

// HLS listeners are counted by their players' heartbeats, since behind a
// cache the origin never sees them one by one. A player beats every
// HLSBeat with its join ticket; the count is the number of distinct tickets
// heard in the last hlsInterval (the larger of the current and the previous
// interval, so a listener who leaves is counted at most two intervals
// more). Memory is bounded per room (hlsMaxPerShard tickets a shard); a
// flood of beats of one ticket counts once, and tickets come only from the
// admitted joins.
const (
	HLSBeat        = 10 * time.Second
	hlsInterval    = 3 * HLSBeat / 2
	hlsMaxPerShard = 1 << 16 // 1 M HLS listeners per room
)

type hlsShard struct {
	mu         sync.Mutex
	gen        int64 // the interval cur holds
	cur, prev  map[uint64]struct{}
	curN, prvN int // len(cur), len(prev), readable under mu
	// stat is gen, curN and prvN packed (packHLS), stored under mu and
	// read without it: the counts (in every room view, so in stage
	// commits) never wait on a shard a heartbeat flood holds.
	stat atomic.Uint64
}

// The packing of hlsShard.stat: the interval number modulo 2^30, then the
// two counts in 17 bits each (hlsMaxPerShard bounds their sum).
const (
	hlsGenBits   = 30
	hlsCountBits = 17
	hlsCountMask = 1<<hlsCountBits - 1
	hlsGenMask   = 1<<hlsGenBits - 1
)

func packHLS(gen int64, cur, prev int) uint64 {
	return uint64(gen&hlsGenMask)<<(2*hlsCountBits) | uint64(cur)<<hlsCountBits | uint64(prev)
}

// hlsStat is the shard's counts as of interval g, rotated as rotate would.
func hlsStat(v uint64, g int64) (cur, prev int) {
	gen := int64(v >> (2 * hlsCountBits))
	c, p := int(v>>hlsCountBits&hlsCountMask), int(v&hlsCountMask)
	switch g & hlsGenMask {
	case gen:
		return c, p
	case (gen + 1) & hlsGenMask:
		return 0, c
	}
	return 0, 0
}

// publish stores the shard's counts for lock-free readers (under mu).
func (h *hlsShard) publish() { h.stat.Store(packHLS(h.gen, h.curN, h.prvN)) }

// rotate moves the shard to interval g.
func (h *hlsShard) rotate(g int64) {
	if g <= h.gen {
		return
	}
	if g == h.gen+1 {
		h.prev, h.prvN = h.cur, h.curN
	} else {
		clear(h.prev)
		h.prvN = 0
	}
	h.cur, h.curN = make(map[uint64]struct{}, h.prvN), 0
	h.gen = g
	h.publish()
}

// HLSHeartbeat records a beat of an HLS player holding the ticket nonce in
// live room id. A ticket not heard from in the last two intervals is a new
// session: it is taken only when admitNew (callers refuse new sessions
// while shedding) and while the room has room for it. It reports whether
// the beat was counted; ErrNotLive when the room is not live here.
func (s *Service) HLSHeartbeat(id string, nonce uint64, admitNew bool) (bool, error) {
	r := s.loaded(id)
	if r == nil || r.snap.Load().rec.State != store.StateLive {
		return false, ErrNotLive
	}
	return s.hlsBeat(r, nonce, admitNew, false), nil
}

// HLSRenewed is the first beat of a player that renewed its ticket: old is
// the nonce of the ticket it held before (the caller verified that ticket's
// signature and room, so only its holder names it). The old ticket stops
// counting at once, instead of for up to two intervals beside the new one.
// When old was heard from lately the new ticket continues its session: it
// is taken even while new sessions are refused or the shard is full, and is
// not a new unique listener.
func (s *Service) HLSRenewed(id string, old, nonce uint64, admitNew bool) (bool, error) {
	r := s.loaded(id)
	if r == nil || r.snap.Load().rec.State != store.StateLive {
		return false, ErrNotLive
	}
	if old == nonce {
		return s.hlsBeat(r, nonce, admitNew, false), nil
	}
	sh := r.aud.hlsShard(old)
	sh.mu.Lock()
	sh.rotate(time.Now().UnixNano() / int64(hlsInterval))
	known := sh.forget(old)
	sh.mu.Unlock()
	return s.hlsBeat(r, nonce, admitNew, known), nil
}

func (a *audience) hlsShard(nonce uint64) *hlsShard {
	// Nonces are random; mix anyway so a patterned source cannot pile onto one shard.
	return &a.hls[(nonce*0x9e3779b97f4a7c15)>>60]
}

// forget drops nonce from both intervals and reports whether it was there.
func (h *hlsShard) forget(nonce uint64) bool {
	_, inCur := h.cur[nonce]
	_, inPrev := h.prev[nonce]
	if inCur {
		delete(h.cur, nonce)
		h.curN--
	}
	if inPrev {
		delete(h.prev, nonce)
		h.prvN--
	}
	if inCur || inPrev {
		h.publish()
	}
	return inCur || inPrev
}

// hlsBeat counts a beat of nonce in r; a continuing session (a renewal of a
// ticket heard from lately) is taken as a known one.
func (s *Service) hlsBeat(r *state, nonce uint64, admitNew, continuing bool) bool {
	sh := r.aud.hlsShard(nonce)
	sh.mu.Lock()
	sh.rotate(time.Now().UnixNano() / int64(hlsInterval))
	_, inCur := sh.cur[nonce]
	_, inPrev := sh.prev[nonce]
	if !inCur {
		if !inPrev && !continuing && (!admitNew || sh.curN+sh.prvN >= hlsMaxPerShard) {
			sh.mu.Unlock()
			return false
		}
		sh.cur[nonce] = struct{}{}
		sh.curN++
		sh.publish()
	}
	sh.mu.Unlock()
	if !inCur && !inPrev && !continuing {
		s.ListenerJoined(r.id, nonce) // an HLS listener is a unique listener too
	}
	return true
}

// hlsListeners is the number of HLS players heard from lately. It takes
// no lock (hlsShard.stat).
func (a *audience) hlsListeners() int64 {
	g := time.Now().UnixNano() / int64(hlsInterval)
	var cur, prev int
	for i := range a.hls {
		c, p := hlsStat(a.hls[i].stat.Load(), g)
		cur, prev = cur+c, prev+p
	}
	return int64(max(cur, prev))
}

// Counts returns a loaded room's counts (false when it is not loaded: not
// live in this process and untouched since the start).
func (s *Service) Counts(id string) (Counts, bool) {
	r := s.loaded(id)
	if r == nil {
		return Counts{}, false
	}
	return s.counts(r, r.snap.Load().rec.State == store.StateLive), true
}

// counts reads the room's figures, raising the peak to the current
// listener count (of the media and the fleet's edges, when live). Unique
// is the count stored by earlier processes, plus this process's exact
// count, plus the edges' estimate.
func (s *Service) counts(r *state, live bool) Counts {
	var c Counts
	fleet := s.cfg.Fleet
	if live {
		c.Listeners = s.cfg.Media.Listeners(r.id) + r.aud.hlsListeners()
		if fleet != nil {
			c.Listeners += fleet.Listeners(r.id)
		}
	}
	for {
		p := r.aud.peak.Load()
		if c.Listeners <= p || r.aud.peak.CompareAndSwap(p, c.Listeners) {
			c.Peak = max(p, c.Listeners)
			break
		}
	}
	c.Unique = r.aud.uniqBase + r.aud.unique()
	if fleet != nil {
		c.Unique += fleet.Unique(r.id)
	}
	return c
}

// flushCounts publishes the counts when they changed and writes peak and
// unique to the store when those changed (always when forced). final marks
// the room's last flush (it ended): later flushes do nothing.
func (s *Service) flushCounts(ctx context.Context, r *state, force, final bool) {
	a := &r.aud
	a.flushMu.Lock()
	defer a.flushMu.Unlock()
	if a.final {
		return
	}
	a.final = final
	c := s.counts(r, !final && r.snap.Load().rec.State == store.StateLive)
	if c == a.last && !force {
		return
	}
	if c.Peak != a.last.Peak || c.Unique != a.last.Unique || force {
		if err := s.st.SetRoomCounts(ctx, r.id, c.Peak, c.Unique); err != nil {
			s.log.Error("store counts", "room", r.id, "err", err)
		}
	}
	a.last = c
	r.stream.Publish("counts", c)
}
