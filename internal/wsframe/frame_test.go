package wsframe

import (
	"bytes"
	"errors"
	"testing"
)

func TestAcceptKey(t *testing.T) {
	// RFC 6455 section 1.3's example.
	if got := AcceptKey("dGhlIHNhbXBsZSBub25jZQ=="); got != "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" {
		t.Fatalf("AcceptKey = %q", got)
	}
}

// frames parses b whole and returns each frame's header and (unmasked) payload.
func frames(t *testing.T, b []byte) ([]Header, [][]byte) {
	t.Helper()
	var p Parser
	var hs []Header
	var ps [][]byte
	for len(b) > 0 {
		if p.InPayload() {
			pl, off := p.Payload(b)
			b = b[len(pl):]
			h := hs[len(hs)-1]
			if h.Masked {
				ps[len(ps)-1] = AppendUnmasked(ps[len(ps)-1], pl, h.Key, off)
			} else {
				ps[len(ps)-1] = append(ps[len(ps)-1], pl...)
			}
			continue
		}
		n, ok := p.ReadHeader(b)
		b = b[n:]
		if ok {
			hs = append(hs, p.Header())
			ps = append(ps, []byte{})
		}
	}
	if !p.Between() {
		t.Fatalf("stream ends inside a frame")
	}
	return hs, ps
}

func TestRoundTrip(t *testing.T) {
	for _, n := range []int{0, 1, 125, 126, 127, 0xFFFF, 0x10000, 70000} {
		payload := bytes.Repeat([]byte{0xA5, 0x3C, 0x01}, n/3+1)[:n]
		var b []byte
		b = AppendFrame(b, OpBinary, payload)
		b = AppendMasked(b, OpText, [4]byte{1, 2, 3, 4}, payload)
		hs, ps := frames(t, b)
		if len(hs) != 2 {
			t.Fatalf("n=%d: %d frames", n, len(hs))
		}
		for i, want := range []Header{
			{Fin: true, Op: OpBinary, Len: uint64(n)},
			{Fin: true, Op: OpText, Masked: true, Key: [4]byte{1, 2, 3, 4}, Len: uint64(n)},
		} {
			if hs[i] != want || !bytes.Equal(ps[i], payload) {
				t.Fatalf("n=%d frame %d: %+v (%d bytes), want %+v", n, i, hs[i], len(ps[i]), want)
			}
			if err := hs[i].Check(hs[i].Masked); err != nil {
				t.Fatalf("n=%d frame %d: %v", n, i, err)
			}
		}
		// The shortest length encoding.
		wantHdr := 2
		if n >= 126 {
			wantHdr = 4
		}
		if n > 0xFFFF {
			wantHdr = 10
		}
		if got := len(AppendHeader(nil, OpBinary, n)); got != wantHdr {
			t.Fatalf("n=%d: header of %d bytes, want %d", n, got, wantHdr)
		}
	}
}

func TestCloseFrame(t *testing.T) {
	got := CloseFrame(CloseGoingAway, "bye")
	if want := []byte{0x88, 5, 0x03, 0xE9, 'b', 'y', 'e'}; !bytes.Equal(got, want) {
		t.Fatalf("CloseFrame = %x, want %x", got, want)
	}
}

func TestCheck(t *testing.T) {
	for _, tc := range []struct {
		name       string
		h          Header
		fromClient bool
		ok         bool
	}{
		{"client binary", Header{Fin: true, Op: OpBinary, Masked: true, Len: 10}, true, true},
		{"server binary", Header{Fin: true, Op: OpBinary, Len: 1 << 20}, false, true},
		{"client unmasked", Header{Fin: true, Op: OpText}, true, false},
		{"server masked", Header{Fin: true, Op: OpText, Masked: true}, false, false},
		{"reserved bit", Header{Fin: true, Op: OpText, RSV: 0x40, Masked: true}, true, false},
		{"opcode 3", Header{Fin: true, Op: 3}, false, false},
		{"opcode 0xB", Header{Fin: true, Op: 0xB}, false, false},
		{"continuation", Header{Op: OpContinuation}, false, true},
		{"ping 125", Header{Fin: true, Op: OpPing, Len: 125}, false, true},
		{"ping 126", Header{Fin: true, Op: OpPing, Len: 126}, false, false},
		{"fragmented close", Header{Op: OpClose, Masked: true}, true, false},
	} {
		err := tc.h.Check(tc.fromClient)
		if (err == nil) != tc.ok || err != nil && !errors.Is(err, ErrProtocol) {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
}
