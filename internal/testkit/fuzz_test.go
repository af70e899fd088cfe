package testkit

import (
	"bytes"
	"errors"
	"io"
	"testing"
)

// The seed corpus lives in testdata/fuzz/FuzzOggReader; go test runs it as
// a regular test, `go test -fuzz FuzzOggReader` explores from it.

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
