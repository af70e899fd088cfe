package backoff

import (
	"net/http"
	"testing"
	"time"
)

func TestDelayFullJitter(t *testing.T) {
	p := Policy{Base: 100 * time.Millisecond, Max: time.Second}
	for attempt, ceil := range []time.Duration{100, 200, 400, 800, 1000, 1000} {
		ceil *= time.Millisecond
		var maxSeen time.Duration
		for range 2000 {
			d := p.Delay(attempt)
			if d < 0 || d > ceil {
				t.Fatalf("attempt %d: delay %v outside [0, %v]", attempt, d, ceil)
			}
			maxSeen = max(maxSeen, d)
		}
		if maxSeen < ceil*8/10 { // full jitter spreads over the whole range
			t.Fatalf("attempt %d: max delay %v of ceiling %v", attempt, maxSeen, ceil)
		}
	}
}

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	cases := []struct {
		v    string
		want time.Duration
		ok   bool
	}{
		{"", 0, false},
		{"3", 3 * time.Second, true},
		{"-1", 0, false},
		{"soon", 0, false},
		{now.Add(5 * time.Second).Format(http.TimeFormat), 5 * time.Second, true},
		{now.Add(-5 * time.Second).Format(http.TimeFormat), 0, true},
	}
	for _, c := range cases {
		h := http.Header{}
		if c.v != "" {
			h.Set("Retry-After", c.v)
		}
		got, ok := RetryAfter(h, now)
		if got != c.want || ok != c.ok {
			t.Errorf("Retry-After %q = %v %v, want %v %v", c.v, got, ok, c.want, c.ok)
		}
	}
	p := Policy{Base: 50 * time.Millisecond}
	resp := &http.Response{Header: http.Header{"Retry-After": {"2"}}}
	for range 100 {
		if d := p.Next(5, resp); d < 2*time.Second || d > 2*time.Second+50*time.Millisecond {
			t.Fatalf("Next with Retry-After 2 = %v", d)
		}
	}
}
