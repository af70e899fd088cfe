package audio

import (
	"math"
	"testing"
)

// tone generates a phase-continuous sine, the same on every channel.
type tone struct {
	freq, amp float64 // amp is 0..1 of full scale
	channels  int
	phase     float64
}

func (g *tone) next(samples int) []int16 {
	out := make([]int16, samples*g.channels)
	step := 2 * math.Pi * g.freq / SampleRate
	for i := 0; i < samples; i++ {
		v := int16(math.Round(g.amp * 32767 * math.Sin(g.phase)))
		for c := 0; c < g.channels; c++ {
			out[i*g.channels+c] = v
		}
		g.phase += step
	}
	return out
}

// speaker produces RTP-like Opus packets of a tone: sequence numbers and
// timestamps start just before they wrap, so every test crosses the wrap.
type speaker struct {
	enc     *Encoder
	tone    tone
	samples int // per packet
	seq     uint16
	ts      uint32
}

func newSpeaker(t testing.TB, freq, amp float64, packet int) *speaker {
	t.Helper()
	enc, err := NewEncoder(1, 64000)
	if err != nil {
		t.Fatal(err)
	}
	return &speaker{enc: enc, tone: tone{freq: freq, amp: amp, channels: 1}, samples: packet, seq: 65530, ts: math.MaxUint32 - 10*FrameSamples}
}

type rtpPacket struct {
	seq     uint16
	ts      uint32
	payload []byte
}

func (s *speaker) next(t testing.TB) rtpPacket {
	t.Helper()
	buf := make([]byte, MaxPacketBytes)
	n, err := s.enc.Encode(s.tone.next(s.samples), buf)
	if err != nil {
		t.Fatal(err)
	}
	p := rtpPacket{seq: s.seq, ts: s.ts, payload: buf[:n]}
	s.seq++
	s.ts += uint32(s.samples)
	return p
}

// pushTicks pushes sp's next packet into src and ticks m, n times: a
// speaker on time, one packet per frame.
func pushTicks(t testing.TB, m *Mixer, src *Source, sp *speaker, n int) {
	t.Helper()
	for range n {
		p := sp.next(t)
		src.Push(p.seq, p.ts, p.payload)
		m.Tick()
	}
}

// collector is a MixerConfig.Out for tests that tick by hand.
type collector struct{ frames [][]byte }

func (c *collector) out(p []byte) { c.frames = append(c.frames, p) }

// decodeFrames decodes program frames one by one; each must be a valid
// 20 ms Opus packet.
func decodeFrames(t testing.TB, channels int, frames [][]byte) [][]int16 {
	t.Helper()
	dec, err := NewDecoder(channels)
	if err != nil {
		t.Fatal(err)
	}
	out := make([][]int16, len(frames))
	for i, f := range frames {
		pcm := make([]int16, MaxPacketSamples*channels)
		n, err := dec.Decode(f, pcm)
		if err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		if n != FrameSamples {
			t.Fatalf("frame %d: %d samples, want %d", i, n, FrameSamples)
		}
		out[i] = pcm[:n*channels]
	}
	return out
}

func concat(frames [][]int16) []int16 {
	var out []int16
	for _, f := range frames {
		out = append(out, f...)
	}
	return out
}

// dB is the level ratio got/want in decibels.
func dB(got, want float64) float64 { return 20 * math.Log10(got/want) }
