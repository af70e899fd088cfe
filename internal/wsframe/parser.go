package wsframe

import "encoding/binary"

// Parser reads frames from a byte stream fed in arbitrary pieces. It keeps
// the bytes of the current frame's header and how much of its payload is
// still to come; payloads pass through without being copied. The zero
// value is ready to read the first frame.
type Parser struct {
	hdr  [MaxHeaderLen]byte
	hlen uint8 // header bytes gathered
	done bool  // hdr holds a complete header; its payload is being read
	left uint64
}

// headerLen is the length of the header whose first two bytes are b0, b1.
func headerLen(b1 byte) uint8 {
	n := uint8(2)
	switch b1 & 0x7f {
	case 126:
		n += 2
	case 127:
		n += 8
	}
	if b1&0x80 != 0 {
		n += 4
	}
	return n
}

// InPayload reports whether payload bytes of the current frame are still
// to come (Payload takes them); otherwise the next byte starts a header.
func (p *Parser) InPayload() bool { return p.done && p.left > 0 }

// Left is how many payload bytes of the current frame are still to come.
func (p *Parser) Left() uint64 { return p.left }

// ReadHeader takes header bytes from the start of b, and reports how many
// it took and whether the header is now complete (Header then describes
// the frame, until the next ReadHeader that takes a byte). It must not be
// called while InPayload.
func (p *Parser) ReadHeader(b []byte) (n int, complete bool) {
	if p.done {
		p.done, p.hlen = false, 0
	}
	for n < len(b) {
		p.hdr[p.hlen] = b[n]
		p.hlen++
		n++
		if p.hlen >= 2 && p.hlen == headerLen(p.hdr[1]) {
			p.done = true
			p.left = p.Header().Len
			return n, true
		}
	}
	return n, false
}

// Header decodes the header ReadHeader completed last.
func (p *Parser) Header() Header {
	b := p.hdr[:]
	h := Header{Fin: b[0]&0x80 != 0, RSV: b[0] & 0x70, Op: b[0] & 0x0f, Masked: b[1]&0x80 != 0}
	h.Len = uint64(b[1] & 0x7f)
	k := 2
	switch h.Len {
	case 126:
		h.Len = uint64(binary.BigEndian.Uint16(b[2:]))
		k = 4
	case 127:
		h.Len = binary.BigEndian.Uint64(b[2:])
		k = 10
	}
	if h.Masked {
		copy(h.Key[:], b[k:k+4])
	}
	return h
}

// Payload takes the current frame's payload bytes from the start of b: it
// returns them (aliasing b, at most Left of them) and their offset in the
// frame's payload.
func (p *Parser) Payload(b []byte) (payload []byte, off uint64) {
	k := min(p.left, uint64(len(b)))
	off = p.Header().Len - p.left
	p.left -= k
	return b[:k], off
}

// Between reports whether the stream is between two frames: no header or
// payload is partly read.
func (p *Parser) Between() bool { return (p.done && p.left == 0) || (!p.done && p.hlen == 0) }
