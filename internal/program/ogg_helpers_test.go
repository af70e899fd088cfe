package program

import (
	"bytes"
	"encoding/binary"
	"io"
	"testing"

	"majlis/internal/testkit"
)

// appendRawPage builds a page with an explicit lacing table, to make pages
// whose packets continue onto the next page (appendOggPage never does).
func appendRawPage(dst []byte, flags byte, granule int64, serial, seq uint32, lacing, body []byte) []byte {
	start := len(dst)
	dst = append(dst, "OggS"...)
	dst = append(dst, 0, flags)
	dst = binary.LittleEndian.AppendUint64(dst, uint64(granule))
	dst = binary.LittleEndian.AppendUint32(dst, serial)
	dst = binary.LittleEndian.AppendUint32(dst, seq)
	dst = append(dst, 0, 0, 0, 0, byte(len(lacing)))
	dst = append(dst, lacing...)
	dst = append(dst, body...)
	binary.LittleEndian.PutUint32(dst[start+22:], oggCRC(0, dst[start:]))
	return dst
}

func TestOggReaderContinuedPacket(t *testing.T) {
	const serial = 99
	p := New(Config{Serial: serial})
	big := packet(5, 300)
	for _, tc := range []struct {
		name  string
		pages func([]byte) []byte
		want  [][]byte
		gaps  int
	}{
		{"across pages", func(b []byte) []byte {
			b = appendRawPage(b, 0, -1, serial, 2, []byte{255}, big[:255])
			return appendRawPage(b, oggFlagContinued, 960, serial, 3, []byte{45, 3}, append(big[255:], silence20ms...))
		}, [][]byte{big, silence20ms}, 0},
		{"continuation after gap is dropped", func(b []byte) []byte {
			b = appendRawPage(b, 0, -1, serial, 2, []byte{255}, big[:255])
			return appendRawPage(b, oggFlagContinued, 960, serial, 5, []byte{45, 3}, append(big[255:], silence20ms...))
		}, [][]byte{silence20ms}, 1},
		{"unfinished packet is dropped", func(b []byte) []byte {
			b = appendRawPage(b, 0, -1, serial, 2, []byte{255}, big[:255])
			return appendRawPage(b, 0, 960, serial, 3, []byte{3}, silence20ms)
		}, [][]byte{silence20ms}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stream := tc.pages(append([]byte(nil), p.OggHeaders()...))
			r := testkit.NewOggReader(bytes.NewReader(stream))
			var got [][]byte
			for {
				pkt, _, err := r.NextPacket()
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, pkt)
			}
			got = got[2:]
			if len(got) != len(tc.want) || r.Gaps() != tc.gaps {
				t.Fatalf("got %d packets %d gaps, want %d and %d", len(got), r.Gaps(), len(tc.want), tc.gaps)
			}
			for i := range got {
				if !bytes.Equal(got[i], tc.want[i]) {
					t.Fatalf("packet %d differs", i)
				}
			}
		})
	}
}
