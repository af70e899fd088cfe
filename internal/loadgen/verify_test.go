package loadgen

import (
	"math"
	"testing"
	"time"
)

// feed simulates chunks of chunk duration arriving from t0 with the given
// delivery: at(i) is when chunk i arrives, skip(i) its media offset shift.
func feed(v *Verifier, t0 time.Time, chunk time.Duration, n int, at func(i int) time.Duration, shift func(i int) int64) time.Time {
	cs := int64(chunk.Seconds() * SampleRate)
	var last time.Time
	for i := range n {
		from := int64(i)*cs + shift(i)
		last = t0.Add(at(i))
		v.Observe(last, from, from+cs)
	}
	return last
}

func TestVerifier(t *testing.T) {
	t0 := time.Unix(1000, 0)
	const chunk = 200 * time.Millisecond
	none := func(int) int64 { return 0 }
	onTime := func(i int) time.Duration { return 50*time.Millisecond + time.Duration(i)*chunk }
	for _, tc := range []struct {
		name       string
		at         func(i int) time.Duration
		shift      func(i int) int64
		endAfter   time.Duration // run end after the last arrival
		stalls     int
		gaps       int
		rateOK     bool
		ttfbMillis float64
	}{
		{"real time", onTime, none, 100 * time.Millisecond, 0, 0, true, 50},
		{"jitter within tolerance", func(i int) time.Duration {
			return onTime(i) + time.Duration(i%3)*300*time.Millisecond
		}, none, 0, 0, 0, true, 50},
		{"one long pause", func(i int) time.Duration {
			d := onTime(i)
			if i >= 50 {
				d += 3 * time.Second
			}
			return d
		}, none, 0, 1, 0, false, 50},
		{"slow stream (90%)", func(i int) time.Duration {
			return onTime(i) * 10 / 9
		}, none, 0, 2, 0, false, 55.5},
		{"stopped before the end", onTime, none, 5 * time.Second, 1, 0, true, 50},
		{"skip forward", onTime, func(i int) int64 {
			if i >= 60 {
				return SampleRate // one second of audio lost
			}
			return 0
		}, 0, 0, 1, false, 50},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := NewVerifier(t0, time.Second)
			last := feed(v, t0, chunk, 100, tc.at, tc.shift)
			r := v.Finish(last.Add(tc.endAfter))
			if !r.Audio || r.Stalls != tc.stalls || r.Gaps != tc.gaps || (r.Rate >= MinRate) != tc.rateOK && tc.gaps == 0 || math.Abs(r.TTFBms-tc.ttfbMillis) > 0.1 {
				t.Fatalf("got %+v, want %d stalls %d gaps rate ok %v ttfb %v ms", r, tc.stalls, tc.gaps, tc.rateOK, tc.ttfbMillis)
			}
		})
	}
}

func TestVerifierNoAudio(t *testing.T) {
	v := NewVerifier(time.Now(), 0)
	if r := v.Finish(time.Now()); r.Audio || r.Rate != 0 {
		t.Fatalf("no audio: got %+v", r)
	}
}

func TestValidateLoopbackOnly(t *testing.T) {
	good := Config{Origin: "http://127.0.0.1:8080", Room: "r", Listeners: 10, Proto: "ogg", Duration: Duration(time.Minute)}
	if err := good.Validate(); err != nil {
		t.Fatal(err)
	}
	for name, mut := range map[string]func(c *Config){
		"remote origin":   func(c *Config) { c.Origin = "http://10.0.0.1:8080" },
		"hostname":        func(c *Config) { c.Origin = "http://example.com" },
		"remote edge":     func(c *Config) { c.ListenAt = []string{"http://192.168.1.2:8080"} },
		"remote source":   func(c *Config) { c.Sources = []string{"10.0.0.2"} },
		"too many":        func(c *Config) { c.Listeners = MaxListeners + 1 },
		"too long":        func(c *Config) { c.Duration = Duration(MaxDuration + time.Second) },
		"unbounded":       func(c *Config) { c.Duration = 0 },
		"https":           func(c *Config) { c.Origin = "https://127.0.0.1:8443" },
		"unknown proto":   func(c *Config) { c.Proto = "hls" },
		"room with slash": func(c *Config) { c.Room = "../x" },
	} {
		c := good
		mut(&c)
		if err := c.Validate(); err == nil {
			t.Errorf("%s: accepted %+v", name, c)
		}
	}
}
