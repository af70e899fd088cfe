package ogg

import (
	"encoding/binary"
	"errors"
	"testing"
)

// page builds one page holding packets (each under 255 bytes).
func page(flags byte, granule int64, seq uint32, packets ...[]byte) []byte {
	b := []byte("OggS")
	b = append(b, 0, flags)
	b = binary.LittleEndian.AppendUint64(b, uint64(granule))
	b = binary.LittleEndian.AppendUint32(b, 7)
	b = binary.LittleEndian.AppendUint32(b, seq)
	b = append(b, 0, 0, 0, 0, byte(len(packets)))
	for _, p := range packets {
		b = append(b, byte(len(p)))
	}
	for _, p := range packets {
		b = append(b, p...)
	}
	binary.LittleEndian.PutUint32(b[22:], CRC(0, b))
	return b
}

// parse feeds b to a parser in pieces of step bytes and returns the pages
// completed, the body bytes seen and the error, if any.
func parse(b []byte, step int) (pages []Page, body int, err error) {
	var p Parser
	for i := 0; i < len(b); i += step {
		piece := b[i:min(i+step, len(b))]
		for {
			n, tok, err := p.Next(piece)
			piece = piece[n:]
			if err != nil {
				return pages, body, err
			}
			switch tok {
			case Body:
				body += n
			case PageEnd:
				pages = append(pages, p.Page())
			}
			if tok == None {
				break
			}
		}
	}
	return pages, body, nil
}

func TestCRC(t *testing.T) {
	if got, want := CRC(0, []byte("123456789")), uint32(0x765e7680^0xffffffff); got != want {
		t.Fatalf("CRC = %08x, want %08x", got, want)
	}
}

func TestParser(t *testing.T) {
	stream := page(FlagBOS, 0, 0, []byte("OpusHead........."))
	stream = append(stream, page(0, 960, 1, []byte{1, 2, 3}, []byte{4})...)
	stream = append(stream, page(0, 1920, 5)...) // a gap, no packets
	for step := 1; step <= len(stream); step++ {
		pages, body, err := parse(stream, step)
		if err != nil {
			t.Fatalf("step %d: %v", step, err)
		}
		if len(pages) != 3 || body != 17+4 {
			t.Fatalf("step %d: %d pages, %d body bytes", step, len(pages), body)
		}
		if pages[1].Packets != 2 || pages[1].Granule != 960 || pages[1].Gap || !pages[2].Gap || pages[0].Flags != FlagBOS {
			t.Fatalf("step %d: pages %+v", step, pages)
		}
	}
	bad := append([]byte(nil), stream...)
	bad[len(stream)-30] ^= 1 // in the second page's body
	if _, _, err := parse(bad, 7); !errors.Is(err, ErrCRC) {
		t.Fatalf("corrupt page: %v, want ErrCRC", err)
	}
	if _, _, err := parse(append([]byte("OggX"), stream[4:]...), 5); !errors.Is(err, ErrCapture) {
		t.Fatalf("bad capture: %v, want ErrCapture", err)
	}
}

// TestCheck: one whole page checks and is described; a flipped byte, a cut
// page, trailing bytes or a wrong capture pattern do not.
func TestCheck(t *testing.T) {
	b := page(2, 960, 7, []byte("hello"), make([]byte, 200))
	pg, err := Check(b)
	if err != nil || pg.Flags != 2 || pg.Granule != 960 || pg.Seq != 7 || pg.Packets != 2 {
		t.Fatalf("Check = %+v, %v", pg, err)
	}
	bad := append([]byte(nil), b...)
	bad[len(bad)-1] ^= 1
	for name, c := range map[string]struct {
		b    []byte
		want error
	}{
		"flipped": {bad, ErrCRC},
		"cut":     {b[:len(b)-1], ErrStream},
		"longer":  {append(append([]byte(nil), b...), 0), ErrStream},
		"capture": {append([]byte("OggX"), b[4:]...), ErrCapture},
		"empty":   {nil, ErrStream},
	} {
		if _, err := Check(c.b); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", name, err, c.want)
		}
	}
}
