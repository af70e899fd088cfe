package admission

import (
	"sync"
	"time"
)

// Leases enforces one connection per ticket at a time (in this process): a
// listener endpoint acquires the ticket's nonce for as long as it streams.
// A second connection with the same ticket is refused while the first is
// open; after it closes the ticket can reconnect until it expires.
type Leases struct {
	shards [leaseShards]leaseShard
}

const leaseShards = 32

type leaseShard struct {
	mu sync.Mutex
	m  map[uint64]struct{}
}

// NewLeases returns an empty lease table.
func NewLeases() *Leases {
	l := &Leases{}
	for i := range l.shards {
		l.shards[i].m = make(map[uint64]struct{})
	}
	return l
}

// Acquire takes the lease of nonce; ok is false when it is held. release must
// be called exactly once when the connection ends.
func (l *Leases) Acquire(nonce uint64) (release func(), ok bool) {
	sh := &l.shards[nonce%leaseShards]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if _, held := sh.m[nonce]; held {
		return nil, false
	}
	sh.m[nonce] = struct{}{}
	return func() {
		sh.mu.Lock()
		delete(sh.m, nonce)
		sh.mu.Unlock()
	}, true
}

// Len is the number of leases held.
func (l *Leases) Len() int {
	n := 0
	for i := range l.shards {
		l.shards[i].mu.Lock()
		n += len(l.shards[i].m)
		l.shards[i].mu.Unlock()
	}
	return n
}

// onceSet remembers ids for at least span: it makes signed tokens
// single-use for as long as they are valid. Two generations rotate every
// span (no sweeping of a big map under the lock); memory is bounded by max
// ids per generation: when full it refuses (fails closed: a replay is never
// accepted, a legitimate client gets a fresh challenge or turn).
type onceSet struct {
	mu        sync.Mutex
	cur, prev map[uint64]struct{}
	rotated   int64 // unix nanos
	span      int64
	max       int
}

func newOnceSet(max int, span time.Duration) *onceSet {
	return &onceSet{cur: make(map[uint64]struct{}), prev: make(map[uint64]struct{}), max: max, span: int64(span)}
}

// use records id (valid until at most now+span) and reports whether it was new.
func (s *onceSet) use(id uint64, now int64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if since := now - s.rotated; since >= s.span {
		s.prev, s.cur, s.rotated = s.cur, make(map[uint64]struct{}), now
		if since >= 2*s.span { // the old current generation is older than span too
			clear(s.prev)
		}
	}
	if _, seen := s.cur[id]; seen {
		return false
	}
	if _, seen := s.prev[id]; seen || len(s.cur) >= s.max {
		return false
	}
	s.cur[id] = struct{}{}
	return true
}

// seen reports whether id was used (within the last span at least), recording nothing.
func (s *onceSet) seen(id uint64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, inCur := s.cur[id]
	_, inPrev := s.prev[id]
	return inCur || inPrev
}
