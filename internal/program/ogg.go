package program

import (
	"encoding/binary"

	"majlis/internal/ogg"
)

// Ogg page layout (RFC 3533): a 27-byte header, a segment table of up to 255
// lacing values, then the packet data.
const (
	oggHeaderLen   = 27
	oggMaxSegments = 255

	oggFlagContinued = 0x01
	oggFlagBOS       = 0x02
	oggFlagEOS       = 0x04
)

// oggCRC is the Ogg page checksum (package ogg).
func oggCRC(crc uint32, b []byte) uint32 { return ogg.CRC(crc, b) }

// lacingSegments is how many segment-table entries a packet of n bytes
// needs: one per full 255 bytes plus a final entry below 255 (possibly 0).
func lacingSegments(n int) int { return n/255 + 1 }

// oggPageLen is the size of the page appendOggPage builds for packets.
func oggPageLen(packets [][]byte) int {
	n := oggHeaderLen
	for _, p := range packets {
		n += lacingSegments(len(p)) + len(p)
	}
	return n
}

// appendOggPage appends one complete Ogg page holding the whole packets to
// dst. The caller guarantees the lacing fits in one page (at most 255
// segments); New and WriteFrame enforce that with maxChunkFrames and
// MaxPacket.
func appendOggPage(dst []byte, flags byte, granule int64, serial, seq uint32, packets [][]byte) []byte {
	start := len(dst)
	nseg := 0
	for _, p := range packets {
		nseg += lacingSegments(len(p))
	}
	var h [oggHeaderLen]byte
	copy(h[:], "OggS")
	h[4] = 0 // stream structure version
	h[5] = flags
	binary.LittleEndian.PutUint64(h[6:], uint64(granule))
	binary.LittleEndian.PutUint32(h[14:], serial)
	binary.LittleEndian.PutUint32(h[18:], seq)
	// h[22:26] CRC, filled below over the page with this field zeroed.
	h[26] = byte(nseg)
	dst = append(dst, h[:]...)
	for _, p := range packets {
		n := len(p)
		for n >= 255 {
			dst = append(dst, 255)
			n -= 255
		}
		dst = append(dst, byte(n))
	}
	for _, p := range packets {
		dst = append(dst, p...)
	}
	binary.LittleEndian.PutUint32(dst[start+22:], oggCRC(0, dst[start:]))
	return dst
}

// opusHead is the identification header of RFC 7845 section 5.1 for
// channel mapping family 0 (mono or stereo).
func opusHead(channels int, preSkip uint16) []byte {
	b := make([]byte, 19)
	copy(b, "OpusHead")
	b[8] = 1 // version
	b[9] = byte(channels)
	binary.LittleEndian.PutUint16(b[10:], preSkip)
	binary.LittleEndian.PutUint32(b[12:], SampleRate) // input sample rate, informational
	binary.LittleEndian.PutUint16(b[16:], 0)          // output gain
	b[18] = 0                                         // mapping family 0
	return b
}

// opusTags is the comment header of RFC 7845 section 5.2 with no comments.
func opusTags(vendor string) []byte {
	b := make([]byte, 0, 16+len(vendor))
	b = append(b, "OpusTags"...)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(vendor)))
	b = append(b, vendor...)
	b = binary.LittleEndian.AppendUint32(b, 0) // user comment list length
	return b
}
