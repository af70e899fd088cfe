package live

import (
	"math"
	"testing"
	"time"

	"majlis/internal/audio"
	"majlis/internal/program"
)

// TestChunksCarrySpeakerLevels: two speakers through a live room's mixer,
// one sending a tone and the other silence: the program's chunks list the
// one who talks, under its key, and not the other; then they swap, and
// the chunks follow. A speaker alone (forwarded undecoded) is listed too,
// and not once it falls silent.
func TestChunksCarrySpeakerLevels(t *testing.T) {
	m := NewManager(Config{})
	defer m.Close()
	r, err := m.Start("room")
	if err != nil {
		t.Fatal(err)
	}
	amal, badr := r.AddSpeaker("amal"), r.AddSpeaker("badr")
	ka, kb := audio.SpeakerKey("amal"), audio.SpeakerKey("badr")
	ea, eb := newToneSender(t), newToneSender(t)

	// run sends audio in real time (amp 0 is digital silence) until the
	// program has 100 more frames (2 s), and returns the highest level of
	// each key in the chunks of its last 25 frames: a level falls under the
	// voice gate (off the list) within about 75 frames of the end of
	// speech (a lone speaker's is measured every 25 frames and held in
	// between). Program frames, not the wall clock, measure it: on a loaded
	// machine the mixer may skip ticks.
	run := func(ampA, ampB float64, b bool) map[uint32]uint8 {
		end := func() uint64 {
			c := r.Program.Chunk(r.Program.Head() - 1)
			if c == nil {
				return 0
			}
			return c.FirstSeq + uint64(len(c.Frames))
		}
		seq0 := end()
		start := time.Now()
		for n := 0; end() < seq0+100; n++ {
			if n > 1000 {
				t.Fatalf("program stalled at frame %d", end())
			}
			time.Sleep(time.Until(start.Add(time.Duration(n) * audio.FrameDuration)))
			ea.push(t, amal, ampA)
			if b {
				eb.push(t, badr, ampB)
			}
		}
		got := map[uint32]uint8{}
		for i := r.Program.Head() - 1; ; i-- {
			c := r.Program.Chunk(i)
			if c == nil || c.FirstSeq < seq0+75 {
				break
			}
			msg, err := program.ParseWS(c.WS)
			if err != nil {
				t.Fatalf("chunk %d: %v", i, err)
			}
			for _, l := range msg.Levels {
				got[l.Speaker] = max(got[l.Speaker], l.Level)
			}
		}
		return got
	}
	// A tone at 0.1 of full scale has an RMS of -23 dBFS: level 77.
	talking := func(name string, got map[uint32]uint8, k uint32) {
		t.Helper()
		if l := got[k]; l < 70 || l > 80 {
			t.Errorf("%s: talker's level %d, want about 77 (-23 dBFS); all: %v", name, l, got)
		}
	}
	silent := func(name string, got map[uint32]uint8, k uint32) {
		t.Helper()
		if l, ok := got[k]; ok {
			t.Errorf("%s: silent speaker listed at level %d; all: %v", name, l, got)
		}
	}
	got := run(0.1, 0, true)
	talking("amal talks", got, ka)
	silent("amal talks", got, kb)
	got = run(0, 0.1, true)
	talking("badr talks", got, kb)
	silent("badr talks", got, ka)

	badr.Close()
	forwarded := amal.Stats().Forwarded
	got = run(0.1, 0, false)
	if amal.Stats().Forwarded < forwarded+50 {
		t.Fatalf("amal alone: %d frames forwarded, want the solo path", amal.Stats().Forwarded-forwarded)
	}
	talking("amal alone", got, ka)
	silent("amal alone", got, kb)
	got = run(0, 0, false)
	silent("amal alone, silent", got, ka)
	if len(got) != 0 {
		t.Errorf("nobody talks: chunks list %v", got)
	}
}

// toneSender encodes a 440 Hz tone (or silence) into RTP-like packets.
type toneSender struct {
	enc   *audio.Encoder
	pcm   []int16
	buf   []byte
	seq   uint16
	ts    uint32
	phase float64
}

func newToneSender(t *testing.T) *toneSender {
	enc, err := audio.NewEncoder(1, 32000)
	if err != nil {
		t.Fatal(err)
	}
	return &toneSender{enc: enc, pcm: make([]int16, audio.FrameSamples), buf: make([]byte, audio.MaxPacketBytes)}
}

func (s *toneSender) push(t *testing.T, src *audio.Source, amp float64) {
	for i := range s.pcm {
		s.pcm[i] = int16(amp * 32767 * math.Sin(s.phase))
		s.phase += 2 * math.Pi * 440 / audio.SampleRate
	}
	n, err := s.enc.Encode(s.pcm, s.buf)
	if err != nil {
		t.Fatal(err)
	}
	src.Push(s.seq, s.ts, s.buf[:n])
	s.seq++
	s.ts += audio.FrameSamples
}
