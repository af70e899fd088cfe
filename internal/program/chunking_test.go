package program

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"io"
	"net/http/httputil"
	"testing"

	"majlis/internal/testkit"
)

// TestAdaptiveChunkLength: SetChunkFrames changes the length of the next
// chunks, numbering and granules stay continuous, and the wire forms
// (chunked HTTP, WebSocket frame) wrap exactly the shared page and payload.
func TestAdaptiveChunkLength(t *testing.T) {
	p := New(Config{ChunkFrames: 2})
	var want [][]byte
	write := func(frames int) {
		for range frames {
			pkt := packet(len(want), 80)
			want = append(want, pkt)
			p.WriteFrame(pkt)
		}
	}
	write(4) // 2 chunks of 2
	p.SetChunkFrames(10)
	write(20) // 2 chunks of 10
	p.SetChunkFrames(MaxChunkFrames + 10)
	if p.ChunkFrames() != MaxChunkFrames {
		t.Fatalf("ChunkFrames %d, want clamped to %d", p.ChunkFrames(), MaxChunkFrames)
	}
	write(MaxChunkFrames) // 1 chunk of 50 (1 s)
	if p.Head() != 5 {
		t.Fatalf("Head %d, want 5", p.Head())
	}
	var http, ws bytes.Buffer
	http.Write(p.OggHeadersHTTP())
	for i, n := range []int{2, 2, 10, 10, 50} {
		c := p.Chunk(uint64(i))
		if len(c.Frames) != n {
			t.Fatalf("chunk %d: %d frames, want %d", i, len(c.Frames), n)
		}
		http.Write(c.OggHTTP)
		ws.Write(c.WSFrame)
	}
	// The chunked body decodes to the plain Ogg stream.
	http.WriteString("0\r\n\r\n")
	body, err := io.ReadAll(httputil.NewChunkedReader(&http))
	if err != nil {
		t.Fatal(err)
	}
	r := testkit.NewOggReader(bytes.NewReader(body))
	var got [][]byte
	for n := 0; ; n++ {
		pkt, g, err := r.NextPacket()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if n < 2 {
			continue
		}
		got = append(got, pkt)
		if g >= 0 && g != int64(len(got))*FrameSamples {
			t.Fatalf("granule %d after %d packets", g, len(got))
		}
	}
	if len(got) != len(want) {
		t.Fatalf("ogg: %d packets, want %d", len(got), len(want))
	}
	for i := range want {
		if !bytes.Equal(got[i], want[i]) {
			t.Fatalf("ogg packet %d differs", i)
		}
	}
	// Each WebSocket frame is final, binary, unmasked, with the payload length.
	br := bufio.NewReader(&ws)
	next := uint64(0)
	for i := range 5 {
		var h [4]byte
		if _, err := io.ReadFull(br, h[:2]); err != nil {
			t.Fatal(err)
		}
		if h[0] != 0x82 || h[1]&0x80 != 0 {
			t.Fatalf("frame %d header % x", i, h[:2])
		}
		n := int(h[1])
		if n == 126 {
			io.ReadFull(br, h[2:4])
			n = int(binary.BigEndian.Uint16(h[2:4]))
		}
		msg := make([]byte, n)
		if _, err := io.ReadFull(br, msg); err != nil {
			t.Fatal(err)
		}
		m, err := ParseWS(msg)
		if err != nil || m.FirstSeq != next {
			t.Fatalf("frame %d: first %d (want %d): %v", i, m.FirstSeq, next, err)
		}
		next += uint64(len(m.Frames))
	}
}

// TestChunkCutAtPageLimit: large packets end a chunk early rather than
// overflow the 255 lacing values of one Ogg page.
func TestChunkCutAtPageLimit(t *testing.T) {
	p := New(Config{ChunkFrames: MaxChunkFrames})
	for i := range MaxChunkFrames {
		p.WriteFrame(packet(i, MaxPacket)) // 6 lacing values each: 42 fit a page
	}
	if p.Head() != 1 || len(p.Chunk(0).Frames) != 42 {
		t.Fatalf("head %d, first chunk %d frames; want one chunk of 42", p.Head(), len(p.Chunk(0).Frames))
	}
}

func TestChunkFramesFor(t *testing.T) {
	for _, tc := range []struct{ listeners, min, max, want int }{
		{0, 2, 50, 2}, {499, 2, 50, 2}, {500, 2, 50, 5}, {5000, 2, 50, 10}, {10000, 2, 50, 25},
		{100000, 2, 50, 50}, {100000, 2, 10, 10}, {0, 10, 10, 10},
	} {
		if got := ChunkFramesFor(tc.listeners, DefaultChunkSteps, tc.min, tc.max); got != tc.want {
			t.Errorf("ChunkFramesFor(%d, [%d,%d]) = %d, want %d", tc.listeners, tc.min, tc.max, got, tc.want)
		}
	}
}

// TestFramesToChunkEnd: what a mixer asks to wake once per chunk.
func TestFramesToChunkEnd(t *testing.T) {
	p := New(Config{ChunkFrames: 10})
	for i := range 23 {
		if got, want := p.FramesToChunkEnd(), 10-i%10; got != want {
			t.Fatalf("after %d frames: %d to the chunk's end, want %d", i, got, want)
		}
		p.WriteFrame(packet(i, 80))
	}
	p.SetChunkFrames(2) // 3 frames pending: the next frame publishes them
	if got := p.FramesToChunkEnd(); got != 1 {
		t.Fatalf("3 pending, chunks of 2: %d to the chunk's end, want 1", got)
	}
	p.WriteFrame(packet(23, 80))
	if got := p.FramesToChunkEnd(); got != 2 || p.Head() != 3 {
		t.Fatalf("after the shortened chunk: %d to the chunk's end (want 2), head %d (want 3)", got, p.Head())
	}
}
