package server

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"majlis/internal/admission"
	"majlis/internal/testkit"
)

// proxyTLSConf is nginx terminating TLS in front of majlis, saying who its
// clients are in one of two ways ({{say}}): X-Forwarded-* as in proxyConf
// (a client's own Forwarded passes through untouched), or Forwarded
// (RFC 7239), appended to the client's own, with X-Forwarded-* removed.
const proxyTLSConf = `{{user}}
worker_processes 1;
daemon off;
pid {{dir}}/nginx.pid;
error_log {{dir}}/error.log warn;
events { worker_connections {{conns}}; }
http {
    access_log off;
    client_body_temp_path {{dir}}/body;
    proxy_temp_path {{dir}}/proxy;
    fastcgi_temp_path {{dir}}/fastcgi;
    uwsgi_temp_path {{dir}}/uwsgi;
    scgi_temp_path {{dir}}/scgi;
    map $http_upgrade $connection_upgrade { default upgrade; "" ""; }
    map $remote_addr $forwarded_node { ~: "[$remote_addr]"; default $remote_addr; }
    map $http_forwarded $forwarded_add {
        ""      "for=\"$forwarded_node:$remote_port\";proto=$scheme;host=\"$http_host\"";
        default "$http_forwarded, for=\"$forwarded_node:$remote_port\";proto=$scheme;host=\"$http_host\"";
    }
    upstream majlis { server {{origin}}; }
    server {
        listen {{listen}} ssl;
        ssl_certificate {{cert}};
        ssl_certificate_key {{key}};
        location / {
            proxy_pass http://majlis;
            proxy_http_version 1.1;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection $connection_upgrade;
{{say}}
            proxy_buffering off;
        }
    }
}
`

const (
	sayXForwarded = `            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Host $http_host;
            proxy_set_header X-Forwarded-Proto $scheme;`
	sayForwarded = `            proxy_set_header Forwarded $forwarded_add;
            proxy_set_header X-Forwarded-For "";
            proxy_set_header X-Forwarded-Host "";
            proxy_set_header X-Forwarded-Proto "";`
)

// TestTrustedProxyNginxTLS: behind a real nginx that terminates TLS and
// says so (X-Forwarded-Proto, or Forwarded's proto), a login gets a Secure
// session cookie, the CSRF check takes the page's https origin and refuses
// the http one, a wss listen.ws passes the origin check, each client keeps
// its own join budget whatever forwarding headers it sends itself (the
// proxy's element is what counts), and a peer that is no trusted proxy
// sending the same headers straight to majlis gets none of it.
func TestTrustedProxyNginxTLS(t *testing.T) {
	pki, err := testkit.WritePKI(t.TempDir(), "majlis")
	if err != nil {
		t.Fatal(err)
	}
	cert, key, pool := pki.CertFile, pki.KeyFile, pki.Pool
	for _, tc := range []struct {
		name, say string
		spoofs    []map[string]string // a client's own headers on its three joins through the proxy
	}{
		{"x-forwarded", sayXForwarded, []map[string]string{
			{"Forwarded": "for=192.0.2.1;proto=http"},
			{"Forwarded": "for=192.0.2.2", "X-Forwarded-For": "192.0.2.2"},
			{"Forwarded": `for="[2001:db8::3]"`, "X-Forwarded-For": "192.0.2.3"},
		}},
		{"forwarded", sayForwarded, []map[string]string{
			{"Forwarded": "for=192.0.2.1;proto=http", "X-Forwarded-For": "192.0.2.1"},
			{"Forwarded": `for="192.0.2.2`}, // an open quote the proxy appends to
			{"Forwarded": "for=192.0.2.3, for=127.0.0.1", "X-Forwarded-Proto": "http"},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts := startServerWith(t, "", func(c *Config) {
				c.Admission.TrustedProxies = []string{"127.0.0.1"}
				c.Admission.JoinsPerIP = admission.Rate{PerSecond: 0.001, Burst: 2}
			})
			ts.must(t, 201, "POST", "/api/v1/users", ts.AdminToken(), `{"name":"zed","password":"correct horse"}`)
			_, hostTok := ts.createUser(t, "amal")
			room := ts.liveRoom(t, hostTok)
			conf := strings.NewReplacer("{{cert}}", cert, "{{key}}", key, "{{say}}", tc.say).Replace(proxyTLSConf)
			proxy := runNginx(t, conf, strings.TrimPrefix(ts.base, "http://"), 256)
			base := strings.Replace(proxy.base, "http://", "https://", 1)
			host := strings.TrimPrefix(base, "https://")

			// A login through the proxy: the cookie is Secure, and the CSRF
			// check wants the https origin of the host the browser used.
			a := tlsClient("127.0.0.2", pool)
			r := send(t, a, "POST", base+"/api/v1/login", "application/json", `{"name":"zed","password":"correct horse"}`, nil)
			if r.status != 200 {
				t.Fatalf("login through the proxy: %d %s", r.status, r.code)
			}
			ck := sessionCookieOf(t, r)
			if !ck.Secure {
				t.Errorf("session cookie over https through the proxy is not Secure: %s", r.resp.Header.Get("Set-Cookie"))
			}
			for _, o := range []struct {
				origin string
				want   int
			}{{"http://" + host, 403}, {"https://evil.example", 403}, {"https://" + host, 201}} {
				r := send(t, a, "POST", base+"/api/v1/me/tokens", "application/json", `{"name":"t"}`, map[string]string{"Origin": o.origin, "Cookie": ck.Name + "=" + ck.Value})
				if r.status != o.want {
					t.Errorf("cookie change through the proxy with Origin %s: %d %s, want %d", o.origin, r.status, r.code, o.want)
				}
			}

			// The room's link preview names the page as the browser
			// reached it: https, at the proxy's host.
			if r := send(t, a, "GET", base+"/r/"+room, "", "", nil); r.status != 200 {
				t.Errorf("room page through the proxy: %d", r.status)
			} else if _, tags := previewTags(t, "/r/"+room, r.raw); tags["og:url"] != base+"/r/"+room {
				t.Errorf("room page through the proxy: og:url %q, want %s", tags["og:url"], base+"/r/"+room)
			}

			// Each client behind the proxy has its own join budget, and
			// what it says of itself does not buy it another.
			join := func(c *http.Client, base string, hdr map[string]string) apiReply {
				t.Helper()
				return send(t, c, "POST", base+"/api/v1/rooms/"+room+"/join", "", "", hdr)
			}
			for i, spoof := range tc.spoofs {
				r := join(a, base, spoof)
				if i < 2 && r.status != 200 || i == 2 && (r.status != 429 || r.code != "rate_limited") {
					t.Fatalf("client A's join %d through the proxy with its own %v: %d %s (want 200, 200, then 429: its own budget)", i, spoof, r.status, r.code)
				}
			}
			if r := join(tlsClient("127.0.0.3", pool), base, nil); r.status != 200 {
				t.Fatalf("client B through the same proxy: %d %s, want its own budget", r.status, r.code)
			}

			// wss through the proxy, with the page's https Origin.
			var j joinResp
			if code := ts.call(t, "POST", "/api/v1/rooms/"+room+"/join", "", nil, &j); code != 200 {
				t.Fatalf("join for the WebSocket: %d", code)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			ws, resp, err := websocket.Dial(ctx, "wss://"+host+j.Listen.WS, &websocket.DialOptions{HTTPClient: tlsClient("127.0.0.5", pool), HTTPHeader: http.Header{"Origin": {"https://" + host}}})
			if err != nil {
				status := 0
				if resp != nil {
					status = resp.StatusCode
				}
				t.Fatalf("wss listen.ws through the proxy: %v (status %d)", err, status)
			}
			defer ws.CloseNow()
			if _, _, err := ws.Read(ctx); err != nil { // the hello
				t.Fatalf("wss listen.ws through the proxy: %v", err)
			}

			// The same headers straight from a peer that is no proxy: no
			// Secure cookie, the http origin is the one, and the spoofed
			// addresses share the peer's one budget.
			d := timedClient("127.0.0.4")
			spoof := map[string]string{"X-Forwarded-Proto": "https", "Forwarded": "for=192.0.2.9;proto=https;host=" + host, "X-Forwarded-Host": host}
			r = send(t, d, "POST", ts.base+"/api/v1/login", "application/json", `{"name":"zed","password":"correct horse"}`, spoof)
			if r.status != 200 {
				t.Fatalf("login straight to majlis: %d %s", r.status, r.code)
			}
			if ck := sessionCookieOf(t, r); ck.Secure {
				t.Errorf("a spoofed proto from an untrusted peer made the cookie Secure: %s", r.resp.Header.Get("Set-Cookie"))
			}
			direct := strings.TrimPrefix(ts.base, "http://")
			ck = sessionCookieOf(t, r)
			for _, o := range []struct {
				origin string
				want   int
			}{{"https://" + host, 403}, {"https://" + direct, 403}, {"http://" + direct, 201}} {
				hdr := map[string]string{"Origin": o.origin, "Cookie": ck.Name + "=" + ck.Value}
				for k, v := range spoof {
					hdr[k] = v
				}
				r := send(t, d, "POST", ts.base+"/api/v1/me/tokens", "application/json", `{"name":"t"}`, hdr)
				if r.status != o.want {
					t.Errorf("cookie change straight to majlis with spoofed headers and Origin %s: %d %s, want %d", o.origin, r.status, r.code, o.want)
				}
			}
			for i, f := range []string{"for=192.0.2.11", "for=192.0.2.12", "for=192.0.2.13"} {
				r := join(d, ts.base, map[string]string{"Forwarded": f, "X-Forwarded-For": strings.TrimPrefix(f, "for=")})
				if i < 2 && r.status != 200 || i == 2 && r.status != 429 {
					t.Fatalf("spoofed join %d straight to majlis: %d %s (want 200, 200, then 429: the spoofed addresses believed?)", i, r.status, r.code)
				}
			}
		})
	}
}

// sessionCookieOf is the session cookie an answer sets.
func sessionCookieOf(t *testing.T, r apiReply) *http.Cookie {
	t.Helper()
	for _, ck := range r.resp.Cookies() {
		if ck.Name == "majlis_session" {
			return ck
		}
	}
	t.Fatalf("no session cookie in %q", r.resp.Header.Values("Set-Cookie"))
	return nil
}

// tlsClient is timedClient over TLS, trusting pool.
func tlsClient(src string, pool *x509.CertPool) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 5 * time.Second}
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DialContext: d.DialContext,
		TLSClientConfig: &tls.Config{RootCAs: pool}, TLSHandshakeTimeout: 5 * time.Second}}
}
