package audio

import (
	"fmt"
	"testing"
)

// BenchmarkMixerTick measures one program frame with N speakers: each
// iteration pushes one 20 ms packet per speaker (as the network would) and
// ticks. The per-speaker cost is the slope between sub-benchmarks; the only
// allocation is the Out frame.
func BenchmarkMixerTick(b *testing.B) {
	for _, n := range []int{0, 1, 2, 4, 8} {
		b.Run(fmt.Sprintf("speakers=%d", n), func(b *testing.B) {
			m, err := NewMixer(MixerConfig{Out: func([]byte) {}})
			if err != nil {
				b.Fatal(err)
			}
			// A second of pre-encoded speech-level tone per speaker, replayed
			// with running sequence numbers and timestamps.
			type feed struct {
				src     *Source
				packets []rtpPacket
				seq     uint16
				ts      uint32
			}
			feeds := make([]*feed, n)
			for i := range feeds {
				sp := newSpeaker(b, 200+float64(i)*110, 0.1, FrameSamples)
				f := &feed{src: m.AddSource(fmt.Sprint(i))}
				for range 50 {
					f.packets = append(f.packets, sp.next(b))
				}
				feeds[i] = f
			}
			step := func(i int) {
				for _, f := range feeds {
					f.src.Push(f.seq, f.ts, f.packets[i%len(f.packets)].payload)
					f.seq++
					f.ts += FrameSamples
				}
				m.Tick()
			}
			for i := range 2 * ringSize { // warm up: every ring slot has its buffer
				step(i)
			}
			b.ReportAllocs()
			b.ResetTimer()
			i := 0
			for b.Loop() {
				step(i)
				i++
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(FrameDuration.Nanoseconds())*100, "%core")
		})
	}
}

// BenchmarkCodec isolates the libopus cost per 20 ms frame, which dominates
// the mixer: one decode per speaker and one encode per program.
func BenchmarkCodec(b *testing.B) {
	sp := newSpeaker(b, 440, 0.1, FrameSamples)
	pcm := sp.tone.next(FrameSamples)
	p := sp.next(b)
	b.Run("encode", func(b *testing.B) {
		enc, _ := NewEncoder(1, DefaultBitrate)
		out := make([]byte, MaxPacketBytes)
		b.ReportAllocs()
		for b.Loop() {
			if _, err := enc.Encode(pcm, out); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("decode", func(b *testing.B) {
		dec, _ := NewDecoder(1)
		out := make([]int16, MaxPacketSamples)
		b.ReportAllocs()
		for b.Loop() {
			if _, err := dec.Decode(p.payload, out); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkForwardLevel measures what levels cost a speaker alone, whose
// packets are forwarded undecoded: per forwarded 20 ms frame, the
// measurement (forwardLevel: two decodes every forwardMeasureEvery
// frames, amortised) and the tick's level list handed to OnLevels. Divide
// by FrameDuration for the share of a core per room (the %core metric).
func BenchmarkForwardLevel(b *testing.B) {
	m, err := NewMixer(MixerConfig{Out: func([]byte) {}, OnLevels: func([]SpeakerLevel) {}})
	if err != nil {
		b.Fatal(err)
	}
	s := m.AddSource("speaker")
	sp := newSpeaker(b, 440, 0.1, FrameSamples)
	var packets [][]byte
	for range 50 {
		packets = append(packets, sp.next(b).payload)
	}
	srcs := []*Source{s}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		p := packets[i%len(packets)]
		s.forwardLevel(p)
		s.keep(p)
		m.levels(srcs)
		i++
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(FrameDuration.Nanoseconds())*100, "%core")
}
