package recording

import (
	"bytes"
	"errors"
	"io"
	"log/slog"
	"math"
	"testing"
	"time"

	"majlis/internal/audio"
	"majlis/internal/program"
	"majlis/internal/testkit"
)

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func newManager(t *testing.T, st Storage) *Manager {
	t.Helper()
	m, err := New(Config{Storage: st, Logger: quietLog(), FlushEvery: 20 * time.Millisecond, SyncEvery: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	return m
}

// toneSource encodes segments of tones into 20 ms Opus packets.
type toneSource struct {
	enc *audio.Encoder
	n   int
}

func newToneSource(t *testing.T) *toneSource {
	enc, err := newEncoder()
	if err != nil {
		t.Fatal(err)
	}
	return &toneSource{enc: enc}
}

func newEncoder() (*audio.Encoder, error) { return audio.NewEncoder(1, 32000) }

func (s *toneSource) frame(freq float64) []byte {
	pcm := make([]int16, program.FrameSamples)
	for i := range pcm {
		pcm[i] = int16(0.3 * 32767 * math.Sin(2*math.Pi*freq*float64(s.n)/48000))
		s.n++
	}
	out := make([]byte, 1500)
	k, err := s.enc.Encode(pcm, out)
	if err != nil {
		panic(err)
	}
	return out[:k]
}

// feed writes frames of freq for d to p, pacing chunks so the recorder's
// reader keeps up with the ring (a real mixer runs in real time).
func feed(p *program.Program, src *toneSource, freq float64, d time.Duration) {
	for i := 0; i < int(d/(20*time.Millisecond)); i++ {
		p.WriteFrame(src.frame(freq))
		if i%10 == 9 {
			time.Sleep(time.Millisecond)
		}
	}
}

// decodeOgg decodes a whole Ogg/Opus file, checking that its granule
// positions advance by exactly the samples decoded (no gaps).
func decodeOgg(t *testing.T, b []byte) (pcm []int16, lastGranule int64) {
	t.Helper()
	return decodeOggFrom(t, b, false)
}

// decodeOggFrom is decodeOgg of the header pages followed by pages from
// anywhere (a seek): one page sequence gap after the headers is expected.
func decodeOggFrom(t *testing.T, b []byte, seeked bool) (pcm []int16, lastGranule int64) {
	t.Helper()
	dec, err := audio.NewDecoder(1)
	if err != nil {
		t.Fatal(err)
	}
	or := testkit.NewOggReader(bytes.NewReader(b))
	buf := make([]int16, 5760)
	var since int64
	last := int64(-1)
	for n := 0; ; n++ {
		pkt, g, err := or.NextPacket()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("ogg: %v", err)
		}
		if n < 2 {
			continue
		}
		k, err := dec.Decode(pkt, buf)
		if err != nil {
			t.Fatalf("opus: %v", err)
		}
		pcm = append(pcm, buf[:k]...)
		since += int64(k)
		if g >= 0 {
			if last < 0 {
				last = g - since // the first page: 0 for a whole file, anything for a cut
			}
			if g-last != since {
				t.Fatalf("granule %d after %d: %d samples decoded in between", g, last, since)
			}
			last, since = g, 0
		}
	}
	if gaps := or.Gaps(); gaps != 0 && !(seeked && gaps == 1) {
		t.Fatalf("%d page sequence gaps", or.Gaps())
	}
	return pcm, last
}

// toneAt says which of the freqs dominates pcm[at:at+win] (-1: none).
func toneAt(pcm []int16, at, win int, freqs ...float64) int {
	if at < 0 || at+win > len(pcm) {
		return -1
	}
	best, bi := 0.0, -1
	for i, f := range freqs {
		if l := testkit.Goertzel(pcm[at:at+win], 48000, f); l > best {
			best, bi = l, i
		}
	}
	if best < 0.05 {
		return -1
	}
	return bi
}

// transition is the first sample (by 10 ms windows) where freqs[1]
// dominates after freqs[0] did.
func transition(pcm []int16, freqs ...float64) int {
	const win = 480
	seen := false
	for at := 0; at+win <= len(pcm); at += win {
		switch toneAt(pcm, at, win, freqs...) {
		case 0:
			seen = true
		case 1:
			if seen {
				return at
			}
		}
	}
	return -1
}
