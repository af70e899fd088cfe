package server

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"majlis/internal/admission"
)

// proxyConf is nginx as a plain reverse proxy that says who its clients
// are: X-Forwarded-For (appended), X-Forwarded-Host, X-Forwarded-Proto,
// WebSocket upgrades passed on; Host is rewritten to the upstream's name,
// nginx's default. A client's own Forwarded passes through untouched.
const proxyConf = `{{user}}
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
    upstream majlis { server {{origin}}; }
    server {
        listen {{listen}};
        location / {
            proxy_pass http://majlis;
            proxy_http_version 1.1;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection $connection_upgrade;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Host $http_host;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_buffering off;
        }
    }
}
`

// TestTrustedProxyNginx: with a real nginx in front and --trusted-proxies
// naming it, the audience guard limits each real client on its own (two
// clients behind the proxy each get their join budget), a spoofed
// X-Forwarded-For from a peer that is not a trusted proxy is ignored, and
// a browser's WebSocket through the proxy passes the origin check (the
// host it compares is the one the browser used, X-Forwarded-Host).
func TestTrustedProxyNginx(t *testing.T) {
	ts := startServerWith(t, "", func(c *Config) {
		c.Admission.TrustedProxies = []string{"127.0.0.1"}
		c.Admission.JoinsPerIP = admission.Rate{PerSecond: 0.001, Burst: 2}
	})
	_, hostTok := ts.createUser(t, "amal")
	room := ts.liveRoom(t, hostTok)
	proxy := runNginx(t, proxyConf, strings.TrimPrefix(ts.base, "http://"), 256)
	join := func(c *http.Client, base string, hdr map[string]string) apiReply {
		t.Helper()
		return send(t, c, "POST", base+"/api/v1/rooms/"+room+"/join", "", "", hdr)
	}
	a, b := timedClient("127.0.0.2"), timedClient("127.0.0.3")
	for i := range 2 {
		if r := join(a, proxy.base, nil); r.status != 200 {
			t.Fatalf("client A's join %d through the proxy: %d %s", i, r.status, r.code)
		}
	}
	if r := join(a, proxy.base, nil); r.status != 429 || r.code != "rate_limited" {
		t.Fatalf("client A's third join: %d %s, want 429 rate_limited (its own budget spent)", r.status, r.code)
	}
	if r := join(b, proxy.base, nil); r.status != 200 {
		t.Fatalf("client B through the same proxy: %d %s, want its own budget", r.status, r.code)
	}
	// Straight to the origin from a peer that is no proxy: its
	// X-Forwarded-For is not believed, each spoof spends its own budget.
	d := timedClient("127.0.0.4")
	for i, spoof := range []string{"192.0.2.1", "192.0.2.2", "192.0.2.3"} {
		r := join(d, ts.base, map[string]string{"X-Forwarded-For": spoof})
		if want := 200; i == 2 {
			if r.status != 429 {
				t.Fatalf("third spoofed join from one peer: %d %s, want 429: the spoofed addresses were believed", r.status, r.code)
			}
		} else if r.status != want {
			t.Fatalf("spoofed join %d: %d %s", i, r.status, r.code)
		}
	}
	// A browser's WebSocket through the proxy: Origin is the proxy's address.
	var j joinResp
	if code := ts.call(t, "POST", "/api/v1/rooms/"+room+"/join", "", nil, &j); code != 200 {
		t.Fatalf("join for the WebSocket: %d", code)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	wsURL := strings.Replace(proxy.base, "http", "ws", 1) + j.Listen.WS
	c, resp, err := websocket.Dial(ctx, wsURL, &websocket.DialOptions{HTTPClient: testHTTP, HTTPHeader: http.Header{"Origin": {proxy.base}}})
	if err != nil {
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		t.Fatalf("listen.ws through the proxy with the browser's Origin: %v (status %d)", err, status)
	}
	defer c.CloseNow()
	if _, _, err := c.Read(ctx); err != nil { // the hello
		t.Fatalf("listen.ws through the proxy: %v", err)
	}
}
