package audio

import "math"

const (
	// limitCeiling is where the limiter holds peaks: about -1 dBFS, leaving
	// headroom for the Opus encoder's own overshoot.
	limitCeiling = 0.89 * 32767
	// limitRelease is how fast gain recovers after a peak. Attack is
	// instant (the envelope jumps to any higher peak), so no sample passes
	// the ceiling and no look-ahead is needed; the slow release keeps the
	// gain from following individual waveform cycles, which would distort.
	limitRelease = 200e-3 // seconds, time constant
)

// limiter is a peak limiter with stereo-linked gain. It is owned by the
// mixer goroutine.
type limiter struct {
	channels int
	decay    float32 // per-sample envelope decay factor
	frameDec float32 // decay over a frame (FrameSamples samples)
	env      float32 // current peak envelope, in int16 units
}

func newLimiter(channels int) limiter {
	return limiter{
		channels: channels,
		decay:    float32(math.Exp(-1 / (limitRelease * SampleRate))),
		frameDec: float32(math.Exp(-FrameSamples / (limitRelease * SampleRate))),
		env:      limitCeiling,
	}
}

// process scales the int32 mix in into out so that no sample exceeds the
// ceiling. The final clamp is a last resort and does not trigger in
// practice: the envelope is always at least the current peak.
func (l *limiter) process(in []int32, out []int16) {
	env := l.env
	for i := 0; i+l.channels <= len(in); i += l.channels {
		var peak int32
		for c := 0; c < l.channels; c++ {
			v := in[i+c]
			if v < 0 {
				v = -v
			}
			peak = max(peak, v)
		}
		env = max(float32(peak), env*l.decay)
		gain := float32(1)
		if env > limitCeiling {
			gain = limitCeiling / env
		}
		for c := 0; c < l.channels; c++ {
			v := float32(in[i+c]) * gain
			v = min(max(v, -32768), 32767)
			out[i+c] = int16(v)
		}
	}
	// Keep the envelope above the ceiling floor so it does not decay
	// towards zero in silence (which would only cost denormal arithmetic).
	l.env = max(env, limitCeiling)
}

// silence is process for a frame of digital silence, whose output is
// silence whatever the gain: only the envelope's release goes on.
func (l *limiter) silence() { l.env = max(l.env*l.frameDec, limitCeiling) }
