package program

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"testing"
	"time"

	"majlis/internal/ogg"
	"majlis/internal/testkit"
)

// silence20ms is a valid Opus packet: CELT-only fullband mono 20 ms, code 0,
// no payload, which decodes as silence.
var silence20ms = []byte{0xF8, 0xFF, 0xFE}

// packet returns a deterministic fake Opus packet of n bytes for frame seq
// (a valid TOC byte followed by a pattern, enough for framing tests).
func packet(seq, n int) []byte {
	b := make([]byte, n)
	b[0] = 0xF8
	for i := 1; i < n; i++ {
		b[i] = byte(seq*31 + i)
	}
	return b
}

func TestOggCRCCheckValue(t *testing.T) {
	// CRC-32 poly 0x04c11db7, init 0, unreflected, no xorout: the check
	// value of "123456789" is the CRC-32/CKSUM check 0x765e7680 without
	// its final inversion.
	if got, want := oggCRC(0, []byte("123456789")), uint32(0x765e7680^0xffffffff); got != want {
		t.Fatalf("oggCRC = %08x, want %08x", got, want)
	}
}

func TestHeaders(t *testing.T) {
	for _, tc := range []struct {
		name     string
		cfg      Config
		channels int
		preSkip  uint16
	}{
		{"defaults", Config{}, 1, 312},
		{"stereo", Config{Channels: 2, PreSkip: 120, Serial: 7}, 2, 120},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := New(tc.cfg)
			hdr := p.OggHeaders()
			// Page 0 holds only OpusHead, flagged BOS, granule 0.
			if string(hdr[:4]) != "OggS" || hdr[5] != oggFlagBOS || binary.LittleEndian.Uint64(hdr[6:]) != 0 ||
				binary.LittleEndian.Uint32(hdr[18:]) != 0 {
				t.Fatalf("bad first page header % x", hdr[:27])
			}
			if tc.cfg.Serial != 0 && binary.LittleEndian.Uint32(hdr[14:]) != tc.cfg.Serial {
				t.Fatalf("serial %d, want %d", binary.LittleEndian.Uint32(hdr[14:]), tc.cfg.Serial)
			}
			r := testkit.NewOggReader(bytes.NewReader(hdr))
			head, g, err := r.NextPacket()
			if err != nil {
				t.Fatal(err)
			}
			if g != 0 || r.PageSeq() != 0 {
				t.Fatalf("OpusHead granule %d page %d", g, r.PageSeq())
			}
			if string(head[:8]) != "OpusHead" || head[8] != 1 || int(head[9]) != tc.channels ||
				binary.LittleEndian.Uint16(head[10:]) != tc.preSkip ||
				binary.LittleEndian.Uint32(head[12:]) != 48000 || head[18] != 0 || len(head) != 19 {
				t.Fatalf("bad OpusHead % x", head)
			}
			tags, _, err := r.NextPacket()
			if err != nil {
				t.Fatal(err)
			}
			if string(tags[:8]) != "OpusTags" || r.PageSeq() != 1 {
				t.Fatalf("bad OpusTags %q on page %d", tags, r.PageSeq())
			}
			vl := binary.LittleEndian.Uint32(tags[8:])
			if string(tags[12:12+vl]) != vendor || binary.LittleEndian.Uint32(tags[12+vl:]) != 0 {
				t.Fatalf("bad OpusTags body %q", tags)
			}
			if _, _, err := r.NextPacket(); err != io.EOF {
				t.Fatalf("after headers: %v, want EOF", err)
			}
		})
	}
}

func TestOggRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name        string
		chunkFrames int
		sizes       []int // packet sizes, cycled
	}{
		{"silence", 2, []int{3}},
		{"lacing edges", 2, []int{1, 254, 255, 256, 509, 510, 511}},
		{"max packets", 3, []int{MaxPacket}},
		{"one frame per chunk", 1, []int{100, 255, 765}},
		{"max chunk", maxChunkFrames, []int{MaxPacket, 1, 255}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := New(Config{ChunkFrames: tc.chunkFrames})
			const chunks = 10
			var want [][]byte
			for i := range chunks * tc.chunkFrames {
				pkt := packet(i, tc.sizes[i%len(tc.sizes)])
				want = append(want, pkt)
				p.WriteFrame(pkt)
			}
			if p.Head() != chunks {
				t.Fatalf("Head = %d, want %d", p.Head(), chunks)
			}
			stream := append([]byte(nil), p.OggHeaders()...)
			for i := range uint64(chunks) {
				c := p.Chunk(i)
				if c == nil {
					t.Fatalf("chunk %d missing", i)
				}
				if c.Index != i || c.FirstSeq != i*uint64(tc.chunkFrames) || len(c.Frames) != tc.chunkFrames {
					t.Fatalf("chunk %d: index %d first %d frames %d", i, c.Index, c.FirstSeq, len(c.Frames))
				}
				stream = append(stream, c.Ogg...)
			}
			got := readAll(t, stream, tc.chunkFrames)
			if len(got) != len(want) {
				t.Fatalf("read %d packets, want %d", len(got), len(want))
			}
			for i := range want {
				if !bytes.Equal(got[i], want[i]) {
					t.Fatalf("packet %d differs: %d bytes, want %d", i, len(got[i]), len(want[i]))
				}
			}
		})
	}
}

// readAll reads an Ogg/Opus stream and checks page numbering and granules of
// data pages holding chunkFrames packets each, returning the audio packets.
func readAll(t *testing.T, stream []byte, chunkFrames int) [][]byte {
	t.Helper()
	r := testkit.NewOggReader(bytes.NewReader(stream))
	var pkts [][]byte
	var lastSeq uint32
	for n := 0; ; n++ {
		pkt, g, err := r.NextPacket()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("packet %d: %v", n, err)
		}
		if n < 2 {
			continue
		}
		pkts = append(pkts, pkt)
		if n > 2 && r.PageSeq() != lastSeq && r.PageSeq() != lastSeq+1 {
			t.Fatalf("page seq jumped %d -> %d", lastSeq, r.PageSeq())
		}
		lastSeq = r.PageSeq()
		if len(pkts)%chunkFrames == 0 {
			// Last packet of a page: granule is the samples decoded so far,
			// counting from frame (pageSeq-2)*chunkFrames.
			want := int64((int(r.PageSeq())-1)*chunkFrames) * FrameSamples
			if g != want {
				t.Fatalf("page %d granule %d, want %d", r.PageSeq(), g, want)
			}
		} else if g != -1 {
			t.Fatalf("packet %d not last on page has granule %d", len(pkts), g)
		}
	}
	return pkts
}

func TestMidStreamJoin(t *testing.T) {
	p := New(Config{})
	for i := range 40 {
		p.WriteFrame(packet(i, 40))
	}
	// A listener joining at chunk 12: header pages 0,1 then pages 14...
	stream := append([]byte(nil), p.OggHeaders()...)
	for i := uint64(12); i < p.Head(); i++ {
		stream = append(stream, p.Chunk(i).Ogg...)
	}
	r := testkit.NewOggReader(bytes.NewReader(stream))
	for range 2 {
		if _, _, err := r.NextPacket(); err != nil {
			t.Fatal(err)
		}
	}
	pkt, _, err := r.NextPacket()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(pkt, packet(24, 40)) || r.PageSeq() != 14 || r.Gaps() != 1 {
		t.Fatalf("first packet after join: page %d gaps %d", r.PageSeq(), r.Gaps())
	}
	_, g, err := r.NextPacket()
	if err != nil || g != 26*FrameSamples {
		t.Fatalf("granule %d err %v, want %d", g, err, 26*FrameSamples)
	}
}

func TestOggReaderRejects(t *testing.T) {
	p := New(Config{})
	for i := range 4 {
		p.WriteFrame(packet(i, 300))
	}
	good := append(append([]byte(nil), p.OggHeaders()...), p.Chunk(0).Ogg...)
	flip := func(off int) []byte {
		b := append([]byte(nil), good...)
		b[off] ^= 0x40
		return b
	}
	hdrLen := len(p.OggHeaders())
	for _, tc := range []struct {
		name  string
		in    []byte
		want  error
		after int // packets expected before the error
	}{
		{"corrupt header page", flip(30), ogg.ErrCRC, 0},
		{"corrupt data page", flip(hdrLen + 100), ogg.ErrCRC, 2},
		{"bad capture", append([]byte("OggX"), good[4:]...), ogg.ErrCapture, 0},
		{"no headers", p.Chunk(1).Ogg, ogg.ErrStream, 0},
		{"truncated", good[:len(good)-5], io.ErrUnexpectedEOF, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := testkit.NewOggReader(bytes.NewReader(tc.in))
			for i := range tc.after {
				if _, _, err := r.NextPacket(); err != nil {
					t.Fatalf("packet %d: %v", i, err)
				}
			}
			_, _, err := r.NextPacket()
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestWSRoundTrip(t *testing.T) {
	p := New(Config{ChunkFrames: 3})
	var want [][]byte
	sizes := []int{3, 0, 255, 1275, 2000, 17}
	for i := range 30 {
		pkt := packet(i, max(sizes[i%len(sizes)], 1))
		if sizes[i%len(sizes)] == 0 {
			pkt = nil
		}
		p.WriteFrame(pkt)
		if len(pkt) == 0 || len(pkt) > MaxPacket {
			pkt = silence20ms // replaced, see WriteFrame
		}
		want = append(want, pkt)
	}
	if p.Replaced() != 10 {
		t.Fatalf("Replaced = %d, want 10", p.Replaced())
	}
	for i := range p.Head() {
		c := p.Chunk(i)
		m, err := ParseWS(c.WS)
		if err != nil {
			t.Fatalf("chunk %d: %v", i, err)
		}
		if m.FirstSeq != 3*i || m.Timestamp != 3*i*FrameSamples || m.FrameSamples != FrameSamples || len(m.Frames) != 3 {
			t.Fatalf("chunk %d: %+v", i, m)
		}
		for j, f := range m.Frames {
			if !bytes.Equal(f, want[m.FirstSeq+uint64(j)]) {
				t.Fatalf("chunk %d frame %d differs", i, j)
			}
		}
	}
	// Truncation anywhere is an error, never a panic.
	ws := p.Chunk(1).WS
	for n := range len(ws) {
		if _, err := ParseWS(ws[:n]); !errors.Is(err, ErrWSMessage) {
			t.Fatalf("truncated to %d: err %v", n, err)
		}
	}
}

func TestRingOverwrite(t *testing.T) {
	p := New(Config{RingChunks: 8, ChunkFrames: 1})
	for i := range 20 {
		p.WriteFrame(packet(i, 10))
	}
	for i := range uint64(25) {
		c := p.Chunk(i)
		switch {
		case i < 12 || i >= 20:
			if c != nil {
				t.Fatalf("chunk %d should be gone or unpublished, got index %d", i, c.Index)
			}
		case c == nil || c.Index != i || !bytes.Equal(c.Frames[0], packet(int(i), 10)):
			t.Fatalf("chunk %d wrong: %+v", i, c)
		}
	}
}

func TestWait(t *testing.T) {
	p := New(Config{ChunkFrames: 2})
	w := p.Wait()
	p.WriteFrame(silence20ms)
	select {
	case <-w:
		t.Fatal("woke before a chunk was complete")
	default:
	}
	p.WriteFrame(silence20ms)
	select {
	case <-w:
	case <-time.After(5 * time.Second):
		t.Fatal("not woken by publish")
	}
	w2 := p.Wait()
	if w2 == w {
		t.Fatal("Wait returned the fired channel")
	}
	done := make(chan struct{})
	go func() {
		<-w2
		close(done)
	}()
	p.Close()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("not woken by Close")
	}
	if !p.Closed() {
		t.Fatal("Closed = false after Close")
	}
	<-p.Wait() // stays closed
	p.WriteFrame(silence20ms)
	p.WriteFrame(silence20ms)
	if p.Head() != 1 {
		t.Fatalf("published after Close: Head %d", p.Head())
	}
	p.Close() // idempotent
}

// TestConcurrentReaders runs readers against a writer under -race: every
// reader sees every chunk in order or a nil for an overwritten one.
func TestConcurrentReaders(t *testing.T) {
	p := New(Config{RingChunks: 16, ChunkFrames: 1})
	const total = 2000
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Go(func() {
			var pos uint64
			for {
				if c := p.Chunk(pos); c != nil {
					if c.Index != pos || c.FirstSeq != pos {
						errs <- fmt.Errorf("chunk %d has index %d", pos, c.Index)
						return
					}
					pos++
					continue
				}
				if h := p.Head(); pos < h {
					pos = h - 1 // overwritten: skip forward
					continue
				}
				w := p.Wait()
				if p.Head() > pos {
					continue
				}
				if p.Closed() {
					if pos != total {
						errs <- fmt.Errorf("ended at %d, want %d", pos, total)
					}
					return
				}
				<-w
			}
		})
	}
	for i := range total {
		p.WriteFrame(packet(i, 5))
	}
	p.Close()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func BenchmarkWriteFrame(b *testing.B) {
	p := New(Config{})
	pkt := packet(1, 120)
	b.ReportAllocs()
	for b.Loop() {
		p.WriteFrame(pkt)
	}
}

// TestWSDocExample keeps the byte-by-byte example of
// docs/listen-protocol.md true.
func TestWSDocExample(t *testing.T) {
	p := New(Config{})
	for i := range 34 {
		if i == 32 {
			p.NoteLevel(0x0a0b0c0d, 70) // -30 dBFS
		}
		p.WriteFrame(silence20ms)
	}
	want := []byte{
		0x02,
		0, 0, 0, 0, 0, 0, 0, 0x1e,
		0, 0, 0, 0, 0, 0, 0x70, 0x80,
		0x03, 0xc0,
		0x02,
		0x00, 0x03, 0xf8, 0xff, 0xfe,
		0x00, 0x03, 0xf8, 0xff, 0xfe,
	}
	if got := p.Chunk(15).WS; !bytes.Equal(got, want) {
		t.Fatalf("chunk 15 WS = % x\nwant        % x", got, want)
	}
	want = append(want[:0:0], want...)
	want[8], want[15], want[16] = 0x20, 0x78, 0x00 // first seq 32, timestamp 30720
	want = append(want, 0x01, 0x0a, 0x0b, 0x0c, 0x0d, 0x46)
	if got := p.Chunk(16).WS; !bytes.Equal(got, want) {
		t.Fatalf("chunk 16 WS = % x\nwant        % x", got, want)
	}
}

// TestChunkLevels: a chunk lists each speaker noted during it once, at its
// loudest, parses back, and costs nothing when nobody was noted.
func TestChunkLevels(t *testing.T) {
	p := New(Config{ChunkFrames: 3})
	p.NoteLevel(7, 40)
	p.WriteFrame(silence20ms)
	p.NoteLevel(7, 60)
	p.NoteLevel(9, 0) // not heard: not listed
	p.NoteLevel(8, 35)
	p.WriteFrame(silence20ms)
	p.NoteLevel(7, 50)
	p.WriteFrame(silence20ms)
	for range 3 {
		p.WriteFrame(silence20ms)
	}
	m, err := ParseWS(p.Chunk(0).WS)
	if err != nil {
		t.Fatal(err)
	}
	if want := []Level{{7, 60}, {8, 35}}; !slices.Equal(m.Levels, want) {
		t.Errorf("chunk 0 levels %v, want %v", m.Levels, want)
	}
	quiet := p.Chunk(1)
	if m, err := ParseWS(quiet.WS); err != nil || m.Levels != nil {
		t.Errorf("quiet chunk: levels %v, %v; want none", m.Levels, err)
	}
	if n := wsHeaderLen + 3*(2+len(silence20ms)); len(quiet.WS) != n {
		t.Errorf("quiet chunk: %d bytes, want %d (no levels, no trailer)", len(quiet.WS), n)
	}
	for _, tc := range []struct {
		rms  float64
		want uint8
	}{{0, 0}, {1e-6, 0}, {0.001, 40}, {0.1, 80}, {1, 100}, {2, 100}} {
		if got := LevelFromRMS(tc.rms); got != tc.want {
			t.Errorf("LevelFromRMS(%g) = %d, want %d", tc.rms, got, tc.want)
		}
	}
}

// TestNotify: a Notify channel gets one token per published chunk (a burst
// of chunks leaves one, not a blocked publisher), one at Close, one at
// once when the program has already closed, and none after stop.
func TestNotify(t *testing.T) {
	p := New(Config{ChunkFrames: 1})
	a, b := make(chan struct{}, 1), make(chan struct{}, 1)
	stopA := p.Notify(a)
	stopB := p.Notify(b)
	pending := func(ch chan struct{}) bool {
		select {
		case <-ch:
			return true
		default:
			return false
		}
	}
	p.WriteFrame([]byte{0xF8, 1})
	if !pending(a) || !pending(b) {
		t.Fatal("a published chunk did not notify both channels")
	}
	for range 5 {
		p.WriteFrame([]byte{0xF8, 2}) // never blocks on a full channel
	}
	if !pending(a) || pending(a) {
		t.Fatal("a burst of chunks should leave exactly one token")
	}
	stopB()
	stopB() // idempotent
	pending(b)
	p.WriteFrame([]byte{0xF8, 3})
	if pending(b) {
		t.Fatal("a stopped channel was notified")
	}
	if !pending(a) {
		t.Fatal("stopping one channel stopped the other")
	}
	p.Close()
	if !pending(a) {
		t.Fatal("Close did not notify")
	}
	stopA()
	c := make(chan struct{}, 1)
	defer p.Notify(c)()
	if !pending(c) {
		t.Fatal("Notify on a closed program did not tell at once")
	}
}

// TestFinish: Finish publishes the frames of an incomplete chunk as a
// shorter last chunk (a valid Ogg page, numbered on) before it closes;
// Close alone drops them.
func TestFinish(t *testing.T) {
	for _, finish := range []bool{true, false} {
		p := New(Config{ChunkFrames: 5})
		for i := range 7 {
			p.WriteFrame(packet(i, 10))
		}
		if finish {
			p.Finish()
		} else {
			p.Close()
		}
		want := uint64(1)
		if finish {
			want = 2
		}
		if !p.Closed() || p.Head() != want {
			t.Fatalf("finish=%v: closed %v, %d chunks, want %d", finish, p.Closed(), p.Head(), want)
		}
		if !finish {
			continue
		}
		c := p.Chunk(1)
		if c.FirstSeq != 5 || len(c.Frames) != 2 || !bytes.Equal(c.Frames[1], packet(6, 10)) {
			t.Fatalf("last chunk: first %d, %d frames", c.FirstSeq, len(c.Frames))
		}
		stream := append(append(append([]byte(nil), p.OggHeaders()...), p.Chunk(0).Ogg...), c.Ogg...)
		r := testkit.NewOggReader(bytes.NewReader(stream))
		var n int
		var granule int64
		for ; ; n++ {
			pkt, g, err := r.NextPacket()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("packet %d: %v", n, err)
			}
			if n >= 2 && !bytes.Equal(pkt, packet(n-2, 10)) {
				t.Fatalf("packet %d differs", n-2)
			}
			granule = g
		}
		if n != 2+7 || granule != 7*FrameSamples {
			t.Fatalf("the stream holds %d packets, the last granule %d; want 9 and %d", n, granule, 7*FrameSamples)
		}
		p.Finish() // idempotent
		p.WriteFrame(packet(7, 10))
		p.Finish()
		if p.Head() != 2 {
			t.Fatalf("published after Finish: %d chunks", p.Head())
		}
	}
}
