// Package backoff is how majlis clients (the load generator, the attack
// simulator's well-behaved joiners, tools) wait before retrying: exponential
// backoff with full jitter (a uniform delay in [0, min(Max, Base·2^attempt)),
// so a crowd refused at once comes back spread out), never sooner than the
// server's Retry-After.
package backoff

import (
	"math/rand/v2"
	"net/http"
	"strconv"
	"time"
)

// Policy is a full-jitter exponential backoff.
type Policy struct {
	Base time.Duration // first ceiling (0: 250 ms)
	Max  time.Duration // largest ceiling (0: 30 s)
}

// Delay is a full-jitter delay for attempt (0 for the first retry).
func (p Policy) Delay(attempt int) time.Duration {
	base, ceil := p.Base, p.Max
	if base <= 0 {
		base = 250 * time.Millisecond
	}
	if ceil <= 0 {
		ceil = 30 * time.Second
	}
	d := base
	for i := 0; i < attempt && d < ceil; i++ {
		d *= 2
	}
	d = min(d, ceil)
	return time.Duration(rand.Int64N(int64(d) + 1))
}

// Next is the delay before retrying after resp (nil after a network error):
// the server's Retry-After when it gives one, plus up to one Base of jitter
// so a queue's turns are not met by a synchronized herd; otherwise Delay(attempt).
func (p Policy) Next(attempt int, resp *http.Response) time.Duration {
	if resp != nil {
		if ra, ok := RetryAfter(resp.Header, time.Now()); ok {
			base := p.Base
			if base <= 0 {
				base = 250 * time.Millisecond
			}
			return ra + time.Duration(rand.Int64N(int64(base)+1))
		}
	}
	return p.Delay(attempt)
}

// RetryAfter parses a Retry-After header: delay-seconds or an HTTP-date (RFC 9110 §10.2.3).
func RetryAfter(h http.Header, now time.Time) (time.Duration, bool) {
	v := h.Get("Retry-After")
	if v == "" {
		return 0, false
	}
	if s, err := strconv.Atoi(v); err == nil {
		if s < 0 {
			return 0, false
		}
		return time.Duration(s) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(t.Sub(now), 0), true
	}
	return 0, false
}

// Sleep waits d or until ctx-like done closes; it reports whether it waited the whole time.
func Sleep(done <-chan struct{}, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-done:
		return false
	}
}
