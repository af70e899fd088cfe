// Package ratelimit is majlis's one token bucket. Every limit in the
// process (joins and reactions per address, logins, accept pacing, a
// WebSocket listener's input, a user's reactions) is a Bucket refilled at a
// Rate.
//
// A Bucket is 16 bytes with no lock and no pointer, so it can sit inside
// per-listener state, in a map, or behind the caller's own lock; the zero
// Bucket is full.
package ratelimit

import (
	"math"
	"time"
)

// Rate is a bucket's refill rate (tokens per second) and depth.
type Rate struct {
	PerSecond float64
	Burst     float64
}

// Bucket is one token bucket's state. It is not safe for concurrent use:
// the caller guards it. The zero Bucket is full.
type Bucket struct {
	deficit float64 // tokens taken and not yet refilled, 0..Burst (or more, after Wait)
	last    int64   // unix nanoseconds of the last refill
}

// refill returns the deficit at now (never below zero).
func (b *Bucket) refill(r Rate, now int64) float64 {
	if b.deficit <= 0 {
		return 0
	}
	d := b.deficit - float64(now-b.last)/1e9*r.PerSecond
	return math.Max(d, 0)
}

// Peek reports whether a token is there at now without taking it; when not,
// retry says when one will be.
func (b *Bucket) Peek(r Rate, now time.Time) (ok bool, retry time.Duration) {
	d := b.refill(r, now.UnixNano())
	avail := r.Burst - d
	if avail >= 1 {
		return true, 0
	}
	if r.PerSecond <= 0 {
		return false, time.Duration(math.MaxInt64)
	}
	return false, time.Duration((1 - avail) / r.PerSecond * 1e9)
}

// Take takes a token at now if there is one; when not, it takes nothing and
// retry says when a token will be there.
func (b *Bucket) Take(r Rate, now time.Time) (ok bool, retry time.Duration) {
	if ok, retry = b.Peek(r, now); !ok {
		return false, retry
	}
	n := now.UnixNano()
	b.deficit, b.last = b.refill(r, n)+1, n
	return true, 0
}

// Wait always takes a token, going into debt when the bucket is empty, and
// returns how long the caller must wait before acting on it (a pacer: the
// accept loop sleeps that long).
func (b *Bucket) Wait(r Rate, now time.Time) time.Duration {
	n := now.UnixNano()
	d := b.refill(r, n) + 1
	b.deficit, b.last = d, n
	if over := d - r.Burst; over > 0 && r.PerSecond > 0 {
		return time.Duration(over / r.PerSecond * 1e9)
	}
	return 0
}

// Full reports whether the bucket has refilled to its depth at now (it then
// equals a fresh one and can be forgotten).
func (b *Bucket) Full(r Rate, now time.Time) bool { return b.refill(r, now.UnixNano()) == 0 }

// Tokens is the number of tokens there at now.
func (b *Bucket) Tokens(r Rate, now time.Time) float64 { return r.Burst - b.refill(r, now.UnixNano()) }
