package loadgen

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"time"

	"majlis/internal/ogg"
	"majlis/internal/program"
	"majlis/internal/wsframe"
)

// The stream parsers below take the body of a listener's stream in pieces
// as they come off the socket, split anywhere, and keep only the few bytes
// of framing state they need between pieces: no per-listener read buffer.
// They report each media span to an observer (the listener's Verifier).

// observer receives the media span [from, to) that arrived at now.
type observer interface {
	Observe(now time.Time, from, to int64)
}

// Limits of the stream framing.
const (
	// maxChunkLine bounds an HTTP chunk-size line with its extensions, as
	// net/http does.
	maxChunkLine = 4096
	// maxChunkDigits is the most hex digits of a chunk size (64 bits).
	maxChunkDigits = 16
	// maxWSFrame is the largest WebSocket frame accepted; chunks are far smaller.
	maxWSFrame = 1 << 20
	// maxWSControl is the largest control frame payload (RFC 6455 5.5).
	maxWSControl = wsframe.MaxControlPayload
	// wsChunkHeaderLen is the part of a WebSocket chunk message the
	// verifier needs: version, first seq, first sample, frame samples, count.
	wsChunkHeaderLen = 20
)

// States of the HTTP chunked framing.
const (
	chunkSize    uint8 = iota // hex digits of the size
	chunkSizeOWS              // blanks after the size
	chunkExt                  // chunk extension, up to CR
	chunkLF                   // LF ending the size line
	chunkData                 // chunk payload
	chunkDataCR               // CR after the payload
	chunkDataLF               // LF after the payload
)

// oggStream parses a listen.ogg body: HTTP/1.1 chunked framing (when
// chunked) around Ogg pages, read by an ogg.Parser (which checks each
// page's CRC without keeping its body). The granule position of a data
// page is the media position of its end, and each packet on it is one
// 20 ms frame.
type oggStream struct {
	chunked bool
	cstate  uint8
	digits  uint8
	lineN   uint16
	chunk   uint64 // chunk payload bytes left, or the size being read
	pg      ogg.Parser
}

// errChunked is a malformed HTTP chunked framing.
var errChunked = errors.New("malformed chunked encoding")

// feed parses p, the next bytes of the body as read at now. It returns nil
// while the stream goes on, io.EOF when the body ended cleanly (the last
// chunk) and an error for bad framing; after that the stream is over.
func (o *oggStream) feed(p []byte, now time.Time, v observer) error {
	if !o.chunked {
		return o.pages(p, now, v)
	}
	for len(p) > 0 {
		if o.cstate == chunkData {
			n := len(p)
			if uint64(n) > o.chunk {
				n = int(o.chunk)
			}
			if err := o.pages(p[:n], now, v); err != nil {
				return err
			}
			o.chunk -= uint64(n)
			p = p[n:]
			if o.chunk == 0 {
				o.cstate = chunkDataCR
			}
			continue
		}
		b := p[0]
		p = p[1:]
		if err := o.chunkByte(b); err != nil {
			return err
		}
		if o.cstate == chunkData && o.chunk == 0 { // the last chunk
			return o.pageEOF()
		}
	}
	return nil
}

// chunkByte advances the chunked framing by one byte outside a payload.
// A complete size line leaves o.cstate at chunkData with o.chunk the size.
func (o *oggStream) chunkByte(b byte) error {
	switch o.cstate {
	case chunkDataCR:
		if b != '\r' {
			return errChunked
		}
		o.cstate = chunkDataLF
		return nil
	case chunkDataLF:
		if b != '\n' {
			return errChunked
		}
		o.cstate, o.chunk, o.digits, o.lineN = chunkSize, 0, 0, 0
		return nil
	}
	if o.lineN++; o.lineN > maxChunkLine {
		return fmt.Errorf("%w: chunk line too long", errChunked)
	}
	switch o.cstate {
	case chunkSize:
		if d, ok := hexDigit(b); ok {
			if o.digits == maxChunkDigits {
				return fmt.Errorf("%w: chunk length too large", errChunked)
			}
			o.chunk = o.chunk<<4 | uint64(d)
			o.digits++
			return nil
		}
		switch b {
		case ' ', '\t':
			o.cstate = chunkSizeOWS
		case ';':
			o.cstate = chunkExt
		case '\r':
			o.cstate = chunkLF
		default:
			return fmt.Errorf("%w: invalid byte in chunk length", errChunked)
		}
	case chunkSizeOWS: // only before the CR, as net/http has it
		switch b {
		case ' ', '\t':
		case '\r':
			o.cstate = chunkLF
		default:
			return fmt.Errorf("%w: invalid byte in chunk length", errChunked)
		}
	case chunkExt:
		switch b {
		case '\r':
			o.cstate = chunkLF
		case '\n':
			return fmt.Errorf("%w: bare LF", errChunked)
		}
	case chunkLF:
		if b != '\n' {
			return fmt.Errorf("%w: invalid CR in chunked line", errChunked)
		}
		if o.digits == 0 {
			return fmt.Errorf("%w: empty chunk length", errChunked)
		}
		o.cstate = chunkData
	}
	return nil
}

func hexDigit(b byte) (byte, bool) {
	switch {
	case '0' <= b && b <= '9':
		return b - '0', true
	case 'a' <= b && b <= 'f':
		return b - 'a' + 10, true
	case 'A' <= b && b <= 'F':
		return b - 'A' + 10, true
	}
	return 0, false
}

// pages parses de-chunked body bytes into Ogg pages.
func (o *oggStream) pages(p []byte, now time.Time, v observer) error {
	for {
		n, tok, err := o.pg.Next(p)
		p = p[n:]
		switch {
		case errors.Is(err, ogg.ErrCapture):
			return fmt.Errorf("%w: ogg capture pattern", errFraming)
		case err != nil:
			return fmt.Errorf("%w: %v", errFraming, err)
		}
		switch tok {
		case ogg.None:
			return nil
		case ogg.PageEnd:
			if pg := o.pg.Page(); pg.Seq >= 2 { // not OpusHead, OpusTags
				v.Observe(now, pg.Granule-int64(pg.Packets)*960, pg.Granule)
			}
		}
	}
}

// pageEOF is the end of the de-chunked body: clean between pages.
func (o *oggStream) pageEOF() error {
	if o.pg.Between() {
		return io.EOF
	}
	return io.ErrUnexpectedEOF
}

// eof is the end of the connection: clean only between pages of an
// unchunked body; a chunked body must end with its last chunk.
func (o *oggStream) eof() error {
	if o.chunked {
		return io.ErrUnexpectedEOF
	}
	return o.pageEOF()
}

// States of the WebSocket parser.
const (
	wsHead    uint8 = iota // frame header
	wsData                 // text/binary/continuation payload
	wsControl              // close or ping payload, kept
	wsSkip                 // pong payload, skipped
)

// wsStream parses the server frames of a listen.ws connection after the
// handshake (unmasked, unfragmented as the server sends them; fragments
// are handled anyway) with a wsframe.Parser. From each binary chunk
// message it uses only the header: first seq, frame samples and count. A
// close with status 1000 ends cleanly (io.EOF); a ping is answered.
type wsStream struct {
	p        wsframe.Parser
	state    uint8
	fin      bool
	opcode   byte // of the current frame
	op       byte // of the current message
	msgHeadN uint8
	ctlN     uint8
	msgHead  [wsChunkHeaderLen]byte
	ctl      *[maxWSControl]byte // control payload, only while one is read
}

// errWSClosed is a close frame from the server; the text says its status.
var errWSClosed = errors.New("websocket closed")

// feed parses p, the next bytes from the server read at now, answering
// pings on w. It returns nil while the stream goes on, io.EOF after a close
// with status 1000 and an error otherwise; after that the stream is over.
func (s *wsStream) feed(p []byte, now time.Time, v observer, w io.Writer) error {
	for {
		if s.state == wsHead {
			if len(p) == 0 {
				return nil
			}
			n, ok := s.p.ReadHeader(p)
			p = p[n:]
			if !ok {
				return nil
			}
			if err := s.frameStart(); err != nil {
				return err
			}
		}
		pl, _ := s.p.Payload(p)
		p = p[len(pl):]
		switch s.state {
		case wsData:
			k := copy(s.msgHead[s.msgHeadN:], pl)
			s.msgHeadN += uint8(k)
			if s.p.Left() > 0 {
				return nil
			}
			s.state = wsHead
			if !s.fin || s.op != wsframe.OpBinary {
				continue // hello (text) or an unfinished message
			}
			if s.msgHeadN < wsChunkHeaderLen || s.msgHead[0] != 1 && s.msgHead[0] != program.WSVersion {
				return fmt.Errorf("%w: ws chunk header", errFraming)
			}
			first := binary.BigEndian.Uint64(s.msgHead[1:])
			fs := int64(binary.BigEndian.Uint16(s.msgHead[17:]))
			count := int64(s.msgHead[19])
			from := int64(first) * fs
			v.Observe(now, from, from+count*fs)
		case wsControl:
			k := copy(s.ctl[s.ctlN:], pl) // a long close reason is cut
			s.ctlN += uint8(k)
			if s.p.Left() > 0 {
				return nil
			}
			if err := s.control(w); err != nil {
				return err
			}
		case wsSkip:
			if s.p.Left() > 0 {
				return nil
			}
			s.state = wsHead
		}
	}
}

// frameStart acts on a complete frame header.
func (s *wsStream) frameStart() error {
	h := s.p.Header()
	if h.Masked {
		return fmt.Errorf("%w: masked server frame", errFraming)
	}
	if h.Len > maxWSFrame {
		return fmt.Errorf("%w: frame of %d bytes", errFraming, h.Len)
	}
	s.fin, s.opcode = h.Fin, h.Op
	switch s.opcode {
	case wsframe.OpClose, wsframe.OpPing: // keep the payload
		if s.opcode == wsframe.OpPing && h.Len > maxWSControl {
			return fmt.Errorf("%w: ping of %d bytes", errFraming, h.Len)
		}
		if s.ctl == nil {
			s.ctl = new([maxWSControl]byte)
		}
		s.ctlN, s.state = 0, wsControl
	case wsframe.OpPong:
		s.state = wsSkip
	case wsframe.OpText, wsframe.OpBinary:
		s.op, s.msgHeadN, s.state = s.opcode, 0, wsData
	case wsframe.OpContinuation: // of op
		s.state = wsData
	default:
		return fmt.Errorf("%w: opcode %d", errFraming, s.opcode)
	}
	return nil
}

// control acts on a complete close or ping payload.
func (s *wsStream) control(w io.Writer) error {
	p := s.ctl[:s.ctlN]
	s.state = wsHead
	if s.opcode == wsframe.OpClose {
		if len(p) >= 2 && binary.BigEndian.Uint16(p) == wsframe.CloseNormal {
			return io.EOF
		}
		if len(p) >= 2 {
			return fmt.Errorf("%w: %d %s", errWSClosed, binary.BigEndian.Uint16(p), p[2:])
		}
		return errWSClosed
	}
	// A ping: answer with a masked pong of the same payload, zero mask key.
	var pong [6 + maxWSControl]byte
	b := wsframe.AppendMasked(pong[:0], wsframe.OpPong, [4]byte{}, p)
	s.ctl = nil // pings are rare: do not keep 125 bytes per listener
	if _, err := w.Write(b); err != nil {
		return fmt.Errorf("pong: %w", err)
	}
	return nil
}

// eof is the end of the connection: clean only between frames, as a
// server that closes without a close frame ends the stream.
func (s *wsStream) eof() error {
	if s.state == wsHead && s.p.Between() {
		return io.EOF
	}
	return io.ErrUnexpectedEOF
}
