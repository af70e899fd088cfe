package audio

import (
	"sync"
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

// TestClockAlignsIdleMixers: idle mixers (IdleBatch) that joined at
// different moments all end their batches on the grid's multiples of
// MaxBatchFrames, so the workers wake once per 100 ms for all of them;
// each still makes one frame per 20 ms.
func TestClockAlignsIdleMixers(t *testing.T) {
	c := NewClock(2)
	defer c.Close()
	const mixers = 12
	var mu sync.Mutex
	ends := map[int64]int{} // batch end (ms since the epoch, rounded to 20 ms) -> batches
	frames := make([]atomic.Int64, mixers)
	var leaves []func()
	for i := range mixers {
		m, err := NewMixer(MixerConfig{
			Out: func([]byte) { frames[i].Add(1) },
			Batch: func() int {
				at := time.Since(c.epoch)
				mu.Lock()
				ends[int64((at+FrameDuration/2)/FrameDuration)]++
				mu.Unlock()
				return IdleBatch
			},
		})
		if err != nil {
			t.Fatal(err)
		}
		leaves = append(leaves, c.Join(m))
		time.Sleep(7 * time.Millisecond) // spread the joins over the 20 ms grid
	}
	time.Sleep(time.Second)
	for _, leave := range leaves {
		leave()
	}
	mu.Lock()
	defer mu.Unlock()
	off, on := 0, 0
	for frame, n := range ends {
		// Batch is asked as each batch ends, when its last frame is due:
		// the frame before a multiple of MaxBatchFrames (the join's first
		// ask excepted, one per mixer).
		if frame%MaxBatchFrames == MaxBatchFrames-1 {
			on += n
		} else {
			off += n
		}
	}
	if on < mixers*5 || off > mixers {
		t.Errorf("batches asked on the 100 ms grid %d, off it %d (at most %d joins): want the idle mixers aligned", on, off, mixers)
	}
	for i := range frames {
		if f := frames[i].Load(); f < 40 || f > 60 {
			t.Errorf("idle mixer %d made %d frames in about 1 s, want about 50", i, f)
		}
	}
}
