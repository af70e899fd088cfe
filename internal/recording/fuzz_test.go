package recording

import (
	"bytes"
	"io"
	"testing"
	"time"
)

// memObject is an Object over bytes.
type memObject struct{ *bytes.Reader }

func (o memObject) ModTime() time.Time { return time.Time{} }
func (o memObject) Close() error       { return nil }

// FuzzScan: the page reader behind repair, seeks and cuts takes any bytes a
// crash (or a damaged disk) leaves in a file without panicking, and never
// reports a valid end beyond the data; cutting what it accepts works.
func FuzzScan(f *testing.F) {
	f.Add([]byte("OggS"))
	f.Add(appendEOS(opusHeaders(7, 1), 0, 7, 2))
	pages := opusHeaders(7, 1)
	for i := range 5 {
		pages = buildPage(pages, 0, int64(960*(i+1)), 7, uint32(2+i), [][]byte{{0xf8, 0xff, 0xfe}})
	}
	f.Add(pages)
	f.Add(pages[:len(pages)-3])
	f.Fuzz(func(t *testing.T, b []byte) {
		o := memObject{bytes.NewReader(b)}
		end, granule, _, idx, err := scan(o)
		if err != nil {
			return
		}
		if end > int64(len(b)) {
			t.Fatalf("valid end %d past %d bytes", end, len(b))
		}
		for _, e := range idx {
			if e.Offset >= end || e.Granule > granule {
				t.Fatalf("index entry %+v past the end %d (granule %d)", e, end, granule)
			}
		}
		cut(io.Discard, o, end, idx, 0, -1, 9)
	})
}
