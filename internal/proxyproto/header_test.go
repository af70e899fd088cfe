package proxyproto

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net/netip"
	"strings"
	"testing"
	"testing/iotest"
)

// v2 builds a version 2 header: command, family byte, address block.
func v2(cmd, fam byte, block []byte) []byte {
	b := append([]byte{}, v2sig...)
	b = append(b, 0x20|cmd, fam, 0, 0)
	binary.BigEndian.PutUint16(b[14:], uint16(len(block)))
	return append(b, block...)
}

// inet4 is an AF_INET address block: src, dst, ports.
func inet4(src, dst string, sp, dp uint16) []byte {
	s, d := netip.MustParseAddr(src).As4(), netip.MustParseAddr(dst).As4()
	b := append(s[:], d[:]...)
	return binary.BigEndian.AppendUint16(binary.BigEndian.AppendUint16(b, sp), dp)
}

func inet6(src, dst string, sp, dp uint16) []byte {
	s, d := netip.MustParseAddr(src).As16(), netip.MustParseAddr(dst).As16()
	b := append(s[:], d[:]...)
	return binary.BigEndian.AppendUint16(binary.BigEndian.AppendUint16(b, sp), dp)
}

func ap(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }

const request = "GET /api/v1/rooms HTTP/1.1\r\nHost: x\r\n\r\n"

// countingReader counts the bytes it hands out.
type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

func TestReadHeaderValid(t *testing.T) {
	tlv := []byte{0x04, 0, 3, 'a', 'b', 'c'} // PP2_TYPE_NOOP with 3 bytes
	for _, tc := range []struct {
		name string
		in   []byte
		want Header
	}{
		{"v1 tcp4", []byte("PROXY TCP4 127.0.0.5 127.0.0.1 45678 8080\r\n"), Header{Version: 1, Source: ap("127.0.0.5:45678"), Dest: ap("127.0.0.1:8080")}},
		{"v1 tcp6", []byte("PROXY TCP6 2001:db8::1 2001:db8::2 65535 0\r\n"), Header{Version: 1, Source: ap("[2001:db8::1]:65535"), Dest: ap("[2001:db8::2]:0")}},
		{"v1 tcp6 longest", []byte("PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n"),
			Header{Version: 1, Source: ap("[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535"), Dest: ap("[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535")}},
		{"v1 unknown", []byte("PROXY UNKNOWN\r\n"), Header{Version: 1, Local: true}},
		{"v1 unknown with addresses", []byte("PROXY UNKNOWN ffff:: ffff:: 1 2\r\n"), Header{Version: 1, Local: true}},
		{"v2 inet", v2(1, 0x11, inet4("192.0.2.7", "10.0.0.1", 5000, 443)), Header{Version: 2, Source: ap("192.0.2.7:5000"), Dest: ap("10.0.0.1:443")}},
		{"v2 inet6", v2(1, 0x21, inet6("2001:db8::7", "2001:db8::1", 5000, 443)), Header{Version: 2, Source: ap("[2001:db8::7]:5000"), Dest: ap("[2001:db8::1]:443")}},
		{"v2 inet6 mapped", v2(1, 0x21, inet6("::ffff:192.0.2.7", "::ffff:10.0.0.1", 1, 2)), Header{Version: 2, Source: ap("192.0.2.7:1"), Dest: ap("10.0.0.1:2")}},
		{"v2 inet with tlvs", v2(1, 0x11, append(inet4("192.0.2.7", "10.0.0.1", 5000, 443), tlv...)), Header{Version: 2, Source: ap("192.0.2.7:5000"), Dest: ap("10.0.0.1:443")}},
		{"v2 local", v2(0, 0x00, nil), Header{Version: 2, Local: true}},
		{"v2 local with addresses", v2(0, 0x11, inet4("192.0.2.7", "10.0.0.1", 1, 2)), Header{Version: 2, Local: true}},
		{"v2 unspec", v2(1, 0x00, nil), Header{Version: 2, Local: true}},
		{"v2 unix", v2(1, 0x31, make([]byte, 216)), Header{Version: 2, Local: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, step := range []string{"whole", "byte by byte"} {
				in := io.MultiReader(bytes.NewReader(tc.in), strings.NewReader(request))
				if step != "whole" {
					in = iotest.OneByteReader(in)
				}
				r := &countingReader{r: in}
				h, err := ReadHeader(r)
				if err != nil {
					t.Fatalf("%s: %v", step, err)
				}
				if h != tc.want {
					t.Fatalf("%s: %+v, want %+v", step, h, tc.want)
				}
				if r.n != len(tc.in) {
					t.Fatalf("%s: read %d bytes, the header has %d", step, r.n, len(tc.in))
				}
				rest, _ := io.ReadAll(r)
				if string(rest) != request {
					t.Fatalf("%s: left %q, want the request", step, rest)
				}
			}
		})
	}
}

func TestReadHeaderInvalid(t *testing.T) {
	long := "PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 655350\r\n"
	bigV2 := v2(1, 0x11, make([]byte, MaxV2-16+1))
	for _, tc := range []struct {
		name string
		in   []byte
	}{
		{"http request", []byte(request)},
		{"bad v2 signature", append([]byte("\r\n\r\n\x00\r\nQUIX\n"), make([]byte, 8)...)},
		{"lower case", []byte("proxy TCP4 127.0.0.5 127.0.0.1 1 2\r\n")},
		{"v1 too long", []byte(long)},
		{"v1 no crlf", []byte(strings.Repeat("PROXY UNKNOWN ", 10))},
		{"v1 lone LF", []byte("PROXY TCP4 127.0.0.5 127.0.0.1 1 2\n" + request)},
		{"v1 lone CR", []byte("PROXY TCP4 127.0.0.5\r127.0.0.1 1 2\r\n")},
		{"v1 tcp4 with ipv6", []byte("PROXY TCP4 2001:db8::1 127.0.0.1 1 2\r\n")},
		{"v1 tcp6 with ipv4", []byte("PROXY TCP6 127.0.0.5 127.0.0.1 1 2\r\n")},
		{"v1 udp", []byte("PROXY UDP4 127.0.0.5 127.0.0.1 1 2\r\n")},
		{"v1 port 65536", []byte("PROXY TCP4 127.0.0.5 127.0.0.1 65536 2\r\n")},
		{"v1 port leading zero", []byte("PROXY TCP4 127.0.0.5 127.0.0.1 01 2\r\n")},
		{"v1 port sign", []byte("PROXY TCP4 127.0.0.5 127.0.0.1 +1 2\r\n")},
		{"v1 three fields", []byte("PROXY TCP4 127.0.0.5 127.0.0.1 1\r\n")},
		{"v1 five fields", []byte("PROXY TCP4 127.0.0.5 127.0.0.1 1 2 3\r\n")},
		{"v1 double space", []byte("PROXY TCP4  127.0.0.5 127.0.0.1 1 2\r\n")},
		{"v1 zone", []byte("PROXY TCP6 fe80::1%eth0 ::1 1 2\r\n")},
		{"v1 truncated", []byte("PROXY TCP4 127.0.0.5 127.0")},
		{"v2 truncated prefix", v2(1, 0x11, nil)[:14]},
		{"v2 truncated block", v2(1, 0x11, inet4("192.0.2.7", "10.0.0.1", 1, 2))[:20]},
		{"v2 version 1", func() []byte { b := v2(1, 0x11, inet4("192.0.2.7", "10.0.0.1", 1, 2)); b[12] = 0x11; return b }()},
		{"v2 command 2", v2(2, 0x11, inet4("192.0.2.7", "10.0.0.1", 1, 2))},
		{"v2 family 4", v2(1, 0x41, inet4("192.0.2.7", "10.0.0.1", 1, 2))},
		{"v2 transport 3", v2(1, 0x13, inet4("192.0.2.7", "10.0.0.1", 1, 2))},
		{"v2 inet over dgram", v2(1, 0x12, inet4("192.0.2.7", "10.0.0.1", 1, 2))},
		{"v2 inet short", v2(1, 0x11, inet4("192.0.2.7", "10.0.0.1", 1, 2)[:11])},
		{"v2 inet6 with inet length", v2(1, 0x21, inet4("192.0.2.7", "10.0.0.1", 1, 2))},
		{"v2 too long", bigV2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := &countingReader{r: bytes.NewReader(tc.in)}
			h, err := ReadHeader(r)
			if err == nil {
				t.Fatalf("accepted %q as %+v", tc.in, h)
			}
			if !errors.Is(err, ErrHeader) {
				t.Fatalf("error %v does not wrap ErrHeader", err)
			}
			if r.n > MaxV2 {
				t.Fatalf("read %d bytes before refusing", r.n)
			}
		})
	}
}

// A header that ends early reads no more than was sent (and says so).
func TestReadHeaderTruncated(t *testing.T) {
	full := []byte("PROXY TCP4 127.0.0.5 127.0.0.1 45678 8080\r\n")
	for i := range full {
		r := &countingReader{r: bytes.NewReader(full[:i])}
		if _, err := ReadHeader(r); !errors.Is(err, ErrHeader) {
			t.Fatalf("%d of %d bytes: %v, want a header error", i, len(full), err)
		}
	}
}

// FuzzProxyHeader: the parser never panics, the stepped reader never reads
// past a header's end, and it agrees with Parse over the whole input.
func FuzzProxyHeader(f *testing.F) {
	for _, s := range []string{
		"PROXY TCP4 127.0.0.5 127.0.0.1 45678 8080\r\n" + request,
		"PROXY TCP6 2001:db8::1 2001:db8::2 65535 0\r\nGET",
		"PROXY UNKNOWN\r\n",
		"PROXY UNKNOWN x y\r\n\r\n",
		"PROXY TCP4 127.0.0.5 127.0.0.1 45678\r\n",
		"PROXY TCP4 127.0.0.5 127.0.0.1 45678 8080\r",
		request,
		string(v2(1, 0x11, inet4("192.0.2.7", "10.0.0.1", 5000, 443))) + request,
		string(v2(1, 0x21, inet6("2001:db8::7", "2001:db8::1", 5000, 443))),
		string(v2(0, 0x00, nil)) + "GET",
		string(v2(1, 0x11, append(inet4("192.0.2.7", "10.0.0.1", 5000, 443), 0x04, 0, 1, 'x'))),
		string(v2(1, 0x31, make([]byte, 216))),
		string(v2(1, 0x21, inet4("192.0.2.7", "10.0.0.1", 1, 2))),
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		ph, n, need, perr := Parse(data)
		for _, one := range []bool{false, true} {
			var in io.Reader = bytes.NewReader(data)
			if one {
				in = iotest.OneByteReader(in)
			}
			r := &countingReader{r: in}
			h, err := ReadHeader(r)
			if r.n > MaxV2 {
				t.Fatalf("read %d bytes", r.n)
			}
			if err != nil {
				if perr == nil && n > 0 {
					t.Fatalf("ReadHeader: %v; Parse over the whole input: %+v (%d bytes)", err, ph, n)
				}
				continue
			}
			if perr != nil || n == 0 {
				t.Fatalf("ReadHeader: %+v; Parse over the whole input: n %d need %d err %v", h, n, need, perr)
			}
			if r.n != n || h != ph {
				t.Fatalf("ReadHeader read %d bytes (%+v); the header is %d bytes (%+v)", r.n, h, n, ph)
			}
			if h.Version != 1 && h.Version != 2 || h.Local == h.Source.IsValid() {
				t.Fatalf("header %+v", h)
			}
		}
	})
}
