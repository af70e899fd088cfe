package audio

import (
	"math"
	"testing"

	"majlis/internal/testkit"
)

func TestGoertzelAndRMS(t *testing.T) {
	tests := []struct {
		name         string
		freq, amp    float64
		probe        float64
		wantG, wantR float64
	}{
		{"full scale 440 at 440", 440, 1, 440, 1, 1 / math.Sqrt2},
		{"half scale 1000 at 1000", 1000, 0.5, 1000, 0.5, 0.5 / math.Sqrt2},
		{"1000 probed at 440", 1000, 1, 440, 0, 1 / math.Sqrt2},
		{"silence", 440, 0, 440, 0, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g := tone{freq: tc.freq, amp: tc.amp, channels: 1}
			x := g.next(FrameSamples)
			if got := testkit.Goertzel(x, SampleRate, tc.probe); math.Abs(got-tc.wantG) > 0.01 {
				t.Errorf("Goertzel = %.4f, want %.4f", got, tc.wantG)
			}
			if got := RMS(x); math.Abs(got-tc.wantR) > 0.01 {
				t.Errorf("RMS = %.4f, want %.4f", got, tc.wantR)
			}
		})
	}
}

func BenchmarkGoertzel(b *testing.B) {
	x := (&tone{freq: 440, amp: 0.5, channels: 1}).next(FrameSamples)
	b.ReportAllocs()
	for b.Loop() {
		testkit.Goertzel(x, SampleRate, 440)
	}
}
