package recording

import (
	"encoding/binary"
	"io"
	"sort"
)

// The side index of a recording: about one entry per second of audio, each
// the granule position (48 kHz samples from the start) at which a page
// begins and that page's byte offset. A seek reads the last entry at or
// before the wanted time and scans at most about a second of pages from
// there. Entries are fixed 16-byte records, so a torn last record (a
// crash) is simply dropped; the index is rebuilt from the pages whenever a
// recording is recovered.
const (
	indexEvery  = 48000 // samples between entries: 1 s
	indexRecLen = 16
)

type indexEntry struct {
	Granule int64 // samples before the page
	Offset  int64 // the page's first byte
}

func appendIndex(dst []byte, e indexEntry) []byte {
	dst = binary.LittleEndian.AppendUint64(dst, uint64(e.Granule))
	return binary.LittleEndian.AppendUint64(dst, uint64(e.Offset))
}

func parseIndex(b []byte) []indexEntry {
	out := make([]indexEntry, 0, len(b)/indexRecLen)
	for ; len(b) >= indexRecLen; b = b[indexRecLen:] {
		out = append(out, indexEntry{int64(binary.LittleEndian.Uint64(b)), int64(binary.LittleEndian.Uint64(b[8:]))})
	}
	return out
}

func readIndex(o Object) ([]indexEntry, error) {
	b := make([]byte, o.Size()/indexRecLen*indexRecLen)
	if _, err := o.ReadAt(b, 0); err != nil && err != io.EOF {
		return nil, err
	}
	return parseIndex(b), nil
}

// seek returns the entry to start scanning from for granule g (the first
// audio page when no entry is at or before g).
func seek(idx []indexEntry, g int64) (indexEntry, bool) {
	i := sort.Search(len(idx), func(i int) bool { return idx[i].Granule > g })
	if i == 0 {
		return indexEntry{}, false
	}
	return idx[i-1], true
}
