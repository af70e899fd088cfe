package loadgen

import (
	"bufio"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"time"
)

// readBufSize is each listener's read buffer: big enough for a few chunks
// at 32 kbit/s, small enough for 100,000 listeners in a few processes.
const readBufSize = 4096

// Errors of the listener clients.
var (
	errStatus  = errors.New("unexpected HTTP status")
	errFraming = errors.New("bad stream framing")
)

// listen opens one listener connection to the listen URL u (absolute, with
// ticket) over conn and feeds the media spans it receives to v until the
// stream ends, conn is closed or a framing error occurs. It returns the
// bytes read after the response head and why it ended (io.EOF: clean end).
func listen(conn net.Conn, u *url.URL, proto string, v *Verifier) (int64, error) {
	br := bufio.NewReaderSize(conn, readBufSize)
	if proto == "ws" {
		return listenWS(conn, br, u, v)
	}
	return listenOgg(conn, br, u, v)
}

func writeRequest(conn net.Conn, u *url.URL, extra string) error {
	_, err := fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: majlis-loadgen\r\n%s\r\n", u.RequestURI(), u.Host, extra)
	return err
}

func readResponse(br *bufio.Reader, want int) (*http.Response, error) {
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return nil, fmt.Errorf("response: %w", err)
	}
	if resp.StatusCode != want {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return nil, fmt.Errorf("%w %d: %s", errStatus, resp.StatusCode, strings.TrimSpace(string(b)))
	}
	return resp, nil
}

// countingReader counts bytes read through it.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// listenOgg reads an Ogg/Opus stream over HTTP/1.1. Only page headers are
// parsed: the granule position of a data page is the media position of its
// end, and each packet on it is one 20 ms frame.
func listenOgg(conn net.Conn, br *bufio.Reader, u *url.URL, v *Verifier) (int64, error) {
	if err := writeRequest(conn, u, ""); err != nil {
		return 0, err
	}
	resp, err := readResponse(br, http.StatusOK)
	if err != nil {
		return 0, err
	}
	_ = conn.SetReadDeadline(time.Time{}) // the head came; the verifier judges the rest
	if ct := resp.Header.Get("Content-Type"); ct != "audio/ogg" {
		return 0, fmt.Errorf("%w: content type %q", errFraming, ct)
	}
	cr := &countingReader{r: br}
	var body io.Reader = cr
	if len(resp.TransferEncoding) > 0 && resp.TransferEncoding[0] == "chunked" {
		body = httputil.NewChunkedReader(cr)
	}
	err = readOggPages(body, v, time.Now)
	return cr.n, err
}

// readOggPages feeds every data page's media span to v. It checks page
// structure (capture pattern, continuity of the page sequence is left to
// the media positions) but not CRCs: the program's tests do that, and the
// load generator must stay cheap.
func readOggPages(r io.Reader, v *Verifier, now func() time.Time) error {
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

// listenWS performs a minimal RFC 6455 client handshake and reads messages.
func listenWS(conn net.Conn, br *bufio.Reader, u *url.URL, v *Verifier) (int64, error) {
	var key [16]byte
	rand.Read(key[:])
	k := base64.StdEncoding.EncodeToString(key[:])
	hu := *u
	hu.Scheme = "http"
	extra := "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: " + k +
		"\r\nOrigin: http://" + u.Host + "\r\n"
	if err := writeRequest(conn, &hu, extra); err != nil {
		return 0, err
	}
	if _, err := readResponse(br, http.StatusSwitchingProtocols); err != nil {
		return 0, err
	}
	_ = conn.SetReadDeadline(time.Time{})
	cr := &countingReader{r: br}
	err := readWSMessages(cr, conn, v, time.Now)
	return cr.n, err
}

// errWSClosed is a close frame from the server; the text says its status.
var errWSClosed = errors.New("websocket closed")

// readWSMessages reads server frames (unmasked, unfragmented as the server
// sends them; fragments are handled anyway). From each binary chunk message
// it uses only the header: first seq, frame samples and count. A close with
// status 1000 ends cleanly (io.EOF).
func readWSMessages(r io.Reader, w io.Writer, v *Verifier, now func() time.Time) error {
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
		if msgHeadN < 20 || msgHead[0] != 1 {
			return fmt.Errorf("%w: ws chunk header", errFraming)
		}
		first := binary.BigEndian.Uint64(msgHead[1:])
		fs := int64(binary.BigEndian.Uint16(msgHead[17:]))
		count := int64(msgHead[19])
		from := int64(first) * fs
		v.Observe(now(), from, from+count*fs)
	}
}
