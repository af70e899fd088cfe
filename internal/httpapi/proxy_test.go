package httpapi

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
)

// TestProxiesRewrite: from a trusted peer, the client is the rightmost
// X-Forwarded-For hop that is not a trusted proxy and the host is
// X-Forwarded-Host; from any other peer both headers are dropped.
func TestProxiesRewrite(t *testing.T) {
	p, err := ParseProxies([]string{"10.0.0.0/8", "192.0.2.7"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ParseProxies([]string{"10.0.0.0/33"}); err == nil {
		t.Fatal("a bad prefix parsed")
	}
	var got *http.Request
	h := p.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { got = r }))
	for _, tc := range []struct {
		peer, xff, xfh string
		client, host   string
	}{
		{"10.1.2.3:5000", "198.51.100.9", "majlis.example", "198.51.100.9", "majlis.example"},
		{"10.1.2.3:5000", "6.6.6.6, 198.51.100.9, 10.9.9.9", "", "198.51.100.9", "origin:8080"}, // the client's own claim (6.6.6.6) is not the answer
		{"192.0.2.7:1", "", "bad host/", "192.0.2.7", "origin:8080"},                            // nothing forwarded: the peer; a bad host ignored
		{"10.1.2.3:5000", "not-an-ip", "", "10.1.2.3", "origin:8080"},                           // unreadable: the peer
		{"203.0.113.5:7", "198.51.100.9", "evil.example", "203.0.113.5", "origin:8080"},         // not a proxy: nothing believed
		// A client's own 40 hops, then the proxy's: only the rightmost are read.
		{"10.1.2.3:5000", strings.Repeat("6.6.6.6,", 40) + "198.51.100.9", "", "198.51.100.9", "origin:8080"},
		{"10.1.2.3:5000", strings.Repeat("junk,", 40) + "198.51.100.9, 10.9.9.9", "", "198.51.100.9", "origin:8080"},
		{"10.1.2.3:5000", "198.51.100.9," + strings.Repeat("10.9.9.9,", 40) + "10.9.9.9", "", "10.1.2.3", "origin:8080"}, // 32 proxies looked at, no client
		{"10.1.2.3:5000", "fe80::1%eth0", "", "10.1.2.3", "origin:8080"},                                                 // a zone names no client
	} {
		r := httptest.NewRequest("GET", "http://origin:8080/", nil)
		r.RemoteAddr = tc.peer
		if tc.xff != "" {
			r.Header.Set("X-Forwarded-For", tc.xff)
		}
		if tc.xfh != "" {
			r.Header.Set("X-Forwarded-Host", tc.xfh)
		}
		h.ServeHTTP(httptest.NewRecorder(), r)
		if c := ClientAddr(got); c != netip.MustParseAddr(tc.client) || got.Host != tc.host {
			t.Errorf("peer %s, X-Forwarded-For %q, X-Forwarded-Host %q: client %v host %q, want %s %q", tc.peer, tc.xff, tc.xfh, c, got.Host, tc.client, tc.host)
		}
	}
}

// FuzzForwardedFor: any X-Forwarded-For from a trusted peer gives a
// client address or the peer, never a panic.
func FuzzForwardedFor(f *testing.F) {
	for _, s := range []string{"198.51.100.9", "a, b, c", "::1, 10.0.0.1", ",,,", "[::1]:80", "1.2.3.4,   5.6.7.8 ,"} {
		f.Add(s)
	}
	p, _ := ParseProxies([]string{"10.0.0.0/8"})
	f.Fuzz(func(t *testing.T, xff string) {
		a, ok := p.client([]string{xff})
		if ok && (!a.IsValid() || p.trusted(a)) {
			t.Fatalf("client %v from %q: a trusted proxy or invalid", a, xff)
		}
	})
}
