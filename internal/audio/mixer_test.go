package audio

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"majlis/internal/testkit"
)

func newTestMixer(t testing.TB, cfg MixerConfig) (*Mixer, *collector) {
	t.Helper()
	c := &collector{}
	if cfg.Out == nil {
		cfg.Out = c.out
	}
	m, err := NewMixer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return m, c
}

// assertTone checks the level of freq in pcm, within 2 dB of want; want 0
// means the tone must be absent (below -40 dBFS).
func assertTone(t *testing.T, what string, pcm []int16, freq, want float64) {
	t.Helper()
	got := testkit.Goertzel(pcm, SampleRate, freq)
	if want == 0 {
		if got > 0.01 {
			t.Errorf("%s: %v Hz present at %.4f, want absent", what, freq, got)
		}
		return
	}
	if d := dB(got, want); math.Abs(d) > 2 {
		t.Errorf("%s: %v Hz at %.4f, want %.4f (%.1f dB off)", what, freq, got, want, d)
	}
}

func TestMixerTwoSpeakers(t *testing.T) {
	for _, channels := range []int{1, 2} {
		t.Run(map[int]string{1: "mono", 2: "stereo"}[channels], func(t *testing.T) {
			m, c := newTestMixer(t, MixerConfig{Channels: channels})
			a, b := m.AddSource("a"), m.AddSource("b")
			sa, sb := newSpeaker(t, 440, 0.3, FrameSamples), newSpeaker(t, 1000, 0.3, FrameSamples)
			for tick := 0; tick < 100; tick++ {
				p := sa.next(t)
				a.Push(p.seq, p.ts, p.payload)
				p = sb.next(t)
				b.Push(p.seq, p.ts, p.payload)
				m.Tick()
			}
			if len(c.frames) != 100 {
				t.Fatalf("%d frames after 100 ticks", len(c.frames))
			}
			pcm := decodeFrames(t, channels, c.frames)
			mix := concat(pcm[50:])
			left := make([]int16, len(mix)/channels)
			for i := range left {
				left[i] = mix[i*channels]
			}
			assertTone(t, "both", left, 440, 0.3)
			assertTone(t, "both", left, 1000, 0.3)
			for i := 10; i < 100; i++ { // after the jitter delay, no frame is a gap
				if r := RMS(pcm[i]); r < 0.2 {
					t.Errorf("frame %d: RMS %.3f, want the two tones (~0.3)", i, r)
				}
			}
			if l := a.Level(); math.Abs(dB(l, 0.3/math.Sqrt2)) > 2 {
				t.Errorf("Level = %.3f, want ~%.3f", l, 0.3/math.Sqrt2)
			}
			if st := a.Stats(); st.Concealed != 0 || st.Packets != 100 {
				t.Errorf("stats %+v: want 100 packets, nothing concealed", st)
			}

			b.Close()
			if m.Sources() != 1 {
				t.Fatalf("Sources = %d after Close, want 1", m.Sources())
			}
			for tick := 0; tick < 50; tick++ {
				p := sa.next(t)
				a.Push(p.seq, p.ts, p.payload)
				p = sb.next(t)
				b.Push(p.seq, p.ts, p.payload) // closed: ignored
				m.Tick()
			}
			if len(c.frames) != 150 {
				t.Fatalf("%d frames after 150 ticks", len(c.frames))
			}
			pcm = decodeFrames(t, channels, c.frames)
			after := concat(pcm[110:])
			left = left[:0]
			for i := 0; i < len(after); i += channels {
				left = append(left, after[i])
			}
			assertTone(t, "after close", left, 440, 0.3)
			assertTone(t, "after close", left, 1000, 0)
		})
	}
}

func TestMixerNoSources(t *testing.T) {
	m, c := newTestMixer(t, MixerConfig{})
	for i := 0; i < 20; i++ {
		m.Tick()
	}
	if len(c.frames) != 20 {
		t.Fatalf("%d frames after 20 ticks", len(c.frames))
	}
	for i, f := range decodeFrames(t, 1, c.frames) {
		if r := RMS(f); r > 0.001 {
			t.Errorf("frame %d: RMS %.4f, want silence", i, r)
		}
	}
}

func TestMixerMute(t *testing.T) {
	m, c := newTestMixer(t, MixerConfig{})
	a, b := m.AddSource("a"), m.AddSource("b")
	b.SetMuted(true)
	sa, sb := newSpeaker(t, 440, 0.3, FrameSamples), newSpeaker(t, 1000, 0.3, FrameSamples)
	run := func(ticks int) {
		for i := 0; i < ticks; i++ {
			p := sa.next(t)
			a.Push(p.seq, p.ts, p.payload)
			p = sb.next(t)
			b.Push(p.seq, p.ts, p.payload)
			m.Tick()
		}
	}
	run(60)
	pcm := decodeFrames(t, 1, c.frames)
	assertTone(t, "muted", concat(pcm[10:]), 440, 0.3)
	assertTone(t, "muted", concat(pcm[10:]), 1000, 0)
	if b.Level() != 0 {
		t.Errorf("muted Level = %v, want 0", b.Level())
	}
	b.SetMuted(false)
	run(40)
	pcm = decodeFrames(t, 1, c.frames)
	assertTone(t, "unmuted", concat(pcm[65:]), 1000, 0.3) // still in sync: no rebuffering
}

func TestMixerReplaceSource(t *testing.T) {
	m, _ := newTestMixer(t, MixerConfig{})
	old := m.AddSource("a")
	m.AddSource("a")
	if m.Sources() != 1 {
		t.Fatalf("Sources = %d, want 1", m.Sources())
	}
	old.Close() // must not remove the replacement
	if m.Sources() != 1 {
		t.Fatalf("Sources = %d after closing the replaced source, want 1", m.Sources())
	}
}

func TestLimiter(t *testing.T) {
	// Unit: two full-scale tones summed in int32.
	g1, g2 := tone{freq: 440, amp: 1, channels: 1}, tone{freq: 1000, amp: 1, channels: 1}
	lim := newLimiter(1)
	acc := make([]int32, FrameSamples)
	var in []int32
	var out []int16
	for f := 0; f < 50; f++ {
		x1, x2 := g1.next(FrameSamples), g2.next(FrameSamples)
		for i := range acc {
			acc[i] = int32(x1[i]) + int32(x2[i])
		}
		frame := make([]int16, FrameSamples)
		lim.process(acc, frame)
		in = append(in, acc...)
		out = append(out, frame...)
	}
	wraps := 0
	for i := range in {
		if int16(in[i]) < 0 != (in[i] < 0) {
			wraps++ // a plain int16 conversion would wrap here
		}
		if math.Abs(float64(out[i])) > limitCeiling+1 {
			t.Fatalf("sample %d: %d exceeds the ceiling %v", i, out[i], limitCeiling)
		}
		if (out[i] < 0 && in[i] > 0) || (out[i] > 0 && in[i] < 0) {
			t.Fatalf("sample %d: sign flipped, in %d out %d", i, in[i], out[i])
		}
	}
	if wraps == 0 {
		t.Fatal("test signal never exceeds int16: it does not exercise the limiter")
	}
	steady := out[5*FrameSamples:]
	for _, f := range []float64{440, 1000} {
		if got := testkit.Goertzel(steady, SampleRate, f); got < 0.35 || got > 0.5 {
			t.Errorf("%v Hz at %.3f after limiting, want ~0.44 (half the ceiling)", f, got)
		}
	}

	// End to end: two full-scale speakers through the mixer and Opus.
	m, c := newTestMixer(t, MixerConfig{})
	a, b := m.AddSource("a"), m.AddSource("b")
	sa, sb := newSpeaker(t, 440, 1, FrameSamples), newSpeaker(t, 1000, 1, FrameSamples)
	for i := 0; i < 60; i++ {
		p := sa.next(t)
		a.Push(p.seq, p.ts, p.payload)
		p = sb.next(t)
		b.Push(p.seq, p.ts, p.payload)
		m.Tick()
	}
	pcm := concat(decodeFrames(t, 1, c.frames)[10:])
	var peak, jump float64
	for i, v := range pcm {
		peak = max(peak, math.Abs(float64(v)))
		if i > 0 {
			jump = max(jump, math.Abs(float64(v)-float64(pcm[i-1])))
		}
	}
	// Two full-scale tones at 440 and 1000 Hz change by at most ~6000 per
	// sample; a wrap-around jumps by ~65000 and a hard clip leaves runs.
	if jump > 12000 {
		t.Errorf("largest sample-to-sample jump %v: wrap-around", jump)
	}
	if peak > 32767*0.99 {
		t.Errorf("peak %v: clipping at full scale", peak)
	}
	if r := RMS(pcm); r < 0.3 || r > 0.8 {
		t.Errorf("RMS %.3f after limiting, want ~0.44-0.6", r)
	}
}

func TestMixerConfigErrors(t *testing.T) {
	out := func([]byte) {}
	tests := []struct {
		name string
		cfg  MixerConfig
	}{
		{"no Out", MixerConfig{}},
		{"three channels", MixerConfig{Channels: 3, Out: out}},
		{"negative delay", MixerConfig{JitterDelay: -time.Millisecond, Out: out}},
		{"delay too long", MixerConfig{JitterDelay: time.Second, Out: out}},
	}
	for _, tc := range tests {
		if _, err := NewMixer(tc.cfg); err == nil {
			t.Errorf("%s: want error", tc.name)
		}
	}
}

func TestRun(t *testing.T) {
	var frames atomic.Int64
	m, err := NewMixer(MixerConfig{Out: func([]byte) { frames.Add(1) }})
	if err != nil {
		t.Fatal(err)
	}
	src := m.AddSource("a")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()

	// Push from another goroutine meanwhile, as the network would.
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		sp := newSpeaker(t, 440, 0.3, FrameSamples)
		for ctx.Err() == nil {
			p := sp.next(t)
			src.Push(p.seq, p.ts, p.payload)
			_ = src.Level()
			time.Sleep(FrameDuration)
		}
	}()

	for frames.Load() < 10 {
		select {
		case err := <-done:
			t.Fatalf("Run returned early: %v", err)
		case <-time.After(5 * time.Millisecond):
		}
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run = %v, want nil on cancel", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
	wg.Wait()
	n := frames.Load()
	time.Sleep(3 * FrameDuration)
	if frames.Load() != n {
		t.Error("frames produced after Run returned")
	}
}

// TestRunSkipsAhead jumps the clock forward by a second: Run must skip the
// missed ticks, not emit 50 frames in a burst.
func TestRunSkipsAhead(t *testing.T) {
	var offset atomic.Int64
	clock := func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }
	var frames, late atomic.Int64
	m, err := NewMixer(MixerConfig{
		Out:   func([]byte) { frames.Add(1) },
		Clock: clock,
		OnTick: func(_ time.Duration, l bool) {
			if l {
				late.Add(1)
			}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	for frames.Load() < 3 {
		time.Sleep(time.Millisecond)
	}
	before := frames.Load()
	offset.Store(int64(time.Second))
	for late.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	burst := frames.Load() - before
	cancel()
	<-done
	if burst > int64(maxBehind/FrameDuration)+5 {
		t.Errorf("%d frames right after a 1 s clock jump: burst instead of skip", burst)
	}
}

// TestRunBatch: with MixerConfig.Batch, Run wakes once per batch and makes
// the batch's frames back to back, never faster than real time; Batch's
// answer is clamped to 1..MaxBatchFrames.
func TestRunBatch(t *testing.T) {
	const chunk = 7 // frames per chunk, as a program would ask: 5 then 2
	var (
		mu      sync.Mutex
		made    int   // frames so far
		asked   []int // what Batch answered
		batches []int // frames made between two Batch calls
		first   time.Time
		last    time.Time
	)
	m, err := NewMixer(MixerConfig{
		Out: func([]byte) {
			mu.Lock()
			defer mu.Unlock()
			if made == 0 {
				first = time.Now()
			}
			last = time.Now()
			made++
			batches[len(batches)-1]++
		},
		Batch: func() int {
			mu.Lock()
			defer mu.Unlock()
			batches = append(batches, 0)
			asked = append(asked, chunk-made%chunk)
			return asked[len(asked)-1]
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		mu.Lock()
		n := made
		mu.Unlock()
		if n >= 4*chunk {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %d frames in 10 s", n)
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	// A stall of more than maxBehind makes Run skip ahead with one frame;
	// allow one such wake-up on a busy machine.
	skips := 0
	for i, b := range batches[:len(batches)-1] {
		if want := min(asked[i], MaxBatchFrames); b != want {
			if b != 1 || skips > 0 {
				t.Fatalf("frames per wake-up %v for Batch answers %v", batches, asked)
			}
			skips++
		}
	}
	if asked[0] != chunk || batches[0] != MaxBatchFrames || batches[1] != chunk-MaxBatchFrames && skips == 0 {
		t.Fatalf("frames per wake-up %v for Batch answers %v, want 5, 2, 5, 2, ...", batches, asked)
	}
	if took, min := last.Sub(first), time.Duration(made-MaxBatchFrames)*FrameDuration; took < min*9/10 {
		t.Errorf("%d frames in %v: faster than real time (at least %v)", made, took, min)
	}

	for _, tc := range []struct {
		ask, want int
		idle      bool
	}{{-3, 1, false}, {0, 1, false}, {1, 1, false}, {4, 4, false}, {50, MaxBatchFrames, false}, {IdleBatch, MaxBatchFrames, true}} {
		m, _ := NewMixer(MixerConfig{Out: func([]byte) {}, Batch: func() int { return tc.ask }})
		if got, idle := m.batch(); got != tc.want || idle != tc.idle {
			t.Errorf("Batch %d: %d frames per wake-up (idle %v), want %d (idle %v)", tc.ask, got, idle, tc.want, tc.idle)
		}
	}
}

// TestMixerManySpeakers: every speaker is in the mix, not only the first
// two: four speakers at four tones are each heard at their own level, and
// the one that leaves is gone while the other three stay.
func TestMixerManySpeakers(t *testing.T) {
	m, c := newTestMixer(t, MixerConfig{Channels: 1})
	freqs := []float64{300, 550, 800, 1200}
	const amp = 0.15 // four at once peak at 0.6: under the limiter's threshold
	srcs := make([]*Source, len(freqs))
	spk := make([]*speaker, len(freqs))
	for i, f := range freqs {
		srcs[i] = m.AddSource(fmt.Sprintf("s%d", i))
		spk[i] = newSpeaker(t, f, amp, FrameSamples)
	}
	run := func(ticks int) {
		for range ticks {
			for i := range srcs {
				p := spk[i].next(t)
				srcs[i].Push(p.seq, p.ts, p.payload)
			}
			m.Tick()
		}
	}
	run(100)
	pcm := decodeFrames(t, 1, c.frames)
	mix := concat(pcm[50:])
	for _, f := range freqs {
		assertTone(t, "four speakers", mix, f, amp)
	}
	srcs[2].Close()
	run(60)
	pcm = decodeFrames(t, 1, c.frames)
	after := concat(pcm[120:])
	for i, f := range freqs {
		want := amp
		if i == 2 {
			want = 0
		}
		assertTone(t, "after the third left", after, f, want)
	}
}

// TestMixerSilenceNotEncoded: a silent mix is encoded only until the
// encoder settles; after that the kept silence frame goes out without an
// encode, and decodes to silence. A speaker who then starts is heard from
// their first frame exactly as after a short silence: the onset decodes
// the same, frame by frame, as in a mixer that never skipped an encode.
func TestMixerSilenceNotEncoded(t *testing.T) {
	const silent = 100
	onset := func(silentTicks int) (uint64, [][]int16) {
		m, c := newTestMixer(t, MixerConfig{})
		for range silentTicks {
			m.Tick()
		}
		skipped := m.SilentTicks()
		src := m.AddSource("a")
		sp := newSpeaker(t, 440, 0.3, FrameSamples)
		for range 60 {
			p := sp.next(t)
			src.Push(p.seq, p.ts, p.payload)
			m.Tick()
		}
		return skipped, decodeFrames(t, 1, c.frames)
	}
	long, lpcm := onset(silent)
	if got := long; got != silent-silenceSettle {
		t.Fatalf("%d silent ticks sent without an encode, want %d", got, silent-silenceSettle)
	}
	for i, f := range lpcm[:silent] {
		if r := RMS(f); r > 0.001 {
			t.Fatalf("silent frame %d: RMS %.4f, want silence", i, r)
		}
	}
	short, spcm := onset(silenceSettle)
	if short != 0 {
		t.Fatalf("short silence: %d ticks not encoded, want 0", short)
	}
	heard := -1
	for i := range 60 {
		a, b := RMS(lpcm[silent+i]), RMS(spcm[silenceSettle+i])
		if heard < 0 && b > 0.01 {
			heard = i
		}
		if math.Abs(a-b) > 0.01+0.05*b {
			t.Errorf("frame %d after the onset: RMS %.4f after a long silence, %.4f after a short one", i, a, b)
		}
	}
	if heard < 0 || heard > 10 {
		t.Fatalf("the speaker is heard from frame %d after their first packet, want within the jitter delay", heard)
	}
	assertTone(t, "speech after a long silence", concat(lpcm[silent+heard+5:]), 440, 0.3)
}

// A muted speaker's packets are consumed in time but not decoded; once
// unmuted, it is heard from the next frame, at its level.
func TestMutedNotDecoded(t *testing.T) {
	m, c := newTestMixer(t, MixerConfig{})
	a := m.AddSource("a")
	m.AddSource("b") // a second voice, silent: a is mixed, not forwarded
	a.SetMuted(true)
	sp := newSpeaker(t, 440, 0.3, FrameSamples)
	pushTicks(t, m, a, sp, 100)
	st := a.Stats()
	if st.Decoded != 0 || st.Skipped < 90 {
		t.Fatalf("muted for 100 frames: %d packets decoded, %d skipped; want none decoded and every played packet skipped", st.Decoded, st.Skipped)
	}
	if got := m.SilentTicks(); got < 100-silenceSettle-5 {
		t.Errorf("a muted speaker and a silent one: %d of 100 frames sent as the kept silence frame, want the mix silent and not encoded", got)
	}
	a.SetMuted(false)
	pushTicks(t, m, a, sp, 60)
	if a.Stats().Decoded == 0 {
		t.Fatal("unmuted: no packet decoded")
	}
	pcm := decodeFrames(t, 1, c.frames)
	assertTone(t, "while muted", concat(pcm[:100]), 440, 0)
	if r := RMS(pcm[101]); r < 0.1 {
		t.Errorf("second frame after unmuting: RMS %.4f, want the speaker heard (not rebuffered)", r)
	}
	assertTone(t, "unmuted", concat(pcm[105:]), 440, 0.3)
}

// Packets that carry silence (libopus's frames for digital silence) are not
// decoded; speech after them decodes as after any silence.
func TestSilentPacketsNotDecoded(t *testing.T) {
	m, c := newTestMixer(t, MixerConfig{})
	a := m.AddSource("a")
	m.AddSource("b") // a second voice, silent: a is mixed, not forwarded
	sp := newSpeaker(t, 440, 0, FrameSamples)
	big := 0
	for range 100 {
		p := sp.next(t)
		if len(p.payload) > silentPacketBytes {
			big++
		}
		a.Push(p.seq, p.ts, p.payload)
		m.Tick()
	}
	if big > 5 {
		t.Fatalf("libopus coded %d of 100 frames of digital silence in more than %d bytes: the premise of silentPacket is wrong", big, silentPacketBytes)
	}
	st := a.Stats()
	if st.Decoded > uint64(big) || st.Skipped < 90 {
		t.Fatalf("100 frames of silence: %d packets decoded (%d were over %d bytes), %d skipped", st.Decoded, big, silentPacketBytes, st.Skipped)
	}
	sp.tone.amp = 0.3
	for range 60 {
		p := sp.next(t)
		a.Push(p.seq, p.ts, p.payload)
		m.Tick()
	}
	pcm := decodeFrames(t, 1, c.frames)
	heard := -1
	for i, f := range pcm[100:] {
		if RMS(f) > 0.01 {
			heard = i
			break
		}
	}
	if heard < 0 || heard > 5 {
		t.Fatalf("speech after silence packets heard from frame %d after its first packet, want within the jitter delay", heard)
	}
	assertTone(t, "speech after silence packets", concat(pcm[100+heard+3:]), 440, 0.3)
}

// A speaker below the voice gate (an open microphone's noise floor) is not
// mixed, so the mix is silent and costs no encode; the gate opens on the
// first frame of speech and holds through pauses.
func TestQuietSpeakerGated(t *testing.T) {
	onset := func(floor float64) (*Mixer, [][]int16) {
		m, c := newTestMixer(t, MixerConfig{})
		a := m.AddSource("a")
		m.AddSource("b") // a second voice, silent: a is mixed, not forwarded
		sp := newSpeaker(t, 440, floor, FrameSamples)
		pushTicks(t, m, a, sp, 100)
		sp.tone.amp = 0.3
		pushTicks(t, m, a, sp, 60)
		return m, decodeFrames(t, 1, c.frames)
	}
	const floor = 0.0002 // RMS 0.00014, -77 dBFS: under the gate
	m, quiet := onset(floor)
	if got := m.SilentTicks(); got < 100-silenceSettle-5 {
		t.Fatalf("a speaker at -77 dBFS: %d of 100 frames sent as the kept silence frame, want the speaker gated out and the mix not encoded", got)
	}
	for i, f := range quiet[:100] {
		if r := RMS(f); r > 0.00005 {
			t.Fatalf("frame %d under the gate: RMS %.6f, want silence", i, r)
		}
	}
	_, silent := onset(0)
	for i := range 60 {
		a, b := RMS(quiet[100+i]), RMS(silent[100+i])
		if math.Abs(a-b) > 0.01+0.05*b {
			t.Errorf("frame %d after the onset: RMS %.4f after a quiet floor, %.4f after digital silence", i, a, b)
		}
	}
	assertTone(t, "speech after a quiet floor", concat(quiet[110:]), 440, 0.3)

	// The gate holds through a pause: after speech, the floor is mixed for
	// a while (Level's decay), then gated out.
	m, _ = newTestMixer(t, MixerConfig{})
	a := m.AddSource("a")
	m.AddSource("b")
	sp := newSpeaker(t, 440, 0.1, FrameSamples)
	pushTicks(t, m, a, sp, 50)
	sp.tone.amp = floor
	pushTicks(t, m, a, sp, 30)
	if got := m.SilentTicks(); got != 0 {
		t.Errorf("the floor in the 0.6 s after speech: %d frames not encoded, want the gate held open", got)
	}
	pushTicks(t, m, a, sp, 100)
	if got := m.SilentTicks(); got == 0 {
		t.Errorf("the floor 2 s after speech: every frame encoded, want the gate closed")
	}
}

// switchFrames is how long a listener's decoder takes to come over from
// the mixed stream to a forwarded one, or back.
const switchFrames = 3

// A speaker alone is sent on as it came: the program frames are its own
// packets, nothing is decoded or encoded, and the tone arrives whole.
// When a second voice joins the mix is decoded and encoded again, and when
// it leaves forwarding resumes, with one frame per tick throughout and no
// silent frame at either switch.
func TestSoloSpeakerForwarded(t *testing.T) {
	m, c := newTestMixer(t, MixerConfig{})
	a := m.AddSource("a")
	sa, sb := newSpeaker(t, 440, 0.3, FrameSamples), newSpeaker(t, 1000, 0.3, FrameSamples)
	var sent [][]byte
	tick := func(b *Source) {
		p := sa.next(t)
		sent = append(sent, p.payload)
		a.Push(p.seq, p.ts, p.payload)
		if b != nil {
			p := sb.next(t)
			b.Push(p.seq, p.ts, p.payload)
		}
		m.Tick()
	}
	for range 60 {
		tick(nil)
	}
	st := a.Stats()
	if st.Decoded != 0 || st.Forwarded < 55 || m.Forwarded() != st.Forwarded {
		t.Fatalf("a speaker alone: %d packets decoded, %d forwarded (mixer %d), want every played packet forwarded", st.Decoded, st.Forwarded, m.Forwarded())
	}
	// Its level is still measured, by a decode one frame in ten: a 0.3
	// tone has an RMS of 0.21.
	if l := a.Level(); math.Abs(dB(l, 0.3/math.Sqrt2)) > 1 || st.Measured < st.Forwarded/forwardMeasureEvery || st.Measured > st.Forwarded/forwardMeasureEvery+1 {
		t.Errorf("a speaker alone: level %.3f from %d measurements of %d frames, want 0.212 from one in %d", l, st.Measured, st.Forwarded, forwardMeasureEvery)
	}
	// After the jitter delay, frame i of the program is packet i-d as sent.
	d := len(c.frames) - int(st.Forwarded)
	for i := d; i < len(c.frames); i++ {
		if !bytes.Equal(c.frames[i], sent[i-d]) {
			t.Fatalf("program frame %d is not the speaker's packet %d", i, i-d)
		}
	}
	b := m.AddSource("b")
	for range 60 {
		tick(b)
	}
	if got := a.Stats().Forwarded; got != st.Forwarded {
		t.Errorf("two voices: %d more packets forwarded, want them mixed", got-st.Forwarded)
	}
	b.Close()
	for range 60 {
		tick(nil)
	}
	if got := a.Stats().Forwarded; got < st.Forwarded+55 {
		t.Errorf("alone again: %d packets forwarded in 60 ticks, want forwarding to resume", got-st.Forwarded)
	}
	if len(c.frames) != 180 || m.EncodeErrors() != 0 {
		t.Fatalf("%d program frames for 180 ticks, %d encode errors", len(c.frames), m.EncodeErrors())
	}
	// A listener's decoder comes over from one stream to the other in a
	// few frames. Measured (440 Hz, Goertzel, 0.30 steady): the onset after
	// silence, forwarded, 0.011 then 0.26 (through the encoder the onset is
	// smeared too); the switch to the mix mid-tone 0.20, 0.27, 0.29; back
	// to forwarding 0.31, 0.32. So: heard in every frame but the switchFrames after
	// each switch, and never gone for longer.
	pcm := decodeFrames(t, 1, c.frames)
	for i := d; i < 180; i++ {
		g := testkit.Goertzel(pcm[i], SampleRate, 440)
		near := i < d+switchFrames || (i >= 60 && i < 60+switchFrames) || (i >= 120 && i < 120+switchFrames)
		if g < 0.15 && !near {
			t.Errorf("frame %d: 440 Hz at %.3f, want the speaker heard in every frame across the switches", i, g)
		}
	}
	assertTone(t, "alone", concat(pcm[d+3:60]), 440, 0.3)
	assertTone(t, "mixed", concat(pcm[70:120]), 1000, 0.3)
	assertTone(t, "mixed", concat(pcm[70:120]), 440, 0.3)
	assertTone(t, "alone again", concat(pcm[125:]), 440, 0.3)
	assertTone(t, "alone again", concat(pcm[125:]), 1000, 0)
}

// Packets that cannot stand as the program frame are mixed: the wrong
// channel count, a packet longer than a frame, or far over the program's
// bitrate; a muted speaker alone is not heard at all.
func TestSoloNotForwarded(t *testing.T) {
	for _, tc := range []struct {
		name              string
		channels, samples int
		bitrate           int
	}{
		{"stereo into mono", 2, FrameSamples, 64000},
		{"40 ms packets", 1, 2 * FrameSamples, 64000},
		{"10 ms packets", 1, FrameSamples / 2, 64000},
		{"over the bitrate bound", 1, FrameSamples, 256000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, c := newTestMixer(t, MixerConfig{})
			a := m.AddSource("a")
			enc, err := NewEncoder(tc.channels, tc.bitrate)
			if err != nil {
				t.Fatal(err)
			}
			g := tone{freq: 440, amp: 0.3, channels: tc.channels}
			seq, ts := uint16(1), uint32(0)
			buf := make([]byte, MaxPacketBytes)
			for made := 0; made < 60*FrameSamples; {
				n, err := enc.Encode(g.next(tc.samples), buf)
				if err != nil {
					t.Fatal(err)
				}
				a.Push(seq, ts, buf[:n])
				seq++
				ts += uint32(tc.samples)
				made += tc.samples
				for len(c.frames)*FrameSamples < made {
					m.Tick()
				}
			}
			if got := a.Stats().Forwarded; got != 0 {
				t.Fatalf("%d packets forwarded, want all mixed", got)
			}
			assertTone(t, tc.name, concat(decodeFrames(t, 1, c.frames)[10:]), 440, 0.3)
		})
	}
	m, c := newTestMixer(t, MixerConfig{})
	a := m.AddSource("a")
	a.SetMuted(true)
	pushTicks(t, m, a, newSpeaker(t, 440, 0.3, FrameSamples), 60)
	if st := a.Stats(); st.Forwarded != 0 || st.Decoded != 0 {
		t.Fatalf("muted alone: %d forwarded, %d decoded, want neither", st.Forwarded, st.Decoded)
	}
	assertTone(t, "muted alone", concat(decodeFrames(t, 1, c.frames)), 440, 0)
}
