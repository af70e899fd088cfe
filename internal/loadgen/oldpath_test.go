package loadgen

// The blocking receive path loadgen used before the receive loop: one
// goroutine per listener reading through bufio and net/http's chunked
// reader. Kept as the reference the incremental parsers are checked
// against, and as the baseline of BenchmarkReceive.

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"majlis/internal/program"
	"net/http/httputil"
	"time"
)

// oldReadBufSize was each listener's read buffer.
const oldReadBufSize = 4096

// oldReadOgg reads a chunked listen.ogg body from br as the old path did.
func oldReadOgg(br *bufio.Reader, v observer, now func() time.Time) error {
	return readOggPages(httputil.NewChunkedReader(br), v, now)
}

// readOggPages feeds every data page's media span to v. It checks page
// structure (capture pattern, continuity of the page sequence is left to
// the media positions) but not CRCs: the program's tests do that, and the
// load generator must stay cheap.
func readOggPages(r io.Reader, v observer, now func() time.Time) error {
	var hdr [27]byte
	var seg [255]byte
	for {
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			return err
		}
		if string(hdr[:4]) != "OggS" {
			return fmt.Errorf("%w: ogg capture pattern", errFraming)
		}
		granule := int64(binary.LittleEndian.Uint64(hdr[6:]))
		pageSeq := binary.LittleEndian.Uint32(hdr[18:])
		nseg := int(hdr[26])
		if _, err := io.ReadFull(r, seg[:nseg]); err != nil {
			return noEOF(err)
		}
		body, packets := 0, 0
		for _, s := range seg[:nseg] {
			body += int(s)
			if s < 255 {
				packets++
			}
		}
		if _, err := io.CopyN(io.Discard, r, int64(body)); err != nil {
			return noEOF(err)
		}
		if pageSeq < 2 { // OpusHead, OpusTags
			continue
		}
		v.Observe(now(), granule-int64(packets)*960, granule)
	}
}

func noEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// readWSMessages reads server frames (unmasked, unfragmented as the server
// sends them; fragments are handled anyway). From each binary chunk message
// it uses only the header: first seq, frame samples and count. A close with
// status 1000 ends cleanly (io.EOF).
func readWSMessages(r io.Reader, w io.Writer, v observer, now func() time.Time) error {
	var h [14]byte
	var msgHead [20]byte
	var msgHeadN int
	var op byte
	for {
		if _, err := io.ReadFull(r, h[:2]); err != nil {
			return err
		}
		fin, opcode := h[0]&0x80 != 0, h[0]&0x0F
		if h[1]&0x80 != 0 {
			return fmt.Errorf("%w: masked server frame", errFraming)
		}
		n := int64(h[1] & 0x7F)
		switch n {
		case 126:
			if _, err := io.ReadFull(r, h[2:4]); err != nil {
				return noEOF(err)
			}
			n = int64(binary.BigEndian.Uint16(h[2:4]))
		case 127:
			if _, err := io.ReadFull(r, h[2:10]); err != nil {
				return noEOF(err)
			}
			n = int64(binary.BigEndian.Uint64(h[2:10]))
		}
		if n > 1<<20 {
			return fmt.Errorf("%w: frame of %d bytes", errFraming, n)
		}
		switch opcode {
		case 0x8: // close
			var p [125]byte
			m := min(int(n), len(p))
			if _, err := io.ReadFull(r, p[:m]); err != nil {
				return noEOF(err)
			}
			if m >= 2 && binary.BigEndian.Uint16(p[:2]) == 1000 {
				return io.EOF
			}
			if m >= 2 {
				return fmt.Errorf("%w: %d %s", errWSClosed, binary.BigEndian.Uint16(p[:2]), p[2:m])
			}
			return errWSClosed
		case 0x9: // ping: answer with a masked pong of the same payload
			var p [125]byte
			m := min(int(n), len(p))
			if _, err := io.ReadFull(r, p[:m]); err != nil {
				return noEOF(err)
			}
			pong := append([]byte{0x8A, 0x80 | byte(m), 0, 0, 0, 0}, p[:m]...) // zero mask key
			if _, err := w.Write(pong); err != nil {
				return err
			}
			continue
		case 0xA: // pong
			if _, err := io.CopyN(io.Discard, r, n); err != nil {
				return noEOF(err)
			}
			continue
		case 0x1, 0x2:
			op, msgHeadN = opcode, 0
		case 0x0: // continuation of op
		default:
			return fmt.Errorf("%w: opcode %d", errFraming, opcode)
		}
		// Keep the first 20 bytes of the message (the chunk header), discard the rest.
		take := min(n, int64(len(msgHead)-msgHeadN))
		if _, err := io.ReadFull(r, msgHead[msgHeadN:msgHeadN+int(take)]); err != nil {
			return noEOF(err)
		}
		msgHeadN += int(take)
		if _, err := io.CopyN(io.Discard, r, n-take); err != nil {
			return noEOF(err)
		}
		if !fin || op != 0x2 {
			continue // hello (text) or an unfinished message
		}
		if msgHeadN < 20 || msgHead[0] != 1 && msgHead[0] != program.WSVersion {
			return fmt.Errorf("%w: ws chunk header", errFraming)
		}
		first := binary.BigEndian.Uint64(msgHead[1:])
		fs := int64(binary.BigEndian.Uint16(msgHead[17:]))
		count := int64(msgHead[19])
		from := int64(first) * fs
		v.Observe(now(), from, from+count*fs)
	}
}
