package audio

import (
	"sync/atomic"
	"testing"
	"time"
)

// TestClockTicksManyMixers: mixers on a two-worker clock each produce one
// frame per 20 ms on their own schedule, in the batches they ask for, and
// none after they left.
func TestClockTicksManyMixers(t *testing.T) {
	c := NewClock(2)
	defer c.Close()
	const mixers = 40
	type counted struct {
		frames, batches atomic.Int64
		leave           func()
	}
	ms := make([]*counted, mixers)
	start := time.Now()
	for i := range ms {
		cm := &counted{}
		batch := 1 + i%MaxBatchFrames
		m, err := NewMixer(MixerConfig{
			Out:   func([]byte) { cm.frames.Add(1) },
			Batch: func() int { cm.batches.Add(1); return batch },
		})
		if err != nil {
			t.Fatal(err)
		}
		ms[i] = cm
		cm.leave = c.Join(m)
	}
	// Wait on the slowest: every mixer past 50 frames (a second of program).
	deadline := time.Now().Add(10 * time.Second)
	for i := 0; i < mixers; {
		if ms[i].frames.Load() >= 50 {
			i++
			continue
		}
		if time.Now().After(deadline) {
			t.Fatalf("mixer %d made %d frames in 10 s", i, ms[i].frames.Load())
		}
		time.Sleep(10 * time.Millisecond)
	}
	for _, cm := range ms {
		cm.leave()
	}
	elapsed := time.Since(start)
	// A mixer is never ahead of real time: at most the frames due by now
	// (plus the batch under way, which runs when its last frame is due).
	due := int64(elapsed/FrameDuration) + 1
	for i, cm := range ms {
		f, b := cm.frames.Load(), cm.batches.Load()
		if f > due {
			t.Errorf("mixer %d: %d frames in %v, ahead of the %d due", i, f, elapsed, due)
		}
		// Each batch is asked for once and ticked whole: frames/batch is its size.
		if want := int64(1 + i%MaxBatchFrames); b < 2 || f < (b-1)*want || f > b*want {
			t.Errorf("mixer %d: %d frames in %d batches of %d", i, f, b, want)
		}
	}
	after := make([]int64, mixers)
	for i, cm := range ms {
		after[i] = cm.frames.Load()
	}
	time.Sleep(10 * FrameDuration)
	for i, cm := range ms {
		if n := cm.frames.Load(); n != after[i] {
			t.Errorf("mixer %d ticked %d times after it left", i, n-after[i])
		}
	}
}
