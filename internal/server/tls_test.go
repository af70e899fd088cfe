package server

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"

	"majlis/internal/admission"
	"majlis/internal/certs"
	"majlis/internal/testkit"
)

// tlsPairs writes two certificate pairs for 127.0.0.1 (serials 1 and 2):
// the first at the paths the server is given, the second beside them for
// a renewal; pool trusts both.
type tlsPairs struct {
	cert, key   string // what the server reads
	cert2, key2 string // the renewal
	pool        *x509.CertPool
}

func writeTLSPairs(t *testing.T) tlsPairs {
	t.Helper()
	dir := t.TempDir()
	p := tlsPairs{cert: filepath.Join(dir, "cert.pem"), key: filepath.Join(dir, "key.pem"),
		cert2: filepath.Join(dir, "cert2.pem"), key2: filepath.Join(dir, "key2.pem"), pool: x509.NewCertPool()}
	for _, f := range []struct {
		cert, key string
		serial    int64
	}{{p.cert, p.key, 1}, {p.cert2, p.key2, 2}} {
		c, err := testkit.WriteCert(f.cert, f.key, f.serial)
		if err != nil {
			t.Fatal(err)
		}
		p.pool.AddCert(c)
	}
	return p
}

// httpsClient trusts pool; h2 offers HTTP/2 (net/http's transport speaks
// only HTTP/1.1 over a custom TLS config unless asked).
func httpsClient(pool *x509.CertPool, h2 bool, timeout time.Duration) *http.Client {
	return &http.Client{Timeout: timeout, Transport: &http.Transport{
		DialContext:       (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
		TLSClientConfig:   &tls.Config{RootCAs: pool},
		ForceAttemptHTTP2: h2, TLSHandshakeTimeout: 5 * time.Second, ResponseHeaderTimeout: 10 * time.Second,
	}}
}

// servedSerial is the serial of the certificate a new connection to addr gets.
func servedSerial(t *testing.T, addr string, pool *x509.CertPool) int64 {
	t.Helper()
	d := &net.Dialer{Timeout: 5 * time.Second}
	c, err := tls.DialWithDialer(d, "tcp", addr, &tls.Config{RootCAs: pool})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.ConnectionState().PeerCertificates[0].SerialNumber.Int64()
}

// copyFile replaces dst with src's bytes (a renewal writing the files in place).
func copyFile(t *testing.T, src, dst string) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestTLSServe: with --tls-cert/--tls-key the public port serves HTTPS
// only: the web app and the API (HTTP/2 by ALPN), a session cookie that is
// Secure, the CSRF check on the https origin, WHIP, and listeners that
// play the program's tone over listen.ogg (HTTP/2 and HTTP/1.1) and
// listen.ws (wss). A SIGHUP with a renewed pair gives new connections the
// new certificate while the listeners go on playing; a bad pair after it
// is refused, logged, and the good one kept.
func TestTLSServe(t *testing.T) {
	pairs := writeTLSPairs(t)
	logs := &testkit.SyncBuffer{}
	ts := startServerWith(t, "", func(c *Config) {
		c.TLS = certs.Config{CertFile: pairs.cert, KeyFile: pairs.key}
		c.Logger = slog.New(slog.NewTextHandler(logs, nil))
	})
	ts.base = "https://" + ts.HTTPAddr()
	ts.client = httpsClient(pairs.pool, true, 30*time.Second)

	// The web app and the API, over HTTP/2.
	resp, err := ts.client.Get(ts.base + "/")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") || resp.ProtoMajor != 2 || !bytes.Contains(page, []byte("<html")) {
		t.Fatalf("GET / over https: %s %s %s", resp.Status, resp.Proto, resp.Header.Get("Content-Type"))
	}
	var rooms struct{ Rooms []any }
	if code := ts.call(t, "GET", "/api/v1/rooms", "", nil, &rooms); code != 200 {
		t.Fatalf("GET /api/v1/rooms over https: %d", code)
	}
	// Plain HTTP on the port gets no API.
	if r, err := testHTTP.Get("http://" + ts.HTTPAddr() + "/api/v1/rooms"); err == nil {
		r.Body.Close()
		if r.StatusCode != http.StatusBadRequest {
			t.Errorf("plain http on the TLS port: %s, want 400", r.Status)
		}
	}

	// A session over TLS: Secure cookie; the https origin passes CSRF, the http one not.
	if code := ts.call(t, "POST", "/api/v1/users", ts.AdminToken(), map[string]string{"name": "zed", "password": "correct horse"}, nil); code != 201 {
		t.Fatalf("create user: %d", code)
	}
	login := send(t, ts.client, "POST", ts.base+"/api/v1/login", "application/json", `{"name":"zed","password":"correct horse"}`, nil)
	if login.status != 200 {
		t.Fatalf("login over https: %d %s", login.status, login.code)
	}
	ck := sessionCookieOf(t, login)
	if !ck.Secure {
		t.Errorf("session cookie over https is not Secure: %s", login.resp.Header.Get("Set-Cookie"))
	}
	host := ts.HTTPAddr()
	for _, o := range []struct {
		origin string
		want   int
	}{{"http://" + host, 403}, {"https://" + host, 201}} {
		r := send(t, ts.client, "POST", ts.base+"/api/v1/me/tokens", "application/json", `{"name":"t"}`, map[string]string{"Origin": o.origin, "Cookie": ck.Name + "=" + ck.Value})
		if r.status != o.want {
			t.Errorf("cookie change over https with Origin %s: %d %s, want %d", o.origin, r.status, r.code, o.want)
		}
	}

	// A tone published over WHIP (https), heard by three listeners over TLS.
	_, hostTok := ts.createUser(t, "amal")
	room := ts.liveRoom(t, hostTok)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	streams := httpsClient(pairs.pool, true, 0) // bounded by ctx
	streams1 := httpsClient(pairs.pool, false, 0)
	ogg2 := listenOggWith(t, ctx, streams, ts.base+ts.join(t, room).Listen.Ogg)
	ogg1 := listenOggWith(t, ctx, streams1, ts.base+ts.join(t, room).Listen.Ogg)
	ws := listenWSWith(t, ctx, httpsClient(pairs.pool, false, 30*time.Second), "wss://"+host+ts.join(t, room).Listen.WS)
	sp := publishTone(t, ts, room, hostTok, &tone{freq: lowHz, amp: toneAmp})
	defer sp.stop()
	start := time.Now()
	time.Sleep(3 * time.Second)

	// Renewal: new connections get the new certificate, the listeners go on.
	if got := servedSerial(t, host, pairs.pool); got != 1 {
		t.Fatalf("serial before the reload: %d, want 1", got)
	}
	copyFile(t, pairs.cert2, pairs.cert)
	copyFile(t, pairs.key2, pairs.key)
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the reload logged", func() bool { return strings.Contains(logs.String(), "tls certificate reloaded") })
	if got := servedSerial(t, host, pairs.pool); got != 2 {
		t.Fatalf("serial after the reload: %d, want 2", got)
	}
	// A broken pair is refused and the renewed one kept.
	if err := os.WriteFile(pairs.cert, []byte("-----BEGIN CERTIFICATE-----\nbroken\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the refusal logged", func() bool { return strings.Contains(logs.String(), "tls certificate reload refused") })
	if got := servedSerial(t, host, pairs.pool); got != 2 {
		t.Fatalf("serial after a bad reload: %d, want 2 (kept)", got)
	}
	resp, err = ts.client.Get(ts.base + "/api/v1/rooms/" + room)
	if err != nil {
		t.Fatalf("API after a bad reload: %v", err)
	}
	resp.Body.Close()
	time.Sleep(3 * time.Second)

	if code := ts.call(t, "POST", "/api/v1/rooms/"+room+"/end", hostTok, nil, nil); code != 200 {
		t.Fatalf("end room: %d", code)
	}
	listened := time.Since(start)
	for name, l := range map[string]*listener{"ogg over h2": ogg2, "ogg over http/1.1": ogg1, "wss": ws} {
		select {
		case <-l.done:
		case <-time.After(5 * time.Second):
			t.Fatalf("%s: still connected 5 s after the room ended", name)
		}
		if l.endErr != nil {
			t.Errorf("%s: did not end cleanly: %v", name, l.endErr)
		}
		checkTLSTone(t, name, l, listened)
	}
}

// checkTLSTone: the listener heard the tone at its level, with no gap,
// from shortly after it was published to the end (through the reloads).
func checkTLSTone(t *testing.T, name string, l *listener, listened time.Duration) {
	t.Helper()
	pcm := l.snapshot()
	if l.gaps != 0 {
		t.Errorf("%s: %d gaps in frame numbering", name, l.gaps)
	}
	lv := windowLevels(pcm, win, lowHz)
	first := -1
	for i, w := range lv {
		if within(w[0], toneAmp, 3) {
			first = i
			break
		}
	}
	if first < 0 {
		t.Fatalf("%s: the tone never reached the listener (%d windows)", name, len(lv))
	}
	// From a second after the tone first arrives (the speaker's session
	// settling, which every listener hears alike) to the end. Frames are
	// checked strictly above (no gap); a window or two may dip on a loaded
	// machine when the speaker's own packets come late (the program then
	// conceals them, for every listener alike), no more.
	n, bad := 0, 0
	for i := first + 10; i < len(lv)-2; i++ {
		if !within(lv[i][0], toneAmp, 3) {
			bad++
			t.Logf("%s: window %d (%.1f s): tone at %.3f, want ≈ %.2f", name, i, float64(i)/10, lv[i][0], toneAmp)
		}
		n++
	}
	if bad > n/20 {
		t.Errorf("%s: %d of %d windows without the tone at its level", name, bad, n)
	}
	if got := time.Duration(n) * 100 * time.Millisecond; got < listened*2/3 {
		t.Errorf("%s: %v of tone in %v of listening", name, got, listened)
	}
	t.Logf("%s: %d windows of tone", name, n)
}

// waitUntil polls cond for up to 10 s.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}

// TestPlainCookieNotSecure: over plain HTTP the session cookie is not
// Secure (a browser would drop it), the counterpart of TestTLSServe's.
func TestPlainCookieNotSecure(t *testing.T) {
	ts := startServerWith(t, "", func(*Config) {})
	if code := ts.call(t, "POST", "/api/v1/users", ts.AdminToken(), map[string]string{"name": "zed", "password": "correct horse"}, nil); code != 201 {
		t.Fatalf("create user: %d", code)
	}
	r := send(t, testHTTP, "POST", ts.base+"/api/v1/login", "application/json", `{"name":"zed","password":"correct horse"}`, nil)
	if r.status != 200 {
		t.Fatalf("login: %d %s", r.status, r.code)
	}
	if ck := sessionCookieOf(t, r); ck.Secure {
		t.Errorf("session cookie over plain http is Secure: %s", r.resp.Header.Get("Set-Cookie"))
	}
}

// TestTLSStartErrors: a missing or bad pair stops the server at start
// with an error naming the files.
func TestTLSStartErrors(t *testing.T) {
	pairs := writeTLSPairs(t)
	for name, tc := range map[string]certs.Config{
		"missing key":    {CertFile: pairs.cert, KeyFile: pairs.key + ".nope"},
		"mismatched key": {CertFile: pairs.cert, KeyFile: pairs.key2},
		"half a pair":    {CertFile: pairs.cert},
	} {
		cfg := testConfig(t, "")
		cfg.TLS = tc
		s, err := New(cfg)
		if err == nil {
			s.closeAll()
			t.Errorf("%s: New succeeded", name)
			continue
		}
		if !strings.Contains(err.Error(), "tls") {
			t.Errorf("%s: error %q does not say it is the certificate", name, err)
		}
	}
}

// TestSIGHUPProcess: a real `majlis serve --tls-cert --tls-key` reloads
// its renewed files on a real SIGHUP (what systemd's ExecReload sends),
// and one without certificate files takes SIGHUP without stopping.
func TestSIGHUPProcess(t *testing.T) {
	bin := buildMajlis(t)
	pairs := writeTLSPairs(t)
	p := runProc(t, bin, []string{"serve", "--data", t.TempDir(), "--http", "127.0.0.1:0", "--admin", "127.0.0.1:0", "--webrtc-udp", "127.0.0.1:0",
		"--tls-cert", pairs.cert, "--tls-key", pairs.key}, []string{"MAJLIS_ADMIN_TOKEN=" + sigtermToken}, servingRE)
	host := strings.TrimPrefix(p.base, "http://")
	if got := servedSerial(t, host, pairs.pool); got != 1 {
		t.Fatalf("serial at start: %d, want 1", got)
	}
	copyFile(t, pairs.cert2, pairs.cert)
	copyFile(t, pairs.key2, pairs.key)
	if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the renewed certificate", func() bool { return servedSerial(t, host, pairs.pool) == 2 })
	p.stop(t)

	plain := startProc(t, bin, t.TempDir())
	if err := plain.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond)
	if code := plain.call(t, "GET", "/api/v1/rooms", "", nil, nil); code != http.StatusOK {
		t.Fatalf("after SIGHUP: %d", code)
	}
	plain.stop(t)
}

// TestTLSEdgeAndStagePort: an edge with certificate files serves its
// listeners over https and wss (the origin's tone, over the cluster; the
// joins place them on the edge at https URLs), and an origin's separate
// stage port serves TLS like its audience port.
func TestTLSEdgeAndStagePort(t *testing.T) {
	pairs := writeTLSPairs(t)
	tlsCfg := certs.Config{CertFile: pairs.cert, KeyFile: pairs.key}
	dir := t.TempDir()
	cfg := testConfig(t, dir)
	cfg.MaxOpenRooms, cfg.RoomCreateRate = 1<<20, admission.Rate{PerSecond: 1e6, Burst: 1e6}
	withCluster(&cfg)
	ts := runServer(t, cfg)
	_, edgeBase := startEdgeWith(t, ts, dir, func(c *EdgeConfig) { c.TLS = tlsCfg })
	if !strings.HasPrefix(edgeBase, "http://") {
		t.Fatalf("edge base %q", edgeBase)
	}
	edgeHost := strings.TrimPrefix(edgeBase, "http://")
	_, hostTok := ts.createUser(t, "amal")
	room := ts.liveRoom(t, hostTok)
	host := publishTone(t, ts, room, hostTok, &tone{freq: lowHz, amp: toneAmp})
	defer host.stop()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	j1, j2 := ts.join(t, room), ts.join(t, room)
	if want := "https://" + edgeHost + "/"; !strings.HasPrefix(j1.Listen.Ogg, want) || !strings.HasPrefix(j2.Listen.WS, want) {
		t.Fatalf("listen URLs %q, %q: want https ones on the edge", j1.Listen.Ogg, j2.Listen.WS)
	}
	ogg := listenOggWith(t, ctx, httpsClient(pairs.pool, true, 0), j1.Listen.Ogg)
	ws := listenWSWith(t, ctx, httpsClient(pairs.pool, false, 30*time.Second), "wss://"+strings.TrimPrefix(j2.Listen.WS, "https://"))
	time.Sleep(3 * time.Second)
	if code := ts.call(t, "POST", "/api/v1/rooms/"+room+"/end", hostTok, nil, nil); code != http.StatusOK {
		t.Fatalf("end room: %d", code)
	}
	for name, l := range map[string]*listener{"ogg over h2": ogg, "wss": ws} {
		select {
		case <-l.done:
		case <-time.After(5 * time.Second):
			t.Fatalf("%s: edge listener still connected 5 s after the room ended", name)
		}
		pcm := l.snapshot()
		if l.endErr != nil || l.gaps != 0 || len(pcm) < 2*48000 {
			t.Fatalf("%s: ended with %v, %d gaps, %d samples", name, l.endErr, l.gaps, len(pcm))
		}
		for i, row := range windowLevels(pcm[len(pcm)-48000:], win, lowHz) {
			if !within(row[0], toneAmp, 3) {
				t.Errorf("%s window %d: tone at %.3f, want %.2f", name, i, row[0], toneAmp)
			}
		}
	}

	// The stage port of an origin with TLS.
	st := startServerWith(t, "", func(c *Config) {
		c.TLS = tlsCfg
		c.Admission.StageHTTPAddr = "127.0.0.1:0"
	})
	stage := st.planes.stageLn.Addr().String()
	if got := servedSerial(t, stage, pairs.pool); got != 1 {
		t.Fatalf("stage port serial %d", got)
	}
	r := send(t, httpsClient(pairs.pool, true, 10*time.Second), "POST", "https://"+stage+"/api/v1/rooms", "application/json", `{"title":"x"}`, nil)
	if r.status != http.StatusUnauthorized || r.resp.ProtoMajor != 2 {
		t.Errorf("stage port over https: %d %s %s, want 401 over HTTP/2", r.status, r.code, r.resp.Proto)
	}
}

// TestTLSShutdown: a server terminating TLS stops gracefully with
// listeners connected: the Ogg stream (HTTP/2) ends cleanly, the wss one
// with "going away", and Serve returns.
func TestTLSShutdown(t *testing.T) {
	pairs := writeTLSPairs(t)
	ts := startServerWith(t, "", func(c *Config) { c.TLS = certs.Config{CertFile: pairs.cert, KeyFile: pairs.key} })
	ts.base = "https://" + ts.HTTPAddr()
	ts.client = httpsClient(pairs.pool, true, 30*time.Second)
	_, hostTok := ts.createUser(t, "amal")
	room := ts.liveRoom(t, hostTok)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ogg := listenOggWith(t, ctx, httpsClient(pairs.pool, true, 0), ts.base+ts.join(t, room).Listen.Ogg)
	ws := listenWSWith(t, ctx, httpsClient(pairs.pool, false, 30*time.Second), "wss://"+ts.HTTPAddr()+ts.join(t, room).Listen.WS)
	waitUntil(t, "two listeners", func() bool { return ts.fan.Listeners() == 2 })
	stopped := make(chan struct{})
	go func() { ts.stop(); close(stopped) }()
	select {
	case <-stopped:
	case <-time.After(15 * time.Second):
		t.Fatal("Serve did not return 15 s after the stop")
	}
	for name, l := range map[string]*listener{"ogg": ogg, "wss": ws} {
		select {
		case <-l.done:
		case <-time.After(5 * time.Second):
			t.Fatalf("%s still connected after the stop", name)
		}
	}
	if ogg.endErr != nil {
		t.Errorf("ogg over h2 ended with %v, want a clean end", ogg.endErr)
	}
	if websocket.CloseStatus(ws.endErr) != websocket.StatusGoingAway {
		t.Errorf("wss ended with %v, want going away (1001)", ws.endErr)
	}
}
