package room

import (
	"context"
	"hash/maphash"
	"slices"
	"time"

	"majlis/internal/ratelimit"
)

// reactionSet is the allowed set of reaction emoji.
var reactionSet = [...]string{"👏", "❤️", "😂", "🔥", "💯", "🙏", "👍", "😮"}

// Reactions returns the allowed set of reaction emoji, in display order.
func Reactions() []string { return slices.Clone(reactionSet[:]) }

// React counts one reaction; the aggregate goes out once per interval. It
// reads the room's snapshot and takes only audience locks: a reaction never
// waits on the stage.
func (s *Service) React(ctx context.Context, a Actor, id, emoji string) error {
	e := slices.Index(reactionSet[:], emoji)
	if e < 0 {
		return ErrBadEmoji
	}
	r, err := s.get(ctx, id)
	if err != nil {
		return err
	}
	snap := r.snap.Load()
	if err := requireLive(snap.rec.State); err != nil {
		return err
	}
	if a.Suspended {
		return ErrSuspended
	}
	if _, b := snap.blocked[a.ID]; b {
		return ErrBlocked
	}
	sh := &r.aud.limits[maphash.String(s.seed, a.ID)%audienceShards]
	sh.mu.Lock()
	b := sh.m[a.ID] // the zero bucket is full
	ok, _ := b.Take(s.rate, time.Now())
	if ok {
		sh.m[a.ID] = b
	}
	sh.mu.Unlock()
	if !ok {
		return ErrRateLimited
	}
	r.aud.reacts[e].Add(1)
	return nil
}

// takeReactions returns and resets the interval's aggregate (nil when empty).
func (a *audience) takeReactions() map[string]int {
	var m map[string]int
	for i := range a.reacts {
		if n := a.reacts[i].Swap(0); n > 0 {
			if m == nil {
				m = make(map[string]int)
			}
			m[reactionSet[i]] = int(n)
		}
	}
	return m
}

// forgetFullBuckets drops the reaction buckets that have refilled: a new
// zero bucket is the same.
func (a *audience) forgetFullBuckets(rate ratelimit.Rate, now time.Time) {
	for i := range a.limits {
		sh := &a.limits[i]
		sh.mu.Lock()
		for u, b := range sh.m {
			if b.Full(rate, now) {
				delete(sh.m, u)
			}
		}
		sh.mu.Unlock()
	}
}
