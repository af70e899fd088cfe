package httpapi

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"

	"majlis/internal/web"
)

// TestForwardedNode: the `for=` forms of RFC 7239 §6 name an address;
// "unknown", obfuscated identifiers and anything malformed name none.
func TestForwardedNode(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want string // "" : not named
	}{
		{"192.0.2.60", "192.0.2.60"},
		{"192.0.2.60:4711", "192.0.2.60"},
		{"192.0.2.60:_port", "192.0.2.60"},
		{"[2001:db8:cafe::17]", "2001:db8:cafe::17"},
		{"[2001:db8:cafe::17]:4711", "2001:db8:cafe::17"},
		{"[2001:db8:cafe::17]:_x.y-z", "2001:db8:cafe::17"},
		{"2001:db8:cafe::17", "2001:db8:cafe::17"}, // bare IPv6: not the grammar, but what `"$remote_addr"` gives
		{"[::ffff:192.0.2.1]", "192.0.2.1"},        // mapped: the IPv4 address
		{"unknown", ""}, {"UNKNOWN", ""}, {"_hidden", ""}, {"_SEVKISEK", ""},
		{"", ""}, {"[2001:db8::1", ""}, {"[2001:db8::1]4711", ""}, {"[2001:db8::1]:", ""},
		{"[192.0.2.1]", ""}, // IPv4 in brackets
		{"192.0.2.1:", ""}, {"192.0.2.1:123456", ""}, {"192.0.2.1:_", ""}, {"192.0.2.1:80:80", ""},
		{"[fe80::1%eth0]", ""}, {"fe80::1%eth0", ""}, // zones name no client
		{"192.0.2.1:8a", ""}, {"example.org", ""}, {"[2001:db8::1]:_a/b", ""},
	} {
		a, ok := forwardedNode(tc.in)
		if got := ""; ok {
			got = a.String()
			if got != tc.want {
				t.Errorf("node %q: %s, want %q", tc.in, got, tc.want)
			}
		} else if tc.want != "" {
			t.Errorf("node %q: not named, want %s", tc.in, tc.want)
		}
	}
}

// TestForwardedElement: pairs, quoting, case, white space around
// semicolons, and what makes an element unreadable.
func TestForwardedElement(t *testing.T) {
	for _, tc := range []struct {
		in                string
		ok                bool
		node, proto, host string
	}{
		{`for=192.0.2.60;proto=http;by=203.0.113.43`, true, "192.0.2.60", "http", ""},
		{`For="[2001:db8:cafe::17]:4711";PROTO=https;Host="majlis.example:8443"`, true, "[2001:db8:cafe::17]:4711", "https", "majlis.example:8443"},
		{`for=a ; proto=https`, true, "a", "https", ""},
		{`proto=https`, true, "", "https", ""},
		{`for="\"q\\uoted\""`, true, `"q\uoted"`, "", ""},
		{`for="a;b"`, true, "a;b", "", ""}, // a semicolon in quotes stays in its value
		{`ext="x y";for=_h`, true, "_h", "", ""},
		{`for=a;for=b`, false, "", "", ""}, // a parameter twice (RFC 7239 §4)
		{`proto=http;PROTO=https`, false, "", "", ""},
		{`host=a;host=b`, false, "", "", ""},
		{`for="a`, false, "", "", ""}, {`for=`, false, "", "", ""}, {`=a`, false, "", "", ""},
		{`for=[::1]`, false, "", "", ""},                                                          // brackets need quotes
		{`for=a;`, true, "a", "", ""}, {`; ;for=a;;`, true, "a", "", ""}, {`;`, true, "", "", ""}, // empty pairs are allowed
		{`for="a"b`, false, "", "", ""}, {`for=a;=`, false, "", "", ""},
		{`for="a\`, false, "", "", ""}, {"for=\"a\x00\"", false, "", "", ""}, {`for a`, false, "", "", ""},
	} {
		e := parseForwardedElement(tc.in)
		if e.ok != tc.ok || e.ok && (e.node != tc.node || e.proto != tc.proto || e.host != tc.host) {
			t.Errorf("element %q: %+v, want ok %v for %q proto %q host %q", tc.in, e, tc.ok, tc.node, tc.proto, tc.host)
		}
	}
}

// TestProxiesForwarded: from a trusted peer, Forwarded and
// X-Forwarded-Proto give the client's address, host and scheme, with the
// same rightmost-untrusted walk as X-Forwarded-For; X-Forwarded-* win over
// Forwarded; from any other peer every one of them is dropped.
func TestProxiesForwarded(t *testing.T) {
	p, err := ParseProxies([]string{"10.0.0.0/8", "2001:db8:ffff::/48"})
	if err != nil {
		t.Fatal(err)
	}
	var got *http.Request
	h := p.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { got = r }))
	const peer = "10.1.2.3:5000"
	for _, tc := range []struct {
		name   string
		peer   string
		hdr    [][2]string // in order; a name twice is two header lines
		client string
		host   string
		scheme string
	}{
		{"forwarded", peer, [][2]string{{"Forwarded", `for=198.51.100.9;proto=https;host=majlis.example`}}, "198.51.100.9", "majlis.example", "https"},
		{"quoted ipv6 with port", peer, [][2]string{{"Forwarded", `for="[2001:db8:cafe::17]:4711";proto=https`}}, "2001:db8:cafe::17", "origin:8080", "https"},
		{"proto http", peer, [][2]string{{"Forwarded", `for=198.51.100.9;proto=http`}}, "198.51.100.9", "origin:8080", "http"},
		{"no proto", peer, [][2]string{{"Forwarded", `for=198.51.100.9`}}, "198.51.100.9", "origin:8080", "http"},
		{"odd proto", peer, [][2]string{{"Forwarded", `for=198.51.100.9;proto=gopher`}}, "198.51.100.9", "origin:8080", "http"},
		// The client's own element (6.6.6.6, proto https) is left of the
		// one a trusted proxy wrote: never read.
		{"client's claim ignored", peer, [][2]string{{"Forwarded", `for=6.6.6.6;proto=https;host=evil.example, for=198.51.100.9;proto=http;host=majlis.example`}}, "198.51.100.9", "majlis.example", "http"},
		// Two trusted proxies: the CDN (10.9.9.9) wrote the client's element.
		{"chain", peer, [][2]string{{"Forwarded", `for=198.51.100.9;proto=https;host=majlis.example, for=10.9.9.9;proto=http;host=internal`}}, "198.51.100.9", "majlis.example", "https"},
		{"chain over lines", peer, [][2]string{{"Forwarded", `for=6.6.6.6;host=evil.example`}, {"Forwarded", `for=198.51.100.9;proto=https;host=majlis.example`}, {"Forwarded", `for="[2001:db8:ffff::1]"`}}, "198.51.100.9", "majlis.example", "https"},
		{"unknown client", peer, [][2]string{{"Forwarded", `for=6.6.6.6, for=unknown;proto=https;host=majlis.example`}}, "10.1.2.3", "majlis.example", "https"},
		{"obfuscated client", peer, [][2]string{{"Forwarded", `for=6.6.6.6, for=_x9;proto=https`}}, "10.1.2.3", "origin:8080", "https"},
		{"no for", peer, [][2]string{{"Forwarded", `proto=https;host=majlis.example`}}, "10.1.2.3", "majlis.example", "https"},
		{"unreadable element", peer, [][2]string{{"Forwarded", `for=198.51.100.9;proto=https;proto=https`}}, "10.1.2.3", "origin:8080", "http"},
		{"unreadable beyond a proxy", peer, [][2]string{{"Forwarded", `for="6.6.6.6, for=10.9.9.9;proto=https`}}, "10.1.2.3", "origin:8080", "http"},
		// The client's broken prefix (an open quote) cannot swallow what
		// the proxy appended: elements split at every comma.
		{"client's open quote", peer, [][2]string{{"Forwarded", `for="6.6.6.6, for=198.51.100.9;proto=https`}}, "198.51.100.9", "origin:8080", "https"},
		{"empty elements", peer, [][2]string{{"Forwarded", `, ,for=198.51.100.9;proto=https, ,`}}, "198.51.100.9", "origin:8080", "https"},
		{"only proxies", peer, [][2]string{{"Forwarded", `for=10.9.9.9;proto=https;host=majlis.example`}}, "10.1.2.3", "majlis.example", "https"},
		{"bad host ignored", peer, [][2]string{{"Forwarded", `for=198.51.100.9;host="a/b"`}}, "198.51.100.9", "origin:8080", "http"},
		{"x-forwarded-proto", peer, [][2]string{{"X-Forwarded-For", "198.51.100.9"}, {"X-Forwarded-Proto", "https"}}, "198.51.100.9", "origin:8080", "https"},
		{"x-forwarded-proto alone", peer, [][2]string{{"X-Forwarded-Proto", "HTTPS"}}, "10.1.2.3", "origin:8080", "https"},
		{"x-forwarded-proto rightmost", peer, [][2]string{{"X-Forwarded-Proto", "http, https"}}, "10.1.2.3", "origin:8080", "https"},
		{"x-forwarded-proto rightmost line", peer, [][2]string{{"X-Forwarded-Proto", "https"}, {"X-Forwarded-Proto", "http"}}, "10.1.2.3", "origin:8080", "http"},
		// X-Forwarded-* win: behind a proxy that writes them, a client's
		// own Forwarded passes through untouched and must not count.
		{"x-forwarded wins", peer, [][2]string{{"X-Forwarded-For", "198.51.100.9"}, {"Forwarded", `for=6.6.6.6;proto=https;host=evil.example`}}, "198.51.100.9", "origin:8080", "http"},
		{"x-forwarded-host alone wins", peer, [][2]string{{"X-Forwarded-Host", "majlis.example"}, {"Forwarded", `for=6.6.6.6;proto=https`}}, "10.1.2.3", "majlis.example", "http"},
		{"untrusted forwarded", "203.0.113.5:7", [][2]string{{"Forwarded", `for=198.51.100.9;proto=https;host=evil.example`}}, "203.0.113.5", "origin:8080", "http"},
		{"untrusted x-forwarded-proto", "203.0.113.5:7", [][2]string{{"X-Forwarded-Proto", "https"}}, "203.0.113.5", "origin:8080", "http"},
		{"trusted ipv6 peer", "[2001:db8:ffff::9]:443", [][2]string{{"Forwarded", `for="[2001:db8::5]";proto=https`}}, "2001:db8::5", "origin:8080", "https"},
	} {
		r := httptest.NewRequest("GET", "http://origin:8080/", nil)
		r.RemoteAddr = tc.peer
		for _, kv := range tc.hdr {
			r.Header.Add(kv[0], kv[1])
		}
		got = nil
		h.ServeHTTP(httptest.NewRecorder(), r)
		if c := ClientAddr(got); c != netip.MustParseAddr(tc.client) || got.Host != tc.host || web.Scheme(got) != tc.scheme {
			t.Errorf("%s: client %v host %q scheme %s, want %s %q %s", tc.name, c, got.Host, web.Scheme(got), tc.client, tc.host, tc.scheme)
		}
		if !p.trusted(netip.MustParseAddrPort(tc.peer).Addr()) {
			for _, name := range []string{"Forwarded", "X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto"} {
				if v := got.Header.Values(name); len(v) > 0 {
					t.Errorf("%s: %s %q passed on from an untrusted peer", tc.name, name, v)
				}
			}
		}
	}
}

// TestForwardedBounded: however long the header and however many its
// elements or lines, at most maxForwardedHops elements are looked at, an
// element longer than maxForwardedElement is not scanned, and the walk
// allocates nothing.
func TestForwardedBounded(t *testing.T) {
	p, _ := ParseProxies([]string{"10.0.0.0/8"})
	long := strings.Repeat("x", 1<<20)
	many := strings.Repeat("for=10.0.0.1,", 1<<16)
	lines := make([]string, 1<<16)
	for i := range lines {
		lines[i] = "for=10.0.0.1"
	}
	for _, tc := range []struct {
		name     string
		lines    []string
		elements int
		client   string
	}{
		{"one huge element", []string{"for=" + long}, 1, ""},
		{"huge element left of the client", []string{"for=" + long + ",for=198.51.100.9"}, 2, "198.51.100.9"},
		{"huge quoted tail", []string{`for="` + long}, 1, ""},
		{"many proxies", []string{many + "for=10.0.0.2"}, maxForwardedHops, ""},
		{"many commas", []string{strings.Repeat(",", 1<<20)}, 0, ""},
		{"many lines", lines, maxForwardedHops, ""},
		{"many empty lines", make([]string, 1<<16), 0, ""},
	} {
		n := 0
		forwardedElements(tc.lines, func(forwardedElement) bool { n++; return true })
		if n > tc.elements {
			t.Errorf("%s: %d elements looked at, want at most %d", tc.name, n, tc.elements)
		}
		f := p.fromForwarded(tc.lines)
		if tc.client != "" && f.client != netip.MustParseAddr(tc.client) || tc.client == "" && f.client.IsValid() {
			t.Errorf("%s: client %v, want %q", tc.name, f.client, tc.client)
		}
		if a := testing.AllocsPerRun(10, func() { p.fromForwarded(tc.lines) }); a != 0 {
			t.Errorf("%s: %v allocations", tc.name, a)
		}
	}
}

// FuzzForwarded: any Forwarded from a trusted peer gives a client that is
// no trusted proxy (or none), never a panic, looks at no more than
// maxForwardedHops elements; and whatever a client sent, the element a
// trusted proxy appended to it is what counts.
func FuzzForwarded(f *testing.F) {
	for _, s := range []string{
		`for=192.0.2.60;proto=http;by=203.0.113.43`,
		`for="[2001:db8:cafe::17]:4711"`,
		`for=unknown, for=_hidden;proto=https;host=a`,
		`for="\"`, `;;;`, `,,,`, `for=a;for=b`, `for="a\\"b"`, `proto=https;host="[::1]:80"`,
		`for=10.0.0.1, for=10.0.0.2, for=10.0.0.3`,
	} {
		f.Add(s)
	}
	p, _ := ParseProxies([]string{"10.0.0.0/8"})
	const appended = `for=198.51.100.9;proto=https;host=majlis.example`
	f.Fuzz(func(t *testing.T, fwd string) {
		for _, lines := range [][]string{{fwd}, {fwd, fwd}, {strings.Repeat(fwd, 3)}} {
			got := p.fromForwarded(lines)
			if got.client.IsValid() && p.trusted(got.client) {
				t.Fatalf("client %v from %q: a trusted proxy", got.client, lines)
			}
			n := 0
			forwardedElements(lines, func(forwardedElement) bool { n++; return true })
			if n > maxForwardedHops {
				t.Fatalf("%d elements looked at in %q", n, lines)
			}
		}
		for _, lines := range [][]string{{fwd + ", " + appended}, {fwd, appended}} {
			got := p.fromForwarded(lines)
			if got.client != netip.MustParseAddr("198.51.100.9") || !got.https || got.host != "majlis.example" {
				t.Fatalf("after the client's %q the proxy's element gave %+v", fwd, got)
			}
		}
	})
}
