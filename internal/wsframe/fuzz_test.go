package wsframe

import (
	"bytes"
	"testing"
)

// The seed corpus lives in testdata/fuzz/FuzzParser; go test runs it as a
// regular test, `go test -fuzz FuzzParser` explores from it.

// parseAll runs b through a fresh parser in pieces of step bytes and
// returns what it saw: each header and its payload bytes, and whether the
// stream ended between frames.
func parseAll(b []byte, step int) (hs []Header, payloads [][]byte, between bool) {
	var p Parser
	for i := 0; i < len(b); {
		piece := b[i:min(i+step, len(b))]
		for len(piece) > 0 {
			if p.InPayload() {
				pl, off := p.Payload(piece)
				if want := hs[len(hs)-1].Len - p.Left() - uint64(len(pl)); off != want {
					panic("payload offset out of step")
				}
				payloads[len(payloads)-1] = append(payloads[len(payloads)-1], pl...)
				piece = piece[len(pl):]
				continue
			}
			n, ok := p.ReadHeader(piece)
			if n == 0 {
				panic("ReadHeader took nothing")
			}
			piece = piece[n:]
			if ok {
				hs = append(hs, p.Header())
				payloads = append(payloads, nil)
			}
		}
		i += step
	}
	return hs, payloads, p.Between()
}

// FuzzParser: any bytes, split anywhere, parse to the same frames as the
// whole, and every complete frame re-encodes to the bytes it came from.
func FuzzParser(f *testing.F) {
	f.Add(AppendFrame(nil, OpBinary, []byte("chunk")), uint8(1))
	f.Add(AppendMasked(nil, OpPing, [4]byte{9, 8, 7, 6}, []byte("are you there")), uint8(3))
	f.Add(append([]byte{0x82, 127}, 0, 0, 0, 0, 0, 1, 0, 0), uint8(2))
	f.Add(CloseFrame(CloseNormal, "room ended"), uint8(7))
	f.Fuzz(func(t *testing.T, b []byte, split uint8) {
		hs, ps, between := parseAll(b, len(b)+1)
		step := int(split%16) + 1
		hs2, ps2, between2 := parseAll(b, step)
		if len(hs) != len(hs2) || between != between2 {
			t.Fatalf("split every %d: %d frames (between %v), whole: %d (%v)", step, len(hs2), between2, len(hs), between)
		}
		var re []byte
		for i := range hs {
			if hs[i] != hs2[i] || !bytes.Equal(ps[i], ps2[i]) {
				t.Fatalf("frame %d differs when split every %d", i, step)
			}
			if uint64(len(ps[i])) > hs[i].Len {
				t.Fatalf("frame %d: %d payload bytes for length %d", i, len(ps[i]), hs[i].Len)
			}
			re = appendHeaderAs(re, hs[i], b[len(re):])
			re = append(re, ps[i]...)
		}
		if !bytes.HasPrefix(b, re) {
			t.Fatalf("frames re-encode to %x, not a prefix of %x", re, b)
		}
	})
}

// appendHeaderAs appends h encoded with the same length form as orig (which
// starts with h's header): the parser accepts non-minimal lengths.
func appendHeaderAs(dst []byte, h Header, orig []byte) []byte {
	b0 := h.RSV | h.Op
	if h.Fin {
		b0 |= 0x80
	}
	form := orig[1] & 0x7f
	b1 := form
	if h.Masked {
		b1 |= 0x80
	}
	dst = append(dst, b0, b1)
	switch form {
	case 126:
		dst = append(dst, byte(h.Len>>8), byte(h.Len))
	case 127:
		for s := 56; s >= 0; s -= 8 {
			dst = append(dst, byte(h.Len>>s))
		}
	}
	if h.Masked {
		dst = append(dst, h.Key[:]...)
	}
	return dst
}
