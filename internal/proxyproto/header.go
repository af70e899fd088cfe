package proxyproto

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strconv"
)

// Limits of the header (the specification's, and ours for version 2).
const (
	// MaxV1 is the longest version 1 line, CRLF included (the spec's 107).
	MaxV1 = 107
	// MaxV2 is the longest version 2 header read: the 16-byte prefix and
	// an address block of up to 512 bytes (addresses and TLVs; the spec
	// allows 65535, no proxy we know of sends a tenth of it).
	MaxV2 = 16 + 512
	// minHeader is the shortest header of either version
	// ("PROXY UNKNOWN\r\n"; a version 2 header is at least 16 bytes).
	minHeader = 15
)

// v2sig starts a version 2 header.
var v2sig = []byte("\r\n\r\n\x00\r\nQUIT\n")

// v1sig starts a version 1 header.
var v1sig = []byte("PROXY ")

// Header is what a proxy said of a connection.
type Header struct {
	Version int // 1 or 2
	// Local: the proxy names no client (version 2 LOCAL, version 1
	// UNKNOWN, a version 2 family other than AF_INET/AF_INET6): the
	// connection's own peer, the proxy, stands.
	Local bool
	// Source is the client and Dest the address it connected to (unset when Local).
	Source, Dest netip.AddrPort
}

// ErrHeader is wrapped by every error about a header's content.
var ErrHeader = errors.New("proxy protocol header")

func bad(format string, a ...any) error {
	return fmt.Errorf("%w: %s", ErrHeader, fmt.Sprintf(format, a...))
}

// Parse reads the header at the start of b. It returns the header and its
// length n once b holds all of it (b may go on past it); or, when b is a
// proper prefix of what may still be a valid header, need > 0: the fewest
// bytes that must follow before the header can end (so a reader may read
// that many without reading past it); or an error, as soon as b cannot
// start a valid header.
func Parse(b []byte) (h Header, n, need int, err error) {
	if len(b) == 0 {
		return Header{}, 0, minHeader, nil
	}
	k := min(len(b), len(v2sig))
	if bytes.Equal(b[:k], v2sig[:k]) {
		return parseV2(b)
	}
	k = min(len(b), len(v1sig))
	if bytes.Equal(b[:k], v1sig[:k]) {
		return parseV1(b)
	}
	return Header{}, 0, 0, bad("no PROXY signature")
}

func parseV2(b []byte) (Header, int, int, error) {
	if len(b) < 16 {
		return Header{}, 0, 16 - len(b), nil
	}
	verCmd, fam := b[12], b[13]
	length := int(binary.BigEndian.Uint16(b[14:16]))
	if verCmd>>4 != 2 {
		return Header{}, 0, 0, bad("version %d", verCmd>>4)
	}
	cmd := verCmd & 0xf
	if cmd > 1 {
		return Header{}, 0, 0, bad("command %d", cmd)
	}
	family, transport := fam>>4, fam&0xf
	if family > 3 || transport > 2 {
		return Header{}, 0, 0, bad("address family %#x", fam)
	}
	if length > MaxV2-16 {
		return Header{}, 0, 0, bad("%d bytes of addresses, more than %d", length, MaxV2-16)
	}
	h := Header{Version: 2, Local: true}
	if cmd == 1 { // PROXY
		var alen int
		switch family {
		case 1:
			alen = 12
		case 2:
			alen = 36
		}
		if alen > 0 {
			if transport != 1 {
				return Header{}, 0, 0, bad("transport %d over a TCP connection", transport)
			}
			if length < alen {
				return Header{}, 0, 0, bad("%d bytes for a family of %d", length, alen)
			}
		}
	}
	if len(b) < 16+length {
		return Header{}, 0, 16 + length - len(b), nil
	}
	if cmd == 1 && transport == 1 && (family == 1 || family == 2) {
		a := b[16:]
		var src, dst netip.Addr
		var ports []byte
		if family == 1 {
			src, dst = netip.AddrFrom4([4]byte(a[0:4])), netip.AddrFrom4([4]byte(a[4:8]))
			ports = a[8:12]
		} else {
			src, dst = netip.AddrFrom16([16]byte(a[0:16])).Unmap(), netip.AddrFrom16([16]byte(a[16:32])).Unmap()
			ports = a[32:36]
		}
		h.Local = false
		h.Source = netip.AddrPortFrom(src, binary.BigEndian.Uint16(ports[0:2]))
		h.Dest = netip.AddrPortFrom(dst, binary.BigEndian.Uint16(ports[2:4]))
	}
	return h, 16 + length, 0, nil
}

func parseV1(b []byte) (Header, int, int, error) {
	end := bytes.Index(b, []byte("\r\n"))
	if end < 0 {
		// A CR or LF before the end is no CRLF; one CR last may be.
		if bytes.IndexByte(b, '\n') >= 0 || bytes.IndexByte(b[:len(b)-1], '\r') >= 0 {
			return Header{}, 0, 0, bad("version 1 line: a lone CR or LF")
		}
		need := v1Min(b) - len(b)
		if b[len(b)-1] == '\r' {
			need = 1
		}
		if len(b)+need > MaxV1 {
			return Header{}, 0, 0, bad("version 1 line without CRLF in %d bytes", MaxV1)
		}
		return Header{}, 0, need, nil
	}
	if end+2 > MaxV1 {
		return Header{}, 0, 0, bad("version 1 line over %d bytes", MaxV1)
	}
	if bytes.IndexByte(b[:end], '\n') >= 0 || bytes.IndexByte(b[:end], '\r') >= 0 {
		return Header{}, 0, 0, bad("version 1 line: a lone CR or LF")
	}
	line := string(b[len(v1sig):end])
	h := Header{Version: 1}
	proto, rest, _ := cut(line)
	switch proto {
	case "UNKNOWN":
		// The rest of the line, if any, is to be ignored.
		h.Local = true
		return h, end + 2, 0, nil
	case "TCP4", "TCP6":
	default:
		return Header{}, 0, 0, bad("protocol %q", proto)
	}
	var f [4]string
	for i := range f {
		var more bool
		f[i], rest, more = cut(rest)
		if f[i] == "" || more != (i < 3) {
			return Header{}, 0, 0, bad("version 1 line: want 4 fields after %s", proto)
		}
	}
	src, err1 := netip.ParseAddr(f[0])
	dst, err2 := netip.ParseAddr(f[1])
	if err1 != nil || err2 != nil || src.Zone() != "" || dst.Zone() != "" || src.Is4() != (proto == "TCP4") || dst.Is4() != (proto == "TCP4") {
		return Header{}, 0, 0, bad("%s addresses %q %q", proto, f[0], f[1])
	}
	sp, ok1 := port(f[2])
	dp, ok2 := port(f[3])
	if !ok1 || !ok2 {
		return Header{}, 0, 0, bad("ports %q %q", f[2], f[3])
	}
	h.Source = netip.AddrPortFrom(src.Unmap(), sp)
	h.Dest = netip.AddrPortFrom(dst.Unmap(), dp)
	return h, end + 2, 0, nil
}

// v1Min is the length of the shortest valid line that starts with b (a
// line without CRLF yet), or more when none does: a reader may read up to
// it in one step. The shortest fields: "0.0.0.0" (TCP4), "::" (TCP6, and
// while the protocol is not known yet), a one-digit port.
func v1Min(b []byte) int {
	if len(b) <= len(v1sig) {
		return minHeader
	}
	fields := bytes.Split(b[len(v1sig):], []byte(" "))
	proto := fields[0]
	if string(proto) == "UNKNOWN" || len(fields) == 1 && len(proto) > 0 && proto[0] == 'U' {
		// Anything, or nothing, may follow UNKNOWN up to CRLF.
		return max(minHeader, len(b)+2)
	}
	mins := [...]int{4, 2, 2, 1, 1} // protocol, source, destination, ports
	if string(proto) == "TCP4" {
		mins[1], mins[2] = 7, 7
	}
	if len(fields) > len(mins) {
		return len(b) + 2
	}
	total := len(v1sig) + len(mins) - 1 + 2 // the spaces between the fields, CRLF
	for i, m := range mins {
		if i < len(fields) {
			m = max(m, len(fields[i]))
		}
		total += m
	}
	return total
}

// cut splits s at its first space; more reports whether there was one.
func cut(s string) (before, after string, more bool) {
	for i := 0; i < len(s); i++ {
		if s[i] == ' ' {
			return s[:i], s[i+1:], true
		}
	}
	return s, "", false
}

// port reads a decimal port without sign or leading zeros.
func port(s string) (uint16, bool) {
	if len(s) == 0 || len(s) > 5 || (len(s) > 1 && s[0] == '0') {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.Atoi(s)
	if err != nil || n > 65535 {
		return 0, false
	}
	return uint16(n), true
}

// ReadHeader reads one header from r and not a byte more: each read asks
// for no more than the header still needs at least, so whatever follows
// the header (the proxied request) is left in r.
func ReadHeader(r io.Reader) (Header, error) {
	var buf [MaxV2]byte
	b := buf[:0]
	for {
		h, n, need, err := Parse(b)
		if err != nil {
			return Header{}, err
		}
		if n > 0 {
			return h, nil
		}
		m, err := r.Read(buf[len(b) : len(b)+need])
		b = buf[:len(b)+m]
		if err != nil {
			if m > 0 && errors.Is(err, io.EOF) {
				continue // the bytes first; the next read says EOF again
			}
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return Header{}, fmt.Errorf("%w: after %d bytes: %w", ErrHeader, len(b), err)
		}
	}
}
