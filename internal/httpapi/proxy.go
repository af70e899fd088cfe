package httpapi

import (
	"fmt"
	"net/http"
	"net/netip"
	"strings"

	"majlis/internal/web"
)

// Proxies are the reverse proxies trusted to say who their clients are
// (--trusted-proxies). A request whose TCP peer is one of them is taken as
// the proxy says: its client address, the host and the scheme the client
// asked for, from X-Forwarded-For, X-Forwarded-Host and X-Forwarded-Proto,
// or from Forwarded (RFC 7239) when the request has none of those three.
// So the audience guard's limits count the real client, the WebSocket
// origin check compares the browser's host, and a client that reached the
// proxy over TLS gets a Secure session cookie and passes the CSRF origin
// check with its https origin. From any other peer all four headers mean
// nothing and are dropped.
//
// X-Forwarded-* win over Forwarded because they are what most proxies
// write (nginx's usual configuration, HAProxy, Caddy, Envoy, Go's
// ReverseProxy), and a proxy passes on, untouched, the headers it does not
// write: behind one that writes X-Forwarded-For, a client's own Forwarded
// must not count. A proxy that writes Forwarded must therefore remove
// X-Forwarded-For, -Host and -Proto (docs/operations.md).
type Proxies struct {
	nets []netip.Prefix
}

// ParseProxies reads CIDR prefixes or single addresses.
func ParseProxies(list []string) (Proxies, error) {
	var p Proxies
	for _, s := range list {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		if !strings.Contains(s, "/") {
			a, err := netip.ParseAddr(s)
			if err != nil {
				return Proxies{}, fmt.Errorf("trusted proxy %q: %w", s, err)
			}
			a = a.Unmap()
			s = netip.PrefixFrom(a, a.BitLen()).String()
		}
		n, err := netip.ParsePrefix(s)
		if err != nil {
			return Proxies{}, fmt.Errorf("trusted proxy %q: %w", s, err)
		}
		p.nets = append(p.nets, n.Masked())
	}
	return p, nil
}

// Empty reports whether no proxy is trusted.
func (p Proxies) Empty() bool { return len(p.nets) == 0 }

// Trusts reports whether a is one of the proxies (the PROXY protocol's
// listener asks it of each peer).
func (p Proxies) Trusts(a netip.Addr) bool { return p.trusted(a) }

func (p Proxies) trusted(a netip.Addr) bool {
	a = a.Unmap()
	for _, n := range p.nets {
		if n.Contains(a) {
			return true
		}
	}
	return false
}

// Forwarded headers read from a trusted proxy; others drop them.
const (
	headerForwardedFor   = "X-Forwarded-For"
	headerForwardedHost  = "X-Forwarded-Host"
	headerForwardedProto = "X-Forwarded-Proto"
	maxForwardedHops     = 32
)

// Wrap returns next behind the proxies' rewriting. With no proxies it is
// next itself, and the forwarded headers are never read.
func (p Proxies) Wrap(next http.Handler) http.Handler {
	if len(p.nets) == 0 {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		peer := ClientAddr(r)
		if !peer.IsValid() || !p.trusted(peer) {
			for _, h := range [...]string{headerForwardedFor, headerForwardedHost, headerForwardedProto, headerForwarded} {
				r.Header.Del(h)
			}
			next.ServeHTTP(w, r)
			return
		}
		f := p.forwarded(r.Header)
		if f.client.IsValid() {
			r.RemoteAddr = netip.AddrPortFrom(f.client, 0).String()
		}
		if validHost(f.host) {
			r.Host = f.host
		}
		if f.https {
			r = web.WithHTTPS(r)
		}
		next.ServeHTTP(w, r)
	})
}

// forwarding is what a trusted proxy said of its client: its address
// (invalid: the proxy did not say or cannot know, the peer stays the
// client), the Host it asked for ("": the request's own) and whether it
// came over https.
type forwarding struct {
	client netip.Addr
	host   string
	https  bool
}

// forwarded reads X-Forwarded-For, -Host and -Proto when the request has
// any of them, else Forwarded.
func (p Proxies) forwarded(h http.Header) forwarding {
	if len(h[headerForwardedFor]) > 0 || len(h[headerForwardedHost]) > 0 || len(h[headerForwardedProto]) > 0 {
		var f forwarding
		if c, ok := p.client(h.Values(headerForwardedFor)); ok {
			f.client = c
		}
		f.host = h.Get(headerForwardedHost)
		f.https = forwardedHTTPS(h.Values(headerForwardedProto))
		return f
	}
	return p.fromForwarded(h.Values(headerForwarded))
}

// fromForwarded walks Forwarded's elements from the right, as client does
// X-Forwarded-For's hops: an element whose `for` is a trusted proxy was
// written by the next proxy out, so the walk goes on to its left; it stops
// at the first element whose `for` is not a trusted proxy, and that node
// is the client, that element's proto and host the client's. A node that
// cannot be named ("unknown", obfuscated, unreadable) stops the walk too,
// with the peer as the client: what a trusted proxy said about the scheme
// and host still holds. An unreadable element says nothing at all.
func (p Proxies) fromForwarded(lines []string) forwarding {
	var f forwarding
	forwardedElements(lines, func(e forwardedElement) bool {
		if !e.ok {
			f = forwarding{}
			return false
		}
		a, named := forwardedNode(e.node)
		f = forwarding{host: e.host, https: strings.EqualFold(e.proto, "https")}
		if named && !p.trusted(a) {
			f.client = a
			return false
		}
		return named
	})
	return f
}

// forwardedHTTPS: the rightmost X-Forwarded-Proto, the one the nearest
// proxy wrote, is https.
func forwardedHTTPS(values []string) bool {
	if len(values) == 0 {
		return false
	}
	v := values[len(values)-1]
	if i := strings.LastIndexByte(v, ','); i >= 0 {
		v = v[i+1:]
	}
	return strings.EqualFold(strings.TrimSpace(v), "https")
}

// client is the address X-Forwarded-For names for the request: the
// rightmost one that is not a trusted proxy itself (those to its left were
// written by the client, who may lie, and are never read). false: none
// usable (an unreadable hop, or maxForwardedHops trusted ones, first).
func (p Proxies) client(values []string) (netip.Addr, bool) {
	n := 0
	for l := len(values) - 1; l >= 0; l-- {
		v := values[l]
		for {
			if n == maxForwardedHops {
				return netip.Addr{}, false
			}
			n++
			i := strings.LastIndexByte(v, ',')
			a, err := netip.ParseAddr(strings.TrimSpace(v[i+1:]))
			if err != nil || a.Zone() != "" {
				return netip.Addr{}, false
			}
			if a = a.Unmap(); !p.trusted(a) {
				return a, true
			}
			if i < 0 {
				break
			}
			v = v[:i]
		}
	}
	return netip.Addr{}, false
}

// validHost accepts HOST or HOST:PORT of letters, digits, '.', '-', ':'
// and IPv6 brackets, at most 255 bytes.
func validHost(h string) bool {
	if h == "" || len(h) > 255 {
		return false
	}
	for _, c := range h {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '-' || c == ':' || c == '[' || c == ']') {
			return false
		}
	}
	return true
}
