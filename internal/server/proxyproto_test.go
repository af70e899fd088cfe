package server

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"
)

// proxyProtocolConf is nginx as a TCP proxy (the stream module) that
// starts each upstream connection with a PROXY protocol v1 header naming
// its client, from 127.0.0.9 (proxy_bind), the address majlis trusts.
const proxyProtocolConf = `load_module /usr/lib/nginx/modules/ngx_stream_module.so;
{{user}}
worker_processes 1;
daemon off;
pid {{dir}}/nginx.pid;
error_log {{dir}}/error.log warn;
events { worker_connections {{conns}}; }
stream {
    server {
        listen {{listen}};
        proxy_pass {{origin}};
        proxy_protocol on;
        proxy_bind 127.0.0.9;
        proxy_next_upstream off;
    }
}
`

// streamClient is a stream client (as streamHTTP) whose connections come from src.
func streamClient(src string) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 5 * time.Second}
	return &http.Client{Transport: &http.Transport{DialContext: d.DialContext, ResponseHeaderTimeout: 10 * time.Second}}
}

// TestProxyProtocolNginx: behind nginx's stream proxy with proxy_protocol
// on, listeners play listen.ogg through the proxy and the audience port's
// per-address cap counts each real client (a cap of 1 refuses a second
// listener from 127.0.0.5 and admits one from 127.0.0.6 through the same
// proxy), a PROXY header sent straight to majlis by a peer that is no
// proxy is not believed (just a bad request), and the trusted proxy's own
// connection without a header is closed and counted.
func TestProxyProtocolNginx(t *testing.T) {
	if _, err := os.Stat("/usr/lib/nginx/modules/ngx_stream_module.so"); err != nil {
		t.Fatal("nginx's stream module is not installed: scripts/deps installs libnginx-mod-stream (MAJLIS_DEPS=test)")
	}
	ts, stage := startAdmissionServer(t, AdmissionConfig{
		TrustedProxies: []string{"127.0.0.9"}, ProxyProtocol: true,
		AudienceConnsPerIP: 1, AudienceConnsPerNet: 1000,
	})
	_, hostTok := stage.createUser(t, "amal")
	room := stage.liveRoom(t, hostTok)
	host := publishTone(t, stage, room, hostTok, &tone{freq: lowHz, amp: toneAmp})
	defer host.stop()
	proxy := runNginx(t, proxyProtocolConf, strings.TrimPrefix(ts.base, "http://"), 256)

	// Tickets, joined straight from a peer of their own.
	joiner := timedClient("127.0.0.3")
	tickets := make([]string, 3)
	for i := range tickets {
		r := send(t, joiner, "POST", ts.base+"/api/v1/rooms/"+room+"/join", "", "", nil)
		if r.status != 200 {
			t.Fatalf("join %d: %d %s", i, r.status, r.code)
		}
		var l struct{ Ogg string }
		if err := json.Unmarshal(r.body["listen"], &l); err != nil || l.Ogg == "" {
			t.Fatalf("join %d: listen %s: %v", i, r.body["listen"], err)
		}
		tickets[i] = l.Ogg
	}
	joiner.CloseIdleConnections()

	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	a := listenOggWith(t, ctx, streamClient("127.0.0.5"), proxy.base+tickets[0])
	waitTones(t, a, "listener from 127.0.0.5 through nginx", 10*time.Second, func(w []int, _ []float64) bool { return w[0] >= 9 && w[1] == 0 })

	// A second connection of 127.0.0.5's, through the same proxy: over its cap.
	refused := ts.planes.audLn.Refused()
	req, _ := http.NewRequestWithContext(ctx, "GET", proxy.base+tickets[1], nil)
	if resp, err := streamClient("127.0.0.5").Do(req); err == nil {
		resp.Body.Close()
		t.Fatalf("second listener from 127.0.0.5 through nginx: %s, want its connection refused (the cap counted nginx, not the client)", resp.Status)
	}
	if got := ts.planes.audLn.Refused(); got != refused+1 {
		t.Fatalf("refused connections %d → %d, want one more", refused, got)
	}
	b := listenOggWith(t, ctx, streamClient("127.0.0.6"), proxy.base+tickets[2])
	waitTones(t, b, "listener from 127.0.0.6 through nginx", 10*time.Second, func(w []int, _ []float64) bool { return w[0] >= 9 && w[1] == 0 })

	// Straight to majlis from a peer that is no proxy, a header claiming
	// 127.0.0.5: not believed (127.0.0.5 is at its cap, 127.0.0.7 is not),
	// the header is the request line of a bad request.
	direct := rawConn(t, "127.0.0.7", ts.base)
	io.WriteString(direct, "PROXY TCP4 127.0.0.5 127.0.0.1 4711 80\r\nGET /api/v1/rooms/"+room+" HTTP/1.1\r\nHost: x\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(direct), nil)
	if err != nil {
		t.Fatalf("PROXY header from a peer that is no proxy: %v, want an answer", err)
	}
	var e struct{ Error struct{ Code string } }
	json.NewDecoder(resp.Body).Decode(&e)
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest || e.Error.Code != "bad_request" {
		t.Fatalf("PROXY header from a peer that is no proxy: %d %q, want 400 bad_request", resp.StatusCode, e.Error.Code)
	}

	// The trusted proxy's address without a header: closed, counted.
	for _, port := range []*testServer{ts, stage} {
		c := rawConn(t, "127.0.0.9", port.base)
		io.WriteString(c, "GET /api/v1/rooms/"+room+" HTTP/1.1\r\nHost: x\r\n\r\n")
		if n, err := c.Read(make([]byte, 1)); err == nil || isTimeout(err) {
			t.Fatalf("%s: a trusted proxy's request without a header: read %d, %v; want the connection closed", port.base, n, err)
		}
	}
	if got := ts.planes.audPP.Rejected() + ts.planes.stagePP.Rejected(); got != 2 {
		t.Fatalf("rejected headers %d, want 2", got)
	}

	// The first listener played on throughout.
	waitTones(t, a, "listener from 127.0.0.5 at the end", 5*time.Second, func(w []int, _ []float64) bool { return w[0] >= 9 && w[1] == 0 })
}

// rawConn dials base's host:port from src, with a read deadline.
func rawConn(t *testing.T, src, base string) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 5 * time.Second}
	c, err := d.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(10 * time.Second))
	return c
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}

// proxyV2Client is a stream client that speaks as a TCP proxy at 127.0.0.9
// would: each connection starts with a PROXY protocol v2 header naming
// client (an IPv4 address and port).
func proxyV2Client(client string) *http.Client {
	ap := netip.MustParseAddrPort(client)
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.9")}, Timeout: 5 * time.Second}
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := d.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		hdr := append([]byte("\r\n\r\n\x00\r\nQUIT\n"), 0x21, 0x11, 0, 12)
		src, dst := ap.Addr().As4(), [4]byte{127, 0, 0, 1}
		hdr = append(append(append(hdr, src[:]...), dst[:]...), byte(ap.Port()>>8), byte(ap.Port()), 0x1f, 0x90)
		if _, err := c.Write(hdr); err != nil {
			c.Close()
			return nil, err
		}
		return c, nil
	}
	return &http.Client{Transport: &http.Transport{DialContext: dial, ResponseHeaderTimeout: 10 * time.Second}}
}

// TestProxyProtocolEdge: an edge's port reads version 2 headers too; its
// listeners (whose sockets the fan-out takes over right after the header)
// play the tone, and its per-address cap counts the clients the headers name.
func TestProxyProtocolEdge(t *testing.T) {
	dir := t.TempDir()
	ts := startServerWith(t, dir, withCluster)
	e, edgeBase := startEdgeWith(t, ts, dir, func(c *EdgeConfig) {
		c.Admission.TrustedProxies, c.Admission.ProxyProtocol = []string{"127.0.0.9"}, true
		c.Admission.AudienceConnsPerIP, c.Admission.AudienceConnsPerNet = 1, 1000
	})
	_, hostTok := ts.createUser(t, "amal")
	room := ts.liveRoom(t, hostTok)
	host := publishTone(t, ts, room, hostTok, &tone{freq: lowHz, amp: toneAmp})
	defer host.stop()
	j1, j2, j3 := ts.joinOnEdge(t, room, e), ts.joinOnEdge(t, room, e), ts.joinOnEdge(t, room, e)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	a := listenOggWith(t, ctx, proxyV2Client("192.0.2.44:5000"), edgeBase+j1.Listen.Ogg)
	waitTones(t, a, "edge listener named by a v2 header", 10*time.Second, func(w []int, _ []float64) bool { return w[0] >= 9 && w[1] == 0 })
	refused := e.planes.audLn.Refused()
	req, _ := http.NewRequestWithContext(ctx, "GET", edgeBase+j2.Listen.Ogg, nil)
	if resp, err := proxyV2Client("192.0.2.44:5001").Do(req); err == nil {
		resp.Body.Close()
		t.Fatalf("second listener of 192.0.2.44: %s, want its connection refused at the cap", resp.Status)
	}
	if got := e.planes.audLn.Refused(); got != refused+1 {
		t.Fatalf("refused connections %d → %d, want one more", refused, got)
	}
	b := listenOggWith(t, ctx, proxyV2Client("192.0.2.45:5000"), edgeBase+j3.Listen.Ogg)
	waitTones(t, b, "edge listener of another client", 10*time.Second, func(w []int, _ []float64) bool { return w[0] >= 9 && w[1] == 0 })
}
