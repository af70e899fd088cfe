package program

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// MaxOggPacket bounds the size of a packet OggReader reassembles across
// pages, so hostile input cannot make it allocate without limit.
const MaxOggPacket = 256 << 10

// Errors of OggReader; returned errors wrap one of them (or an io error).
var (
	ErrOggCapture  = errors.New("ogg: bad capture pattern")
	ErrOggCRC      = errors.New("ogg: page checksum mismatch")
	ErrOggStream   = errors.New("ogg: unexpected stream structure")
	ErrOggTooLarge = errors.New("ogg: packet too large")
	ErrOpusHeader  = errors.New("ogg: bad Opus header")
)

// OggReader reads the packets of one Ogg/Opus logical stream (RFC 7845). It
// verifies every page CRC, reassembles packets across lacing values and
// pages, and checks that the first two packets are OpusHead and OpusTags.
//
// Page sequence gaps are accepted (a listener joining mid-stream sees one
// after the header pages); a packet cut by a gap is dropped, and Gaps counts
// the gaps seen.
type OggReader struct {
	r       io.Reader
	page    []byte // reused page buffer, oggMaxPage bytes
	hdr     [oggHeaderLen]byte
	started bool
	serial  uint32
	seq     uint32
	gaps    int
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
func (o *OggReader) Gaps() int { return o.gaps }

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
			if !lastPacketEnds(o.segs) {
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

// lastPacketEnds reports whether another packet ends within segs.
func lastPacketEnds(segs []byte) bool {
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

func (o *OggReader) readPage() error {
	if _, err := io.ReadFull(o.r, o.hdr[:]); err != nil {
		if err == io.EOF {
			return io.EOF
		}
		return fmt.Errorf("ogg page header: %w", noEOF(err))
	}
	h := o.hdr[:]
	if string(h[:4]) != "OggS" {
		return ErrOggCapture
	}
	if h[4] != 0 {
		return fmt.Errorf("%w: version %d", ErrOggStream, h[4])
	}
	flags := h[5]
	granule := int64(binary.LittleEndian.Uint64(h[6:]))
	serial := binary.LittleEndian.Uint32(h[14:])
	seq := binary.LittleEndian.Uint32(h[18:])
	crc := binary.LittleEndian.Uint32(h[22:])
	nseg := int(h[26])

	if o.page == nil {
		o.page = make([]byte, oggMaxPage)
	}
	page := o.page[:oggHeaderLen+nseg]
	copy(page, h)
	if _, err := io.ReadFull(o.r, page[oggHeaderLen:]); err != nil {
		return fmt.Errorf("ogg segment table: %w", noEOF(err))
	}
	bodyLen := 0
	for _, s := range page[oggHeaderLen:] {
		bodyLen += int(s)
	}
	page = o.page[:oggHeaderLen+nseg+bodyLen]
	if _, err := io.ReadFull(o.r, page[oggHeaderLen+nseg:]); err != nil {
		return fmt.Errorf("ogg page body: %w", noEOF(err))
	}
	page[22], page[23], page[24], page[25] = 0, 0, 0, 0
	if got := oggCRC(0, page); got != crc {
		return fmt.Errorf("%w: page %d", ErrOggCRC, seq)
	}

	if !o.started {
		if flags&oggFlagBOS == 0 {
			return fmt.Errorf("%w: first page lacks BOS", ErrOggStream)
		}
		o.started = true
		o.serial = serial
	} else {
		if serial != o.serial {
			return fmt.Errorf("%w: serial %08x, stream is %08x", ErrOggStream, serial, o.serial)
		}
		if flags&oggFlagBOS != 0 {
			return fmt.Errorf("%w: BOS inside stream", ErrOggStream)
		}
		if seq != o.seq+1 {
			o.gaps++
			// A packet cut by lost pages cannot be completed.
			o.partial = o.partial[:0]
			o.inPart = false
		}
	}
	o.seq = seq
	o.granule = granule
	o.segs = page[oggHeaderLen : oggHeaderLen+nseg]
	o.body = page[oggHeaderLen+nseg:]

	if flags&oggFlagContinued != 0 && !o.inPart {
		// Skip the tail of a packet whose start we never saw.
		for len(o.segs) > 0 {
			s := o.segs[0]
			o.segs = o.segs[1:]
			o.body = o.body[s:]
			if s < 255 {
				break
			}
		}
	} else if flags&oggFlagContinued == 0 && o.inPart {
		// The previous packet was never finished: drop it.
		o.partial = o.partial[:0]
		o.inPart = false
	}
	return nil
}

func noEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}
