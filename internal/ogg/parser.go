package ogg

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Page layout (RFC 3533 section 6): a 27-byte header, a segment table of up
// to 255 lacing values, then the body.
const (
	HeaderLen = 27

	FlagContinued = 0x01
	FlagBOS       = 0x02
	FlagEOS       = 0x04
)

// Errors of Parser.Next; returned errors wrap one of them.
var (
	ErrCapture = errors.New("ogg: bad capture pattern")
	ErrCRC     = errors.New("ogg: page checksum mismatch")
	ErrStream  = errors.New("ogg: unexpected stream structure")
)

// Token says what the bytes Next consumed were.
type Token uint8

const (
	None    Token = iota // nothing complete: more bytes are needed
	Header               // a page header completed (Page describes it)
	Lacing               // lacing values of the page
	Body                 // body bytes of the page
	PageEnd              // the page is complete and its checksum matched (no bytes)
)

// Page describes the page being read.
type Page struct {
	Flags    byte
	Granule  int64
	Serial   uint32
	Seq      uint32
	Segments int  // lacing values
	Gap      bool // the sequence number does not follow the previous page's
	// Packets is how many packets end on the page (lacing values below
	// 255); complete once the lacing is read.
	Packets int
}

// States of a Parser.
const (
	stHeader uint8 = iota
	stLacing
	stBody
	stEnd
)

// Parser reads Ogg pages from bytes fed in any pieces. The zero value is
// ready for the first page.
type Parser struct {
	hdr     [HeaderLen]byte
	hdrN    uint8
	state   uint8
	segLeft uint8 // lacing values still to come
	packets uint8
	gap     bool
	started bool
	body    int32 // body bytes still to come
	crc     uint32
	lastSeq uint32
	gaps    uint32
}

// Gaps is how many page sequence discontinuities were seen so far.
func (p *Parser) Gaps() int { return int(p.gaps) }

// Between reports whether the parser is between pages (a stream may end
// cleanly here).
func (p *Parser) Between() bool { return p.state == stHeader && p.hdrN == 0 }

// Page describes the current page (after Header).
func (p *Parser) Page() Page {
	h := p.hdr[:]
	return Page{
		Flags:    h[5],
		Granule:  int64(binary.LittleEndian.Uint64(h[6:])),
		Serial:   binary.LittleEndian.Uint32(h[14:]),
		Seq:      binary.LittleEndian.Uint32(h[18:]),
		Segments: int(h[26]),
		Gap:      p.gap,
		Packets:  int(p.packets),
	}
}

// Next consumes bytes from the start of b and reports what they were: it
// returns the number of bytes used and their Token. None means b was used
// up (or was empty) without completing anything; PageEnd uses no bytes. A
// caller calls Next until it returns None, then feeds the next piece. After
// an error the stream is broken.
func (p *Parser) Next(b []byte) (n int, tok Token, err error) {
	switch p.state {
	case stHeader:
		if len(b) == 0 {
			return 0, None, nil
		}
		n = copy(p.hdr[p.hdrN:], b)
		p.hdrN += uint8(n)
		if p.hdrN < HeaderLen {
			return n, None, nil
		}
		if err := p.startPage(); err != nil {
			return n, None, err
		}
		return n, Header, nil
	case stLacing:
		if len(b) == 0 {
			return 0, None, nil
		}
		n = min(len(b), int(p.segLeft))
		for _, s := range b[:n] {
			p.body += int32(s)
			if s < 255 {
				p.packets++
			}
		}
		p.crc = CRC(p.crc, b[:n])
		p.segLeft -= uint8(n)
		if p.segLeft == 0 {
			p.state = stBody
			if p.body == 0 {
				p.state = stEnd
			}
		}
		return n, Lacing, nil
	case stBody:
		if len(b) == 0 {
			return 0, None, nil
		}
		n = min(len(b), int(p.body))
		p.crc = CRC(p.crc, b[:n])
		p.body -= int32(n)
		if p.body == 0 {
			p.state = stEnd
		}
		return n, Body, nil
	}
	// stEnd
	p.state, p.hdrN = stHeader, 0
	if want := binary.LittleEndian.Uint32(p.hdr[22:]); p.crc != want {
		return 0, None, fmt.Errorf("%w: page %d", ErrCRC, binary.LittleEndian.Uint32(p.hdr[18:]))
	}
	return 0, PageEnd, nil
}

// startPage checks a complete header and sets up the rest of the page.
func (p *Parser) startPage() error {
	h := &p.hdr
	if string(h[:4]) != "OggS" {
		return ErrCapture
	}
	if h[4] != 0 {
		return fmt.Errorf("%w: version %d", ErrStream, h[4])
	}
	zeroed := *h
	zeroed[22], zeroed[23], zeroed[24], zeroed[25] = 0, 0, 0, 0
	p.crc = CRC(0, zeroed[:])
	seq := binary.LittleEndian.Uint32(h[18:])
	p.gap = p.started && seq != p.lastSeq+1
	if p.gap {
		p.gaps++
	}
	p.started, p.lastSeq = true, seq
	p.segLeft, p.packets, p.body = h[26], 0, 0
	p.state = stLacing
	if p.segLeft == 0 {
		p.state = stEnd
	}
	return nil
}

// Check parses b as exactly one whole page (a reader with random access,
// such as a recording's, reads a page's bytes itself and checks them
// here): its description, or the Parser's error when the capture pattern
// or the checksum is wrong, or ErrStream when b is not one page.
func Check(b []byte) (Page, error) {
	var p Parser
	for off := 0; ; {
		n, tok, err := p.Next(b[off:])
		if err != nil {
			return Page{}, err
		}
		off += n
		switch tok {
		case PageEnd:
			if off != len(b) {
				return Page{}, fmt.Errorf("%w: %d bytes after the page", ErrStream, len(b)-off)
			}
			return p.Page(), nil
		case None:
			return Page{}, fmt.Errorf("%w: the page is cut short", ErrStream)
		}
	}
}
