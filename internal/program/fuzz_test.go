package program

import (
	"bytes"
	"errors"
	"io"
	"testing"
)

// The seed corpora live in testdata/fuzz/<FuzzName>; go test runs them as
// regular tests, `go test -fuzz FuzzX` explores from them.

func FuzzParseWS(f *testing.F) {
	f.Fuzz(func(t *testing.T, msg []byte) {
		m, err := ParseWS(msg)
		if err != nil {
			return
		}
		// Anything accepted re-encodes to the same bytes.
		if len(m.Frames) == 0 || len(m.Frames) > 255 || m.FrameSamples == 0 {
			t.Fatalf("accepted invalid message %+v", m)
		}
		n := wsHeaderLen
		for _, fr := range m.Frames {
			n += 2 + len(fr)
		}
		if n != len(msg) {
			t.Fatalf("frames cover %d of %d bytes", n, len(msg))
		}
	})
}

func FuzzOggReader(f *testing.F) {
	f.Fuzz(func(t *testing.T, stream []byte) {
		r := NewOggReader(bytes.NewReader(stream))
		total := 0
		for i := 0; ; i++ {
			pkt, _, err := r.NextPacket()
			if err != nil {
				if i == 0 && errors.Is(err, io.EOF) && len(stream) != 0 {
					t.Fatalf("io.EOF from a non-empty stream with no packet")
				}
				return
			}
			if len(pkt) > MaxOggPacket {
				t.Fatalf("packet of %d bytes exceeds MaxOggPacket", len(pkt))
			}
			total += len(pkt)
			if total > len(stream) {
				t.Fatalf("read %d packet bytes from a %d-byte stream", total, len(stream))
			}
			if i == 0 && !bytes.HasPrefix(pkt, []byte("OpusHead")) {
				t.Fatalf("first packet %q is not OpusHead", pkt)
			}
		}
	})
}
