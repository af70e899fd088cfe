package admission

import (
	"net/netip"
	"sync"
	"time"

	"majlis/internal/ratelimit"
)

// Rate is a token bucket's refill rate and depth (the process's one token bucket, internal/ratelimit).
type Rate = ratelimit.Rate

// LimiterConfig sets the buckets of a Limiter. A zero Rate disables that level.
type LimiterConfig struct {
	PerIP     Rate // one bucket per source address
	PerPrefix Rate // one bucket per IPv4 /24 or IPv6 /48
	// MaxEntries bounds the memory held (buckets across both levels); 0 means 1<<20.
	MaxEntries int
	Now        func() time.Time // tests
}

// Limiter is a pair of token-bucket levels keyed by source address and by its
// network prefix: a request passes only when both buckets of its address have
// a token. It is safe for concurrent use and costs one map lookup per level
// under a sharded lock; memory is bounded by MaxEntries (full buckets are
// forgotten first, since a fresh bucket is full anyway).
//
// Join and reactions each use their own Limiter: callers hold one per
// action they want to limit, e.g. limiter.Allow(addr).
type Limiter struct {
	cfg      LimiterConfig
	perShard int
	shards   [limShards]limShard
}

const limShards = 64

type limShard struct {
	mu sync.Mutex
	m  map[netip.Prefix]*ratelimit.Bucket
}

// NewLimiter returns a limiter with cfg.
func NewLimiter(cfg LimiterConfig) *Limiter {
	if cfg.MaxEntries <= 0 {
		cfg.MaxEntries = 1 << 20
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	l := &Limiter{cfg: cfg, perShard: max(cfg.MaxEntries/limShards, 16)}
	for i := range l.shards {
		l.shards[i].m = make(map[netip.Prefix]*ratelimit.Bucket)
	}
	return l
}

// PrefixOf is the network an address is limited with: /24 for IPv4, /48 for IPv6.
func PrefixOf(a netip.Addr) netip.Prefix {
	a = a.Unmap()
	bits := 48
	if a.Is4() {
		bits = 24
	}
	p, _ := a.Prefix(bits)
	return p
}

// Allow takes a token from the address's buckets, reporting whether it could;
// when not, retry says when a token will be there.
func (l *Limiter) Allow(a netip.Addr) (ok bool, retry time.Duration) {
	if !a.IsValid() {
		return true, 0
	}
	a = a.Unmap()
	now := l.cfg.Now()
	// Check both before taking from either, so a refused request costs nothing.
	if ok, retry := l.peek(a, now); !ok {
		return false, retry
	}
	if l.cfg.PerIP.PerSecond > 0 {
		l.take(netip.PrefixFrom(a, a.BitLen()), l.cfg.PerIP, now, true)
	}
	if l.cfg.PerPrefix.PerSecond > 0 {
		l.take(PrefixOf(a), l.cfg.PerPrefix, now, true)
	}
	return true, 0
}

// Peek reports whether Allow would pass now, taking nothing: a caller that
// counts failures (Allow after each one) asks it before doing the work that
// may fail.
func (l *Limiter) Peek(a netip.Addr) (ok bool, retry time.Duration) {
	if !a.IsValid() {
		return true, 0
	}
	return l.peek(a.Unmap(), l.cfg.Now())
}

func (l *Limiter) peek(a netip.Addr, now time.Time) (bool, time.Duration) {
	var r1, r2 time.Duration
	ok1, ok2 := true, true
	if l.cfg.PerIP.PerSecond > 0 {
		ok1, r1 = l.take(netip.PrefixFrom(a, a.BitLen()), l.cfg.PerIP, now, false)
	}
	if l.cfg.PerPrefix.PerSecond > 0 {
		ok2, r2 = l.take(PrefixOf(a), l.cfg.PerPrefix, now, false)
	}
	if !ok1 || !ok2 {
		return false, max(r1, r2)
	}
	return true, 0
}

func shardOf(p netip.Prefix) int {
	b := p.Addr().As16()
	h := uint32(2166136261)
	for _, c := range b {
		h = (h ^ uint32(c)) * 16777619
	}
	h = (h ^ uint32(p.Bits())) * 16777619
	return int(h % limShards)
}

func (l *Limiter) take(key netip.Prefix, r Rate, now time.Time, commit bool) (bool, time.Duration) {
	sh := &l.shards[shardOf(key)]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	b := sh.m[key]
	if b == nil {
		if !commit {
			return r.Burst >= 1, 0
		}
		if len(sh.m) >= l.perShard {
			l.evict(sh, now)
		}
		b = &ratelimit.Bucket{}
		sh.m[key] = b
	}
	if !commit {
		return b.Peek(r, now)
	}
	return b.Take(r, now)
}

// evict forgets buckets that have refilled (they equal a fresh one); if none
// has, it drops half the shard: under a flood of distinct addresses the
// prefix level still holds them back.
func (l *Limiter) evict(sh *limShard, now time.Time) {
	for k, b := range sh.m {
		r := l.cfg.PerIP
		if k.Bits() != k.Addr().BitLen() {
			r = l.cfg.PerPrefix
		}
		if b.Full(r, now) {
			delete(sh.m, k)
		}
	}
	if len(sh.m) < l.perShard*3/4 {
		return
	}
	n := len(sh.m) / 2
	for k := range sh.m {
		if n == 0 {
			break
		}
		delete(sh.m, k)
		n--
	}
}

// Len is the number of buckets held.
func (l *Limiter) Len() int {
	n := 0
	for i := range l.shards {
		l.shards[i].mu.Lock()
		n += len(l.shards[i].m)
		l.shards[i].mu.Unlock()
	}
	return n
}
