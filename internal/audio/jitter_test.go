package audio

import (
	"bytes"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// arrival is a packet with the time it reaches Push.
type arrival struct {
	at time.Duration
	p  rtpPacket
}

// network turns a speaker's packets into arrivals: packet k is sent when
// its audio is complete, then delayed by up to maxDelay, lost with
// probability loss, and duplicated with probability dup.
type network struct {
	rng      *rand.Rand
	maxDelay time.Duration
	loss     float64
	dup      float64
	lost     int
	dups     int
	lostSeq  map[uint16]bool
}

func (n *network) send(sent time.Duration, p rtpPacket, out []arrival) []arrival {
	delay := func() time.Duration {
		if n.maxDelay == 0 {
			return 0
		}
		return time.Duration(n.rng.Int64N(int64(n.maxDelay) + 1))
	}
	if n.rng.Float64() < n.loss {
		n.lost++
		if n.lostSeq == nil {
			n.lostSeq = map[uint16]bool{}
		}
		n.lostSeq[p.seq] = true
		return out
	}
	out = append(out, arrival{sent + delay(), p})
	if n.rng.Float64() < n.dup {
		n.dups++
		out = append(out, arrival{sent + delay() + 10*time.Millisecond, p})
	}
	return out
}

func TestJitter(t *testing.T) {
	tests := []struct {
		name     string
		packet   int // samples
		maxDelay time.Duration
		loss     float64
		dup      float64
	}{
		{"20ms clean", 960, 0, 0, 0},
		{"10ms packets", 480, 0, 0, 0},
		{"40ms packets", 1920, 0, 0, 0},
		{"60ms packets", 2880, 0, 0, 0},
		{"20ms reordered", 960, 40 * time.Millisecond, 0, 0},
		{"10ms reordered", 480, 40 * time.Millisecond, 0, 0},
		{"20ms duplicates", 960, 20 * time.Millisecond, 0, 0.1},
		{"20ms 5% loss", 960, 0, 0.05, 0},
		{"20ms loss, reorder, dups", 960, 40 * time.Millisecond, 0.05, 0.05},
		{"60ms loss, reorder", 2880, 40 * time.Millisecond, 0.05, 0},
	}
	const ticks = 250
	// batch is how many frames the mixer makes per wake-up (Run with
	// MixerConfig.Batch): the packets that arrived by the last one's time,
	// then that many ticks back to back. The speaker is alone (its 20 ms
	// packets are forwarded, lost ones concealed by the listener's decoder)
	// or beside a silent second voice (decoded, concealed and mixed).
	for _, batch := range []int{1, 2, MaxBatchFrames} {
		for _, tc := range tests {
			for _, alone := range []bool{true, false} {
				t.Run(fmt.Sprintf("%s/batch%d/alone=%v", tc.name, batch, alone), func(t *testing.T) {
					var concealed int
					m, c := newTestMixer(t, MixerConfig{OnConceal: func() { concealed++ }})
					src := m.AddSource("a")
					if !alone {
						m.AddSource("b")
					}
					sp := newSpeaker(t, 440, 0.3, tc.packet)
					net := &network{rng: rand.New(rand.NewPCG(1, uint64(tc.packet))), maxDelay: tc.maxDelay, loss: tc.loss, dup: tc.dup}
					dur := time.Duration(tc.packet) * time.Second / SampleRate
					var arrivals, sent []arrival
					for at := dur; at <= ticks*FrameDuration; at += dur {
						p := sp.next(t)
						sent = append(sent, arrival{at, p})
						arrivals = net.send(at, p, arrivals)
					}
					slices.SortStableFunc(arrivals, func(a, b arrival) int { return int(a.at - b.at) })

					for tick := 1; tick <= ticks; tick += batch {
						now := time.Duration(tick+batch-1) * FrameDuration
						for len(arrivals) > 0 && arrivals[0].at <= now {
							a := arrivals[0]
							src.Push(a.p.seq, a.p.ts, a.p.payload)
							arrivals = arrivals[1:]
						}
						for ahead := batch - 1; ahead >= 0; ahead-- {
							m.tick(false, ahead)
						}
					}
					if len(c.frames) != ticks {
						t.Fatalf("%d frames for %d ticks", len(c.frames), ticks)
					}

					st := src.Stats()
					lostFrames := net.lost * tc.packet / FrameSamples
					if uint64(concealed) != st.Concealed {
						t.Errorf("OnConceal called %d times, Stats.Concealed %d", concealed, st.Concealed)
					}
					if concealed > lostFrames+1 || (net.lost > 2 && concealed == 0) {
						t.Errorf("%d frames concealed for %d lost (%d frames)", concealed, net.lost, lostFrames)
					}
					if got := st.Duplicates + st.Late; got < uint64(net.dups) || got > uint64(net.dups+2) {
						t.Errorf("dropped %d duplicates and %d late, sent %d duplicates", st.Duplicates, st.Late, net.dups)
					}

					pcm := decodeFrames(t, 1, c.frames)
					start := 10
					if st.Forwarded > 0 {
						forwardedAsSent(t, c.frames, pcm, sent, net.lostSeq)
					} else {
						// The tone plays throughout: no frame is a gap.
						for i := start; i < ticks-1; i++ {
							if r := RMS(pcm[i]); r < 0.1 {
								t.Errorf("frame %d: RMS %.3f: gap in a continuous 0.3 tone", i, r)
							}
						}
					}
					if alone != (st.Forwarded > 0) && tc.packet == FrameSamples {
						t.Errorf("alone %v: %d packets forwarded", alone, st.Forwarded)
					}
					assertTone(t, "played", concat(pcm[start:]), 440, 0.3)
					t.Logf("lost %d, concealed %d, stats %+v", net.lost, concealed, st)
				})
			}
		}
	}
}

// forwardedAsSent checks a forwarded program against the speaker's stream
// as a receiver of its own would hear it: from switchFrames after the
// first forwarded frame on, the program decodes as the packets sent
// (their difference under -46 dBFS: the decoder's state converges on the
// stream's), decoded in order by libopus with its concealment for each lost one. (libopus's
// concealment of a second loss just after a first dips, to RMS 0.03 for a
// 0.3 tone: the same for any receiver of the stream, so not a gap of ours.)
func forwardedAsSent(t *testing.T, frames [][]byte, pcm [][]int16, sent []arrival, lost map[uint16]bool) {
	t.Helper()
	d := slices.IndexFunc(frames, func(f []byte) bool { return bytes.Equal(f, sent[0].p.payload) })
	if d < 0 {
		t.Fatal("the speaker's first packet is not a program frame")
	}
	dec, err := NewDecoder(1)
	if err != nil {
		t.Fatal(err)
	}
	ref := make([]int16, MaxPacketSamples)
	for i := d; i < len(pcm); i++ {
		a := sent[i-d]
		if lost[a.p.seq] {
			_, err = dec.Conceal(ref[:FrameSamples])
		} else {
			_, err = dec.Decode(a.p.payload, ref)
		}
		if err != nil {
			t.Fatal(err)
		}
		if i < d+switchFrames {
			continue // the decoder comes over from the mixed stream before it (see TestSoloSpeakerForwarded)
		}
		if e := diffRMS(pcm[i], ref[:FrameSamples]); e > 0.005 {
			t.Fatalf("program frame %d (packet %d, lost %v): RMS %.4f, the stream itself %.4f, their difference %.4f: want the stream", i, i-d, lost[a.p.seq], RMS(pcm[i]), RMS(ref[:FrameSamples]), e)
		}

		if RMS(pcm[i]) < 0.01 {
			t.Errorf("program frame %d: silent", i)
		}
	}
}

// TestJitterDrift feeds a sender whose clock runs 10% fast: the buffer must
// drop old audio instead of growing without bound.
func TestJitterDrift(t *testing.T) {
	m, c := newTestMixer(t, MixerConfig{})
	src := m.AddSource("a")
	sp := newSpeaker(t, 440, 0.3, FrameSamples)
	for tick := 0; tick < 500; tick++ {
		p := sp.next(t)
		src.Push(p.seq, p.ts, p.payload)
		if tick%10 == 0 {
			p := sp.next(t)
			src.Push(p.seq, p.ts, p.payload)
		}
		m.Tick()
	}
	st := src.Stats()
	if st.Dropped == 0 {
		t.Errorf("no packets dropped from a fast sender: %+v", st)
	}
	src.mu.Lock()
	depth := src.topEnd - src.playTs + int64(src.fifoN)
	src.mu.Unlock()
	if depth > src.maxDepth {
		t.Errorf("buffered %d samples, more than the %d bound", depth, src.maxDepth)
	}
	pcm := decodeFrames(t, 1, c.frames)
	assertTone(t, "drifting sender", concat(pcm[len(pcm)-50:]), 440, 0.3)
}

// TestJitterPause stops a speaker for a second: it goes silent within the
// concealment bound, then plays again when packets resume.
func TestJitterPause(t *testing.T) {
	m, c := newTestMixer(t, MixerConfig{})
	src := m.AddSource("a")
	sp := newSpeaker(t, 440, 0.3, FrameSamples)
	push := func(ticks int, send bool) {
		for i := 0; i < ticks; i++ {
			p := sp.next(t) // the sender's clock keeps running
			if send {
				src.Push(p.seq, p.ts, p.payload)
			}
			m.Tick()
		}
	}
	push(50, true)
	push(50, false)
	push(50, true)
	pcm := decodeFrames(t, 1, c.frames)
	assertTone(t, "before", concat(pcm[10:50]), 440, 0.3)
	assertTone(t, "paused", concat(pcm[50+maxConcealFrames+4:100]), 440, 0)
	assertTone(t, "resumed", concat(pcm[110:]), 440, 0.3)
	if st := src.Stats(); st.Concealed > maxConcealFrames {
		t.Errorf("%d frames concealed in a pause, want at most %d", st.Concealed, maxConcealFrames)
	}
}

// FuzzSourcePush pushes arbitrary packets: the mixer must neither panic nor
// miss a tick.
func FuzzSourcePush(f *testing.F) {
	f.Add([]byte{0, 1, 0, 0, 0, 0, 31 << 3, 1, 2, 3})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xf0, 2<<3 | 3, 0x83, 0, 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		m, c := newTestMixer(t, MixerConfig{JitterDelay: FrameDuration})
		src := m.AddSource("a")
		ticks := 0
		for len(data) >= 7 {
			seq := uint16(data[0])<<8 | uint16(data[1])
			ts := uint32(data[2])<<24 | uint32(data[3])<<16 | uint32(data[4])<<8 | uint32(data[5])
			n := min(int(data[6]), len(data)-7)
			src.Push(seq, ts, data[7:7+n])
			data = data[7+n:]
			m.Tick()
			ticks++
		}
		if len(c.frames) != ticks {
			t.Fatalf("%d frames for %d ticks", len(c.frames), ticks)
		}
	})
}

// diffRMS is the RMS of a-b, 0..1 of full scale.
func diffRMS(a, b []int16) float64 {
	var sum float64
	for i := range a {
		d := (float64(a[i]) - float64(b[i])) / 32768
		sum += d * d
	}
	return math.Sqrt(sum / float64(len(a)))
}
