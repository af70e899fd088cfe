package audio

import (
	"errors"
	"testing"

	"majlis/internal/testkit"
)

func TestCodecRoundTrip(t *testing.T) {
	tests := []struct {
		name         string
		encCh, decCh int
		bitrate      int
		freq, amp    float64
	}{
		{"mono 32k", 1, 1, 32000, 440, 0.5},
		{"mono 16k quiet", 1, 1, 16000, 440, 0.1},
		{"stereo 64k", 2, 2, 64000, 440, 0.5},
		{"stereo decoded as mono", 2, 1, 64000, 440, 0.5},
		{"mono decoded as stereo", 1, 2, 32000, 1000, 0.3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			enc, err := NewEncoder(tc.encCh, tc.bitrate)
			if err != nil {
				t.Fatal(err)
			}
			g := tone{freq: tc.freq, amp: tc.amp, channels: tc.encCh}
			var frames [][]byte
			for i := 0; i < 50; i++ {
				buf := make([]byte, MaxPacketBytes)
				n, err := enc.Encode(g.next(FrameSamples), buf)
				if err != nil {
					t.Fatal(err)
				}
				frames = append(frames, buf[:n])
			}
			pcm := concat(decodeFrames(t, tc.decCh, frames)[5:]) // skip codec start-up
			mono := make([]int16, len(pcm)/tc.decCh)
			for i := range mono {
				mono[i] = pcm[i*tc.decCh]
			}
			got := testkit.Goertzel(mono, SampleRate, tc.freq)
			if d := dB(got, tc.amp); d < -2 || d > 2 {
				t.Errorf("level %.3f, want %.3f (%.1f dB off)", got, tc.amp, d)
			}
			for _, f := range []float64{tc.freq / 2, tc.freq * 1.5, tc.freq * 2} {
				if other := testkit.Goertzel(mono, SampleRate, f); other > got/30 {
					t.Errorf("%v Hz at %.4f next to %.4f at %v Hz: frequency not kept", f, other, got, tc.freq)
				}
			}
		})
	}
}

func TestConceal(t *testing.T) {
	enc, _ := NewEncoder(1, 32000)
	dec, _ := NewDecoder(1)
	g := tone{freq: 440, amp: 0.5, channels: 1}
	pcm := make([]int16, FrameSamples)
	for i := 0; i < 10; i++ {
		buf := make([]byte, MaxPacketBytes)
		n, _ := enc.Encode(g.next(FrameSamples), buf)
		if _, err := dec.Decode(buf[:n], pcm); err != nil {
			t.Fatal(err)
		}
	}
	n, err := dec.Conceal(pcm)
	if err != nil || n != FrameSamples {
		t.Fatalf("Conceal = %d, %v", n, err)
	}
	if got := testkit.Goertzel(pcm, SampleRate, 440); got < 0.1 {
		t.Errorf("concealed frame lost the tone: %.3f", got)
	}
	if _, err := dec.Conceal(pcm[:100]); err == nil {
		t.Error("Conceal of 100 samples: want error (not a multiple of 2.5 ms)")
	}
}

func TestNewCodecErrors(t *testing.T) {
	if _, err := NewEncoder(3, 32000); err == nil {
		t.Error("NewEncoder(3): want error")
	}
	if _, err := NewDecoder(0); err == nil {
		t.Error("NewDecoder(0): want error")
	}
}

func TestPacketSamples(t *testing.T) {
	tests := []struct {
		name   string
		packet []byte
		want   int
		err    error
	}{
		{"empty", nil, 0, ErrBadPacket},
		{"CELT 20 ms", []byte{31 << 3, 1}, 960, nil},
		{"CELT 2.5 ms", []byte{16 << 3}, 120, nil},
		{"SILK 60 ms", []byte{3 << 3, 1}, 2880, nil},
		{"hybrid 10 ms x2", []byte{12<<3 | 1, 1}, 960, nil},
		{"SILK 40 ms x3 (code 3)", []byte{2<<3 | 3, 3}, 5760, nil},
		{"code 3 without count", []byte{2<<3 | 3}, 0, ErrBadPacket},
		{"code 3 zero frames", []byte{31<<3 | 3, 0}, 0, ErrBadPacket},
		{"over 120 ms", []byte{3<<3 | 3, 3}, 0, ErrBadPacket},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := PacketSamples(tc.packet)
			if got != tc.want || !errors.Is(err, tc.err) {
				t.Errorf("PacketSamples = %d, %v; want %d, %v", got, err, tc.want, tc.err)
			}
		})
	}
	// Every frame size the encoder produces is read back correctly.
	for _, samples := range []int{120, 240, 480, 960, 1920, 2880} {
		enc, _ := NewEncoder(1, 32000)
		buf := make([]byte, MaxPacketBytes)
		n, err := enc.Encode(make([]int16, samples), buf)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := PacketSamples(buf[:n]); got != samples || err != nil {
			t.Errorf("encoded %d samples, PacketSamples = %d, %v", samples, got, err)
		}
	}
}

func FuzzPacketSamples(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{31 << 3, 1, 2})
	f.Add([]byte{2<<3 | 3, 0x83})
	f.Fuzz(func(t *testing.T, p []byte) {
		n, err := PacketSamples(p)
		if err == nil && (n <= 0 || n > MaxPacketSamples || n%120 != 0) {
			t.Fatalf("PacketSamples(%x) = %d", p, n)
		}
	})
}
