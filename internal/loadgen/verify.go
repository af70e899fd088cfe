package loadgen

import "time"

// SampleRate is the media clock of the program (48 kHz, as Opus and Ogg count).
const SampleRate = 48000

// Verifier checks one listener's stream as a player would play it. The
// player starts at the first audio it receives and plays in real time; a
// stall is a moment when it would have run out of audio for longer than
// Tolerance (its jitter buffer). After a stall the player resumes with the
// next audio, as real players do.
//
// Observe must be called in arrival order from one goroutine.
type Verifier struct {
	// Tolerance is how far arrivals may lag the real-time schedule before a
	// stall is counted: the player's buffer. Zero means DefaultTolerance.
	Tolerance time.Duration

	start     time.Time // connect began (for time to first byte)
	first     time.Time // first audio arrival
	last      time.Time // last audio arrival
	base      time.Time // playback clock origin: play position p0 at base
	p0        int64     // media sample playing at base
	firstEnd  int64     // media end of the first arrival
	end       int64     // media end received so far
	got       bool
	stalls    int
	gaps      int
	stallTime time.Duration
	samples   int64     // media samples received
	markTime  time.Time // first arrival at least rateSettle after the first: the rate window starts here
	markEnd   int64
}

// rateSettle keeps the pre-roll burst at connect out of the measured rate.
const rateSettle = time.Second

// DefaultTolerance is the player buffer assumed by Verifier: 1 s, generous
// for live listening but far below what a stuck listener would show.
const DefaultTolerance = time.Second

// NewVerifier starts verifying a listener whose connection attempt began at start.
func NewVerifier(start time.Time, tolerance time.Duration) *Verifier {
	if tolerance <= 0 {
		tolerance = DefaultTolerance
	}
	return &Verifier{start: start, Tolerance: tolerance}
}

// Observe records that at time now the listener received the media samples
// [from, to) (48 kHz program positions).
func (v *Verifier) Observe(now time.Time, from, to int64) {
	if to <= from {
		return
	}
	if !v.got {
		v.got = true
		v.first, v.last, v.base = now, now, now
		v.p0, v.firstEnd, v.end = from, to, to
		v.samples = to - from
		return
	}
	v.check(now)
	if from != v.end {
		v.gaps++
		// A skip forward: the player jumps to the new audio.
		if from > v.end {
			v.p0 += from - v.end
		}
	}
	v.samples += to - from
	v.end = max(v.end, to)
	v.last = now
	if v.markTime.IsZero() && now.Sub(v.first) >= rateSettle {
		v.markTime, v.markEnd = now, v.end
	}
}

// check counts a stall when, at now, the player would have played past the
// received audio by more than Tolerance; the player then pauses until now.
func (v *Verifier) check(now time.Time) {
	playing := v.p0 + int64(now.Sub(v.base).Seconds()*SampleRate)
	deficit := time.Duration(float64(playing-v.end) / SampleRate * float64(time.Second))
	if deficit > v.Tolerance {
		v.stalls++
		v.stallTime += deficit
		// Resume: the audio received so far plays from now on.
		v.base, v.p0 = now, v.end
	}
}

// Result is one listener's verdict.
type Result struct {
	Proto   string  `json:"proto"`
	Err     string  `json:"err,omitempty"`    // why it failed or ended early
	Joined  bool    `json:"joined"`           // got a ticket and connected
	Audio   bool    `json:"audio"`            // received audio
	TTFBms  float64 `json:"ttfb_ms"`          // start of join to first audio byte
	Seconds float64 `json:"seconds"`          // wall time from first audio to the end of the run
	Media   float64 `json:"media_s"`          // media seconds received
	Rate    float64 `json:"rate"`             // media rate after the first arrival (1 = real time)
	Stalls  int     `json:"stalls"`           // player stalls beyond the tolerance
	StallMS float64 `json:"stall_ms"`         // total stalled time
	Gaps    int     `json:"gaps"`             // media discontinuities (skips)
	Bytes   int64   `json:"bytes"`            // bytes read after the handshake
	Remote  string  `json:"remote,omitempty"` // listen URL host (origin or edge)
	// Reconnects is how many times the listener joined again after its
	// stream broke (Config.Reconnect); the other fields are its last stream's.
	Reconnects int `json:"reconnects,omitempty"`
}

// Finish closes the verification at time end (the end of the run or of the
// stream) and returns the verdict. A stream that stopped delivering before
// end counts as stalled.
func (v *Verifier) Finish(end time.Time) Result {
	var r Result
	if !v.got {
		return r
	}
	v.check(end)
	r.Audio = true
	r.TTFBms = float64(v.first.Sub(v.start)) / float64(time.Millisecond)
	r.Seconds = end.Sub(v.first).Seconds()
	r.Media = float64(v.samples) / SampleRate
	// The rate leaves out the first second (the pre-roll arrives in a
	// burst) and is measured up to the last arrival, so chunking does not
	// bias it; a stream that stopped early shows as stalls instead.
	if d := v.last.Sub(v.markTime).Seconds(); !v.markTime.IsZero() && d > 0 {
		r.Rate = float64(v.end-v.markEnd) / SampleRate / d
	} else if d := v.last.Sub(v.first).Seconds(); d > 0 {
		r.Rate = float64(v.end-v.firstEnd) / SampleRate / d
	}
	r.Stalls = v.stalls
	r.StallMS = float64(v.stallTime) / float64(time.Millisecond)
	r.Gaps = v.gaps
	return r
}
