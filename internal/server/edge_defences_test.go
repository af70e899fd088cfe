package server

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"majlis/internal/cluster"
	"majlis/internal/overload"
)

// withCluster gives an origin's config the embedded NATS server its edges
// are fed from (startEdgeWith).
func withCluster(c *Config) { c.Cluster = cluster.Config{URL: cluster.Embedded, Listen: "127.0.0.1:0"} }

// startEdgeWith runs an edge in-process on ts's embedded NATS server (an
// origin started withCluster) with its settings edited; it shares dataDir
// (the ticket key) with the origin. It returns once the origin has the
// edge's load report, so that joins place listeners on it.
func startEdgeWith(t testing.TB, ts *testServer, dataDir string, edit func(*EdgeConfig)) (*EdgeServer, string) {
	t.Helper()
	if ts.cluster == nil || ts.fleet == nil {
		t.Fatal("startEdgeWith: the origin has no cluster (start it withCluster)")
	}
	cfg := EdgeConfig{Cluster: cluster.Config{URL: ts.cluster.ServerURL()}, DataDir: dataDir, HTTPAddr: "127.0.0.1:0", AdminAddr: "127.0.0.1:0",
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	edit(&cfg)
	reporting := ts.fleet.Edges()
	e, err := NewEdge(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Serve(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	for deadline := time.Now().Add(10 * time.Second); ts.fleet.Edges() <= reporting; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the edge's load report has not reached the origin in 10 s (%d edges reporting)", ts.fleet.Edges())
		}
	}
	return e, "http://" + e.HTTPAddr()
}

// joinOnEdge joins room at the origin, which over the cluster places the
// listener on an edge: it checks that both listen URLs are on e and
// returns them as paths on it.
func (ts *testServer) joinOnEdge(t testing.TB, room string, e *EdgeServer) joinResp {
	t.Helper()
	j := ts.join(t, room)
	for _, u := range []*string{&j.Listen.Ogg, &j.Listen.WS} {
		pu, err := url.Parse(*u)
		if err != nil || pu.Host != e.HTTPAddr() || !strings.HasPrefix(pu.Path, "/api/v1/rooms/"+room+"/listen.") {
			t.Fatalf("listen URL %q: want one on the edge %s", *u, e.HTTPAddr())
		}
		*u = pu.RequestURI()
	}
	return j
}

// timedClient is a client from source address src with a request timeout.
func timedClient(src string) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 5 * time.Second}
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DialContext: d.DialContext}}
}

// refusal does one request and returns its status, error code and Retry-After.
func refusal(t *testing.T, c *http.Client, method, url, body string) (int, string, string) {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var e struct{ Error struct{ Code string } }
	json.NewDecoder(resp.Body).Decode(&e)
	return resp.StatusCode, e.Error.Code, resp.Header.Get("Retry-After")
}

// TestEdgeAudienceDefences: an edge's public port is the origin's audience
// plane (one listen path for both roles), so every audience defence holds
// there: one connection per ticket, connection caps at accept, 429 and 503
// with Retry-After, shedding by overload level, and readiness.
func TestEdgeAudienceDefences(t *testing.T) {
	dir := t.TempDir()
	ts := startServerWith(t, dir, withCluster)
	e, edgeBase := startEdgeWith(t, ts, dir, func(c *EdgeConfig) {
		c.Admission.AudienceConnsPerIP, c.Admission.AudienceConnsPerNet = 3, 1000
	})
	_, hostTok := ts.createUser(t, "amal")
	room := ts.liveRoom(t, hostTok)
	host := publishTone(t, ts, room, hostTok, &tone{freq: lowHz, amp: toneAmp})
	defer host.stop()

	t.Run("one connection per ticket", func(t *testing.T) {
		j := ts.joinOnEdge(t, room, e)
		ctx, cancel := context.WithCancel(t.Context())
		first := listenOgg(t, ctx, edgeBase+j.Listen.Ogg)
		for _, src := range []string{"127.0.8.1", "127.0.8.2"} {
			if code, ec, retry := refusal(t, timedClient(src), "GET", edgeBase+j.Listen.Ogg, ""); code != http.StatusConflict || ec != "ticket_in_use" || retry == "" {
				t.Fatalf("second connection with one ticket on the edge (from %s) = %d %q Retry-After %q, want 409 ticket_in_use with Retry-After", src, code, ec, retry)
			}
		}
		dctx, dcancel := context.WithTimeout(ctx, 5*time.Second)
		defer dcancel()
		if _, resp, err := websocket.Dial(dctx, strings.Replace(edgeBase, "http", "ws", 1)+j.Listen.WS, &websocket.DialOptions{HTTPClient: testHTTP}); err == nil || resp == nil || resp.StatusCode != http.StatusConflict {
			t.Fatalf("WebSocket with a ticket already streaming Ogg on the edge: %v, want 409", err)
		}
		cancel()
		<-first.done
		// The lease ends with the stream: the ticket connects again.
		deadline := time.Now().Add(5 * time.Second)
		for {
			code, ec, _ := refusal(t, timedClient("127.0.8.3"), "HEAD", edgeBase+j.Listen.Ogg, "")
			if code == http.StatusOK {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("reconnect after the first stream ended = %d %q", code, ec)
			}
			time.Sleep(50 * time.Millisecond)
		}
	})

	t.Run("bad tickets are refused with the origin's codes", func(t *testing.T) {
		if code, ec, _ := refusal(t, timedClient("127.0.8.4"), "GET", edgeBase+"/api/v1/rooms/"+room+"/listen.ogg?t=forged", ""); code != http.StatusUnauthorized || ec != "bad_ticket" {
			t.Fatalf("forged ticket on the edge = %d %q, want 401 bad_ticket", code, ec)
		}
		if code, ec, _ := refusal(t, timedClient("127.0.8.4"), "POST", edgeBase+"/api/v1/rooms/"+room+"/join", ""); code != http.StatusNotFound || ec != "not_found" {
			t.Fatalf("join on the edge = %d %q, want 404 not_found (joins go to the origin)", code, ec)
		}
	})

	t.Run("connection cap per address", func(t *testing.T) {
		var held []net.Conn
		defer func() {
			for _, c := range held {
				c.Close()
			}
		}()
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.9.1")}, Timeout: 5 * time.Second}
		base := e.planes.audLn.Open() // keep-alive connections of the subtests before
		for range 3 {
			c, err := d.Dial("tcp", e.HTTPAddr())
			if err != nil {
				t.Fatal(err)
			}
			held = append(held, c)
		}
		// Wait until the edge has accepted all three (it counts them at accept).
		deadline := time.Now().Add(5 * time.Second)
		for e.planes.audLn.Open() < base+3 && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		over, err := d.Dial("tcp", e.HTTPAddr())
		closedAtAccept(t, e, over, err, held, "a 4th connection from one address (cap 3)")
	})

	t.Run("429 with Retry-After", func(t *testing.T) {
		c := timedClient("127.0.10.1")
		// Past the burst of 20 reactions come faster than the refill:
		// limited soon (up to 100 tries, however slow the machine makes each).
		limited, n := 0, 0
		for ; n < 100 && limited < 5; n++ {
			code, ec, retry := refusal(t, c, "POST", edgeBase+"/api/v1/rooms/"+room+"/reactions", `{"emoji":"👏"}`)
			if code == http.StatusTooManyRequests {
				if ec != "rate_limited" || retry == "" {
					t.Fatalf("429 without its code or Retry-After: %q %q", ec, retry)
				}
				limited++
			}
		}
		if limited < 5 || n < 20 {
			t.Fatalf("%d of %d rapid reactions from one address limited on the edge, want 5 limited, after the burst of 20", limited, n)
		}
	})

	t.Run("503 with Retry-After and shedding", func(t *testing.T) {
		e.Overload().Force(overload.High)
		defer e.Overload().Force(-1)
		c := timedClient("127.0.11.1")
		if code, ec, retry := refusal(t, c, "GET", edgeBase+"/api/v1/rooms/"+room+"/events", ""); code != http.StatusServiceUnavailable || ec != "shed" || retry == "" {
			t.Fatalf("events poll on an edge at level high = %d %q Retry-After %q, want 503 shed with Retry-After", code, ec, retry)
		}
		// Listeners are never shed: a new listener still gets the program.
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		defer cancel()
		l := listenOgg(t, ctx, edgeBase+ts.joinOnEdge(t, room, e).Listen.Ogg)
		deadline := time.Now().Add(5 * time.Second)
		for len(l.snapshot()) < 48000 && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
		}
		if n := len(l.snapshot()); n < 48000 {
			t.Fatalf("listener on an edge at level high heard %d samples in 5 s", n)
		}
		pcm := l.snapshot()
		rows := windowLevels(pcm[len(pcm)-24000:], win, lowHz)
		for i, row := range rows {
			if !within(row[0], toneAmp, 3) {
				t.Fatalf("edge listener at level high, window %d: tone at %.3f, want %.2f", i, row[0], toneAmp)
			}
		}
	})

	t.Run("readiness", func(t *testing.T) {
		resp, err := timedClient("127.0.0.1").Get("http://" + e.AdminAddr() + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("edge /readyz while serving = %d", resp.StatusCode)
		}
	})
}

// TestEdgeTotalConnCap: an edge's audience port closes connections at
// accept beyond its total cap (--audience-max-conns), whatever their
// address, and keeps those within it.
func TestEdgeTotalConnCap(t *testing.T) {
	dir := t.TempDir()
	ts := startServerWith(t, dir, withCluster)
	e, _ := startEdgeWith(t, ts, dir, func(c *EdgeConfig) {
		c.Admission.AudienceMaxConns, c.Admission.AudienceConnsPerIP, c.Admission.AudienceConnsPerNet = 4, 100, 1000
	})
	var held []net.Conn
	defer func() {
		for _, c := range held {
			c.Close()
		}
	}()
	dial := func(i int) (net.Conn, error) {
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 11, byte(i+1))}, Timeout: 5 * time.Second}
		return d.Dial("tcp", e.HTTPAddr())
	}
	for i := range 4 {
		c, err := dial(i)
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, c)
	}
	for deadline := time.Now().Add(5 * time.Second); e.planes.audLn.Open() < 4; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the edge holds %d connections, want 4", e.planes.audLn.Open())
		}
	}
	over, err := dial(10)
	closedAtAccept(t, e, over, err, held, "a 5th connection from a 5th address (total cap 4)")
}

// closedAtAccept checks that the edge closed the connection over (dialled
// with err) at accept, with a reset the dial itself may see or the first
// read, and counted it refused, while the connections held within the cap
// stay open.
func closedAtAccept(t *testing.T, e *EdgeServer, over net.Conn, err error, held []net.Conn, what string) {
	t.Helper()
	if err == nil {
		defer over.Close()
		over.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, err = over.Read(make([]byte, 1))
	}
	var ne net.Error
	if err == nil || errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("%s was not closed at accept: %v", what, err)
	}
	if e.planes.audLn.Refused() < 1 {
		t.Fatalf("refused connections = %d, want ≥ 1", e.planes.audLn.Refused())
	}
	for i, c := range held {
		c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		if _, err := c.Read(make([]byte, 1)); !errors.As(err, &ne) || !ne.Timeout() {
			t.Fatalf("connection %d within the cap closed: %v", i, err)
		}
	}
}
