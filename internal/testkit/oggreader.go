package testkit

import (
	"bytes"
	"errors"
	"fmt"
	"io"

	"majlis/internal/ogg"
)

// MaxOggPacket bounds the size of a packet OggReader reassembles across
// pages, so hostile input cannot make it allocate without limit.
const MaxOggPacket = 256 << 10

// Errors of OggReader beyond package ogg's (ogg.ErrCapture, ogg.ErrCRC,
// ogg.ErrStream); returned errors wrap one of them (or an io error).
var (
	ErrOggTooLarge = errors.New("ogg: packet too large")
	ErrOpusHeader  = errors.New("ogg: bad Opus header")
)

// OggReader reads the packets of one Ogg/Opus logical stream (RFC 7845)
// from an io.Reader, blocking: package ogg's Parser checks every page (CRC,
// sequence gaps), and OggReader keeps each page's lacing and body to
// reassemble packets across lacing values and pages, and checks that the
// first two packets are OpusHead and OpusTags and that the stream is one
// logical stream.
//
// Page sequence gaps are accepted (a listener joining mid-stream sees one
// after the header pages); a packet cut by a gap is dropped, and Gaps counts
// the gaps seen.
type OggReader struct {
	r       io.Reader
	p       ogg.Parser
	buf     []byte // read from r, not yet parsed: buf[off:]
	off     int
	lacing  []byte // of the page being read
	page    []byte // body of the page being read
	started bool
	serial  uint32
	seq     uint32
	packets int // packets returned so far

	// Segments of the current page not yet returned.
	segs    []byte
	body    []byte
	granule int64
	partial []byte // packet continued from an earlier page
	inPart  bool
}

// NewOggReader reads Ogg pages from r.
func NewOggReader(r io.Reader) *OggReader {
	return &OggReader{r: r}
}

// Serial is the stream serial number (valid after the first packet).
func (o *OggReader) Serial() uint32 { return o.serial }

// PageSeq is the sequence number of the last page read.
func (o *OggReader) PageSeq() uint32 { return o.seq }

// Gaps is the number of page sequence discontinuities seen so far.
func (o *OggReader) Gaps() int { return o.p.Gaps() }

// NextPacket returns the next complete packet, a fresh copy the caller owns.
// granule is the granule position of the page the packet ends on when it is
// the last packet ending on that page, and -1 otherwise (as libogg does). At
// the end of the stream it returns io.EOF; a stream cut inside a page returns
// io.ErrUnexpectedEOF.
func (o *OggReader) NextPacket() (packet []byte, granule int64, err error) {
	for {
		for len(o.segs) > 0 {
			// Gather lacing values up to the end of a packet or of the page.
			n, i := 0, 0
			for i < len(o.segs) {
				n += int(o.segs[i])
				i++
				if o.segs[i-1] < 255 {
					break
				}
			}
			ends := o.segs[i-1] < 255
			data := o.body[:n]
			o.body = o.body[n:]
			o.segs = o.segs[i:]
			if len(o.partial)+len(data) > MaxOggPacket {
				return nil, 0, fmt.Errorf("%w: over %d bytes", ErrOggTooLarge, MaxOggPacket)
			}
			if !ends {
				o.partial = append(o.partial, data...)
				o.inPart = true
				continue
			}
			pkt := make([]byte, len(o.partial)+len(data))
			copy(pkt, o.partial)
			copy(pkt[len(o.partial):], data)
			o.partial = o.partial[:0]
			o.inPart = false
			g := int64(-1)
			if !packetEnds(o.segs) {
				g = o.granule
			}
			if err := o.checkHeader(pkt); err != nil {
				return nil, 0, err
			}
			o.packets++
			return pkt, g, nil
		}
		if err := o.readPage(); err != nil {
			return nil, 0, err
		}
	}
}

// packetEnds reports whether another packet ends within segs.
func packetEnds(segs []byte) bool {
	for _, s := range segs {
		if s < 255 {
			return true
		}
	}
	return false
}

func (o *OggReader) checkHeader(pkt []byte) error {
	switch o.packets {
	case 0:
		if len(pkt) < 19 || !bytes.HasPrefix(pkt, []byte("OpusHead")) {
			return fmt.Errorf("%w: first packet is not OpusHead", ErrOpusHeader)
		}
		if pkt[8]&0xF0 != 0 {
			return fmt.Errorf("%w: OpusHead version %d", ErrOpusHeader, pkt[8])
		}
		if pkt[9] == 0 {
			return fmt.Errorf("%w: zero channels", ErrOpusHeader)
		}
	case 1:
		if !bytes.HasPrefix(pkt, []byte("OpusTags")) {
			return fmt.Errorf("%w: second packet is not OpusTags", ErrOpusHeader)
		}
	}
	return nil
}

// readPage runs the parser over r's bytes up to the end of the next page
// and takes the page: its lacing and body become o.segs and o.body.
func (o *OggReader) readPage() error {
	o.lacing, o.page = o.lacing[:0], o.page[:0]
	for {
		n, tok, err := o.p.Next(o.buf[o.off:])
		chunk := o.buf[o.off : o.off+n]
		o.off += n
		if err != nil {
			return err
		}
		switch tok {
		case ogg.Lacing:
			o.lacing = append(o.lacing, chunk...)
		case ogg.Body:
			o.page = append(o.page, chunk...)
		case ogg.PageEnd:
			return o.takePage(o.p.Page())
		case ogg.None:
			if err := o.fill(); err != nil {
				return err
			}
		}
	}
}

// fill reads more of the stream into buf.
func (o *OggReader) fill() error {
	if o.buf == nil {
		o.buf = make([]byte, 8<<10)
	}
	n, err := o.r.Read(o.buf[:cap(o.buf)])
	o.buf, o.off = o.buf[:n], 0
	if n > 0 {
		return nil
	}
	if err == nil {
		return nil // nothing this time; Read again
	}
	if err == io.EOF && !o.p.Between() {
		return fmt.Errorf("ogg page: %w", io.ErrUnexpectedEOF)
	}
	return err
}

// takePage checks a complete page against the stream and makes its packets
// the ones to return next.
func (o *OggReader) takePage(pg ogg.Page) error {
	if !o.started {
		if pg.Flags&ogg.FlagBOS == 0 {
			return fmt.Errorf("%w: first page lacks BOS", ogg.ErrStream)
		}
		o.started = true
		o.serial = pg.Serial
	} else {
		if pg.Serial != o.serial {
			return fmt.Errorf("%w: serial %08x, stream is %08x", ogg.ErrStream, pg.Serial, o.serial)
		}
		if pg.Flags&ogg.FlagBOS != 0 {
			return fmt.Errorf("%w: BOS inside stream", ogg.ErrStream)
		}
		if pg.Gap {
			// A packet cut by lost pages cannot be completed.
			o.partial = o.partial[:0]
			o.inPart = false
		}
	}
	o.seq = pg.Seq
	o.granule = pg.Granule
	o.segs = o.lacing
	o.body = o.page

	if pg.Flags&ogg.FlagContinued != 0 && !o.inPart {
		// Skip the tail of a packet whose start we never saw.
		for len(o.segs) > 0 {
			s := o.segs[0]
			o.segs = o.segs[1:]
			o.body = o.body[s:]
			if s < 255 {
				break
			}
		}
	} else if pg.Flags&ogg.FlagContinued == 0 && o.inPart {
		// The previous packet was never finished: drop it.
		o.partial = o.partial[:0]
		o.inPart = false
	}
	return nil
}
