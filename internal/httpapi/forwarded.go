package httpapi

import (
	"net/netip"
	"strings"
)

// The Forwarded header, RFC 7239 (https://www.rfc-editor.org/rfc/rfc7239):
// each proxy on the way appends one element for the request it received,
// `for=` the node that connected to it, `proto=` the scheme it was reached
// by, `host=` the Host it was asked for, e.g.
//
//	Forwarded: for=198.51.100.9;proto=https;host=majlis.example, for="[2001:db8::7]:4711"
//
// Elements are read from the right, where the proxies nearest to majlis
// wrote them, and only as far as the first one a trusted proxy did not
// write; whatever the client itself sent is further left and never read.
//
// Where majlis is stricter than the RFC's grammar, for bounded work and so
// that a client's own Forwarded, to which a proxy appends, cannot change
// how the proxy's elements parse: elements are split at every comma,
// inside quotes too (no value majlis reads holds one: a quoted value with
// a comma makes its element unreadable), an element is at most
// maxForwardedElement bytes, and at most maxForwardedHops elements are
// looked at.
const (
	headerForwarded     = "Forwarded"
	maxForwardedElement = 512 // the longest: for, host (255), proto and separators, with room for `by`
)

// forwardedElement is one element's parameters majlis reads, unquoted.
// ok is false for an element that does not parse (it tells nothing).
type forwardedElement struct {
	node, proto, host string
	hasNode           bool
	ok                bool
}

// forwardedElements calls each with Forwarded's elements from the
// rightmost (the last header line's last element) leftwards, until each
// returns false, maxForwardedHops elements were given, or one too long to
// read was (given as unreadable, the last). Empty list elements are
// skipped but count towards the bound. Work is bounded by
// maxForwardedHops × maxForwardedElement bytes, whatever the header's size.
func forwardedElements(lines []string, each func(forwardedElement) bool) {
	n := 0
	for l := len(lines) - 1; l >= 0; l-- {
		line := lines[l]
		end := len(line)
		for end >= 0 {
			if n == maxForwardedHops {
				return
			}
			n++
			// The element is line[start:end]; a longer one than
			// maxForwardedElement is not scanned to its start.
			start := end - 1
			for start >= 0 && line[start] != ',' && end-start <= maxForwardedElement {
				start--
			}
			if start >= 0 && line[start] != ',' { // too long: unreadable, and nothing left of it is read
				each(forwardedElement{})
				return
			}
			el := strings.TrimSpace(line[start+1 : end])
			end = start
			if el == "" { // an empty list element (RFC 9110 §5.6.1) is no hop
				continue
			}
			if !each(parseForwardedElement(el)) {
				return
			}
		}
	}
}

// parseForwardedElement reads `[ pair ] *( ";" [ pair ] )`, pair being
// `token "=" ( token / quoted-string )`, with optional white space around
// the semicolons. A parameter given twice makes the element unreadable
// (RFC 7239 §4).
func parseForwardedElement(s string) forwardedElement {
	var e forwardedElement
	var seenProto, seenHost bool
	for {
		s = strings.TrimLeft(s, " \t")
		if s == "" {
			e.ok = true
			return e
		}
		if s[0] == ';' { // an empty pair
			s = s[1:]
			continue
		}
		i := 0
		for i < len(s) && isTokenChar(s[i]) {
			i++
		}
		if i == 0 || i == len(s) || s[i] != '=' {
			return forwardedElement{}
		}
		name := s[:i]
		s = s[i+1:]
		var v string
		var ok bool
		if v, s, ok = forwardedValue(s); !ok {
			return forwardedElement{}
		}
		switch {
		case strings.EqualFold(name, "for"):
			if e.hasNode {
				return forwardedElement{}
			}
			e.node, e.hasNode = v, true
		case strings.EqualFold(name, "proto"):
			if seenProto {
				return forwardedElement{}
			}
			e.proto, seenProto = v, true
		case strings.EqualFold(name, "host"):
			if seenHost {
				return forwardedElement{}
			}
			e.host, seenHost = v, true
		}
		s = strings.TrimLeft(s, " \t")
		if s == "" {
			e.ok = true
			return e
		}
		if s[0] != ';' {
			return forwardedElement{}
		}
		s = s[1:]
	}
}

// forwardedValue reads a token or a quoted-string (RFC 9110 §5.6.4) from
// the start of s: the value, unquoted, and what follows it.
func forwardedValue(s string) (v, rest string, ok bool) {
	if s == "" {
		return "", "", false
	}
	if s[0] != '"' {
		i := 0
		for i < len(s) && isTokenChar(s[i]) {
			i++
		}
		return s[:i], s[i:], i > 0
	}
	var b []byte // only when the value has a quoted-pair
	for i := 1; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"':
			if b != nil {
				return string(b), s[i+1:], true
			}
			return s[1:i], s[i+1:], true
		case c == '\\':
			if i+1 == len(s) || !isQuotedPairChar(s[i+1]) {
				return "", "", false
			}
			if b == nil {
				b = append(make([]byte, 0, len(s)), s[1:i]...)
			}
			i++
			b = append(b, s[i])
		case c == '\t' || c >= 0x20 && c != 0x7f:
			if b != nil {
				b = append(b, c)
			}
		default:
			return "", "", false
		}
	}
	return "", "", false // unterminated
}

// forwardedNode reads a `for=` node (RFC 7239 §6): an IPv4 address or a
// bracketed IPv6 one, each with an optional port (digits or an obfuscated
// `_…` port). A bare IPv6 address, which the grammar does not allow but
// proxies that quote $remote_addr send, is read too. false: "unknown", an
// obfuscated identifier (`_…`) or anything else, a node majlis cannot name.
func forwardedNode(s string) (netip.Addr, bool) {
	host, port := s, ""
	if strings.HasPrefix(s, "[") {
		i := strings.IndexByte(s, ']')
		if i < 0 {
			return netip.Addr{}, false
		}
		host, port = s[1:i], s[i+1:]
		if port != "" {
			if port[0] != ':' {
				return netip.Addr{}, false
			}
			port = port[1:]
			if port == "" {
				return netip.Addr{}, false
			}
		}
		a, err := netip.ParseAddr(host)
		if err != nil || !a.Is6() || a.Zone() != "" || port != "" && !validNodePort(port) {
			return netip.Addr{}, false
		}
		return a.Unmap(), true
	}
	if a, err := netip.ParseAddr(s); err == nil { // IPv4, or IPv6 without brackets
		if a.Zone() != "" {
			return netip.Addr{}, false
		}
		return a.Unmap(), true
	}
	if i := strings.IndexByte(s, ':'); i >= 0 {
		host, port = s[:i], s[i+1:]
	}
	a, err := netip.ParseAddr(host)
	if err != nil || !a.Is4() || port == "" || !validNodePort(port) {
		return netip.Addr{}, false
	}
	return a, true
}

// validNodePort: 1–5 digits, or `_` and letters, digits, '.', '_', '-'.
func validNodePort(p string) bool {
	if p == "" || len(p) > 64 {
		return false
	}
	if p[0] == '_' {
		for i := 1; i < len(p); i++ {
			if c := p[i]; !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
				return false
			}
		}
		return len(p) > 1
	}
	if len(p) > 5 {
		return false
	}
	for i := 0; i < len(p); i++ {
		if p[i] < '0' || p[i] > '9' {
			return false
		}
	}
	return true
}

// isTokenChar is tchar (RFC 9110 §5.6.2).
func isTokenChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}

// isQuotedPairChar is what may follow a backslash in a quoted-string.
func isQuotedPairChar(c byte) bool {
	return c == '\t' || c >= 0x20 && c != 0x7f
}
