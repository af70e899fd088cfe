package httpapi

import (
	"fmt"
	"net/http"
	"net/netip"
	"strings"
)

// Proxies are the reverse proxies trusted to say who their clients are
// (--trusted-proxies). A request whose TCP peer is one of them is taken as
// the proxy says: its client address from X-Forwarded-For and its host
// from X-Forwarded-Host, so the audience guard's limits count the real
// client and the WebSocket origin check compares the browser's host. From
// any other peer those headers mean nothing and are dropped.
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
	headerForwardedFor  = "X-Forwarded-For"
	headerForwardedHost = "X-Forwarded-Host"
	maxForwardedHops    = 32
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
			r.Header.Del(headerForwardedFor)
			r.Header.Del(headerForwardedHost)
			next.ServeHTTP(w, r)
			return
		}
		if c, ok := p.client(r.Header.Values(headerForwardedFor)); ok {
			r.RemoteAddr = netip.AddrPortFrom(c, 0).String()
		}
		if h := r.Header.Get(headerForwardedHost); validHost(h) {
			r.Host = h
		}
		next.ServeHTTP(w, r)
	})
}

// client is the address X-Forwarded-For names for the request: the
// rightmost one that is not a trusted proxy itself (those to its left were
// written by the client, who may lie). false: none usable.
func (p Proxies) client(values []string) (netip.Addr, bool) {
	var hops []string
	for _, v := range values {
		for h := range strings.SplitSeq(v, ",") {
			if len(hops) == maxForwardedHops {
				return netip.Addr{}, false
			}
			hops = append(hops, strings.TrimSpace(h))
		}
	}
	for i := len(hops) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(hops[i])
		if err != nil {
			return netip.Addr{}, false
		}
		if a = a.Unmap(); !p.trusted(a) {
			return a, true
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
