package room

import (
	"context"
	"sync"
	"sync/atomic"

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
	uniqBase int64        // unique count stored by earlier processes
	uniqN    atomic.Int64 // listener tickets seen by this process
	uniq     [audienceShards]uniqShard

	reacts [len(reactionSet)]atomic.Int64 // this interval's aggregate, by reactionSet index
	limits [audienceShards]limitShard     // per-user reaction buckets

	// flushMu orders counts flushes (ticker, End, Close) and guards last and final.
	flushMu sync.Mutex
	last    Counts
	final   bool // the room ended: its last counts are written
}

type uniqShard struct {
	mu   sync.Mutex
	seen map[uint64]struct{}
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
	_, seen := sh.seen[nonce]
	if !seen {
		sh.seen[nonce] = struct{}{}
	}
	sh.mu.Unlock()
	if !seen {
		r.aud.uniqN.Add(1)
	}
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
		c.Listeners = s.cfg.Media.Listeners(r.id)
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
	c.Unique = r.aud.uniqBase + r.aud.uniqN.Load()
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
