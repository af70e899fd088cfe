package recording

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"majlis/internal/ogg"
	"majlis/internal/program"
)

// Ogg page layout (RFC 3533 section 6): a 27-byte header (capture pattern,
// version, flags, granule position at 6, serial at 14, sequence at 18,
// checksum at 22, segment count at 26), the segment table, the body.
const (
	pageHeaderLen = ogg.HeaderLen
	maxPageLen    = pageHeaderLen + 255 + 255*255
)

// errTorn: no complete, valid page at this offset (the end of a file cut
// by a crash, or not an Ogg page at all).
var errTorn = errors.New("recording: torn or invalid Ogg page")

// pageAt is one page of an object.
type pageAt struct {
	off     int64
	n       int // bytes
	flags   byte
	granule int64
	serial  uint32
	seq     uint32
	segs    int
}

// readPage reads and checks the page at off (below limit) into buf and
// returns it with the page's bytes (a slice of buf, grown as needed).
func readPage(r io.ReaderAt, off, limit int64, buf []byte) (pageAt, []byte, error) {
	if off+pageHeaderLen > limit {
		return pageAt{}, buf, errTorn
	}
	buf = grow(buf, pageHeaderLen+255)
	if _, err := r.ReadAt(buf[:pageHeaderLen], off); err != nil {
		return pageAt{}, buf, fmt.Errorf("%w: %v", errTorn, err)
	}
	nseg := int(buf[26])
	if off+int64(pageHeaderLen+nseg) > limit {
		return pageAt{}, buf, errTorn
	}
	if _, err := r.ReadAt(buf[pageHeaderLen:pageHeaderLen+nseg], off+pageHeaderLen); err != nil {
		return pageAt{}, buf, fmt.Errorf("%w: %v", errTorn, err)
	}
	body := 0
	for _, s := range buf[pageHeaderLen : pageHeaderLen+nseg] {
		body += int(s)
	}
	n := pageHeaderLen + nseg + body
	if off+int64(n) > limit {
		return pageAt{}, buf, errTorn
	}
	buf = grow(buf, n)
	if _, err := r.ReadAt(buf[pageHeaderLen+nseg:n], off+int64(pageHeaderLen+nseg)); err != nil {
		return pageAt{}, buf, fmt.Errorf("%w: %v", errTorn, err)
	}
	pg, err := ogg.Check(buf[:n])
	if err != nil {
		return pageAt{}, buf, errTorn
	}
	return pageAt{off: off, n: n, flags: pg.Flags, granule: pg.Granule, serial: pg.Serial, seq: pg.Seq, segs: pg.Segments}, buf[:n], nil
}

func grow(b []byte, n int) []byte {
	if cap(b) < n {
		nb := make([]byte, n, max(n, 2*cap(b)))
		copy(nb, b)
		return nb
	}
	return b[:n]
}

// appendPage appends page src to dst with its flags, granule position,
// serial and sequence number replaced and the checksum recomputed: the
// packets are copied, never decoded.
func appendPage(dst, src []byte, flags byte, granule int64, serial, seq uint32) []byte {
	start := len(dst)
	dst = append(dst, src...)
	h := dst[start:]
	h[5] = flags
	binary.LittleEndian.PutUint64(h[6:], uint64(granule))
	binary.LittleEndian.PutUint32(h[14:], serial)
	binary.LittleEndian.PutUint32(h[18:], seq)
	binary.LittleEndian.PutUint32(h[22:], 0)
	binary.LittleEndian.PutUint32(h[22:], ogg.CRC(0, h))
	return dst
}

// appendEOS appends an empty page that ends the stream (RFC 3533: the
// last page carries the end-of-stream flag; a page may hold no segments).
func appendEOS(dst []byte, granule int64, serial, seq uint32) []byte {
	var h [pageHeaderLen]byte
	copy(h[:], "OggS")
	return appendPage(dst, h[:], ogg.FlagEOS, granule, serial, seq)
}

// headers returns the OpusHead and OpusTags pages of a program, with the
// serial of the file they start.
func headers(p *program.Program, serial uint32) []byte {
	src := p.OggHeaders()
	var out []byte
	off := 0
	for seq := uint32(0); off < len(src); seq++ {
		n := rawPageLen(src[off:])
		if n <= 0 {
			break
		}
		out = appendPage(out, src[off:off+n], src[off+5], 0, serial, seq)
		off += n
	}
	return out
}

// rawPageLen is the length of the complete page at the start of b, or 0.
func rawPageLen(b []byte) int {
	if len(b) < pageHeaderLen {
		return 0
	}
	nseg := int(b[26])
	if len(b) < pageHeaderLen+nseg {
		return 0
	}
	n := pageHeaderLen + nseg
	for _, s := range b[pageHeaderLen : pageHeaderLen+nseg] {
		n += int(s)
	}
	if len(b) < n {
		return 0
	}
	return n
}

// pageSamples is the audio one program page holds: every program frame is
// 20 ms (program.FrameSamples at 48 kHz).
func pageSamples(c *program.Chunk) int64 { return int64(len(c.Frames)) * program.FrameSamples }

// buildPage appends one Ogg page holding whole packets (at most 255
// lacing values between them; the caller keeps to that).
func buildPage(dst []byte, flags byte, granule int64, serial, seq uint32, packets [][]byte) []byte {
	start := len(dst)
	var h [pageHeaderLen]byte
	copy(h[:], "OggS")
	h[5] = flags
	binary.LittleEndian.PutUint64(h[6:], uint64(granule))
	binary.LittleEndian.PutUint32(h[14:], serial)
	binary.LittleEndian.PutUint32(h[18:], seq)
	nseg := 0
	for _, p := range packets {
		nseg += len(p)/255 + 1
	}
	h[26] = byte(nseg)
	dst = append(dst, h[:]...)
	for _, p := range packets {
		n := len(p)
		for ; n >= 255; n -= 255 {
			dst = append(dst, 255)
		}
		dst = append(dst, byte(n))
	}
	for _, p := range packets {
		dst = append(dst, p...)
	}
	binary.LittleEndian.PutUint32(dst[start+22:], ogg.CRC(0, dst[start:]))
	return dst
}

// opusHeaders are the OpusHead and OpusTags pages (RFC 7845 section 5)
// of a stream of channels (1 or 2) starting at sequence 0.
func opusHeaders(serial uint32, channels int) []byte {
	head := make([]byte, 19)
	copy(head, "OpusHead")
	head[8], head[9] = 1, byte(channels)
	binary.LittleEndian.PutUint16(head[10:], 312)
	binary.LittleEndian.PutUint32(head[12:], 48000)
	tags := []byte("OpusTags")
	tags = binary.LittleEndian.AppendUint32(tags, 6)
	tags = append(tags, "majlis"...)
	tags = binary.LittleEndian.AppendUint32(tags, 0)
	out := buildPage(nil, ogg.FlagBOS, 0, serial, 0, [][]byte{head})
	return buildPage(out, 0, 0, serial, 1, [][]byte{tags})
}

// opusSamples is the duration of an Opus packet in 48 kHz samples from its
// TOC byte and frame count (RFC 6716 section 3.1); 960 when unreadable.
func opusSamples(p []byte) int64 {
	if len(p) == 0 {
		return 960
	}
	cfg := p[0] >> 3
	var frame int64
	switch {
	case cfg < 12: // SILK: 10, 20, 40, 60 ms
		frame = []int64{480, 960, 1920, 2880}[cfg&3]
	case cfg < 16: // hybrid: 10, 20 ms
		frame = []int64{480, 960}[cfg&1]
	default: // CELT: 2.5, 5, 10, 20 ms
		frame = []int64{120, 240, 480, 960}[cfg&3]
	}
	n := int64(1)
	switch p[0] & 3 {
	case 1, 2:
		n = 2
	case 3:
		if len(p) < 2 {
			return 960
		}
		n = int64(p[1] & 0x3f)
	}
	if s := frame * n; s > 0 && s <= 5760 {
		return s
	}
	return 960
}
