package server

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"majlis/internal/admission"
	"majlis/internal/cluster"
	"majlis/internal/fanout"
)

// The listener-removal tests: a host's block of a signed-in user ends that
// user's listen streams in the room (WebSocket close 4403, listen.ogg's
// connection closed) within 2 s, on the origin and on an edge the origin
// placed them on; their HLS heartbeats and their old tickets are refused
// 403 listener_removed; everyone else goes on hearing the tone.

// joinAs joins room signed in with token (the ticket names the user).
func (ts *testServer) joinAs(t testing.TB, room, token string) joinResp {
	t.Helper()
	var j joinResp
	if code := ts.call(t, "POST", "/api/v1/rooms/"+room+"/join", token, nil, &j); code != http.StatusOK {
		t.Fatalf("join: %d", code)
	}
	return j
}

// removedWithin waits up to 2 s from since for l's stream to end and
// returns how.
func removedWithin(t *testing.T, what string, l *listener, since time.Time) error {
	t.Helper()
	return endedWithin(t, what, l, since, 2*time.Second)
}

// endedWithin waits up to within from since for l's stream to end and
// returns how.
func endedWithin(t *testing.T, what string, l *listener, since time.Time, within time.Duration) error {
	t.Helper()
	select {
	case <-l.done:
	case <-time.After(time.Until(since.Add(within))):
		t.Fatalf("%s still streams %v after the removal", what, within)
	}
	return l.endErr
}

// refusedRemoved checks that a GET of u (a listen URL, or its WebSocket
// upgrade when ws) is answered 403 listener_removed in the JSON error shape.
func refusedRemoved(t *testing.T, what, u string, ws bool) {
	t.Helper()
	req, _ := http.NewRequest("GET", u, nil)
	if ws {
		req.Header.Set("Connection", "Upgrade")
		req.Header.Set("Upgrade", "websocket")
		req.Header.Set("Sec-WebSocket-Version", "13")
		req.Header.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
	}
	resp, err := testHTTP.Do(req)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	defer resp.Body.Close()
	var e struct {
		Error struct{ Code, Message string } `json:"error"`
	}
	if resp.StatusCode != http.StatusForbidden { // perhaps a stream: not read
		t.Fatalf("%s: %s, want 403 listener_removed", what, resp.Status)
	}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusForbidden || json.Unmarshal(b, &e) != nil || e.Error.Code != "listener_removed" || e.Error.Message == "" {
		t.Fatalf("%s: %d %s, want 403 listener_removed", what, resp.StatusCode, b)
	}
}

// keepsTone checks that l still streams and that what it decoded from
// sample from on is the tone in every 100 ms window, without a gap.
func keepsTone(t *testing.T, what string, l *listener, from int) {
	t.Helper()
	select {
	case <-l.done:
		t.Fatalf("%s's stream ended: %v", what, l.endErr)
	default:
	}
	pcm := l.snapshot()
	if len(pcm)-from < 48000 {
		t.Fatalf("%s decoded %d samples since the block, want at least 1 s", what, len(pcm)-from)
	}
	for i, w := range windowLevels(pcm[from:], win, lowHz) {
		if !within(w[0], toneAmp, 3) {
			t.Fatalf("%s window %d after the block: %v Hz at %.3f, want ≈ %.2f", what, i, lowHz, w[0], toneAmp)
		}
	}
	l.mu.Lock()
	gaps := l.gaps
	l.mu.Unlock()
	if gaps != 0 {
		t.Fatalf("%s: %d gaps", what, gaps)
	}
}

// heard waits until each listener has decoded some of the tone.
func heard(t *testing.T, ls ...*listener) {
	t.Helper()
	until(t, "every listener hears the tone", func() bool {
		for _, l := range ls {
			if len(l.snapshot()) < 48000 {
				return false
			}
		}
		return true
	})
}

// removalRoom is a live room of a removal test: its host publishes the
// tone; amal is to be removed, bilal listens on beside her.
type removalRoom struct {
	ts                                       *testServer
	room, hostTok, amalID, amalTok, bilalTok string
}

func newRemovalRoom(t *testing.T, ts *testServer) *removalRoom {
	t.Helper()
	rr := &removalRoom{ts: ts}
	_, rr.hostTok = ts.createUser(t, "host")
	rr.amalID, rr.amalTok = ts.createUser(t, "amal")
	_, rr.bilalTok = ts.createUser(t, "bilal")
	rr.room = ts.liveRoom(t, rr.hostTok)
	sp := publishTone(t, ts, rr.room, rr.hostTok, &tone{freq: lowHz, amp: toneAmp})
	t.Cleanup(sp.stop)
	return rr
}

// block has the host block amal and returns when it was asked.
func (rr *removalRoom) block(t *testing.T) time.Time {
	t.Helper()
	at := time.Now()
	rr.ts.must(t, 200, "POST", "/api/v1/rooms/"+rr.room+"/blocks/"+rr.amalID, rr.hostTok, "")
	return at
}

// joinOn joins signed in with token and returns the listen URLs on base
// (the origin's, or an edge's: there the origin must have placed the
// listener) as HTTP URLs.
func (rr *removalRoom) joinOn(t *testing.T, base, token string) (ws, ogg string) {
	t.Helper()
	j := rr.ts.joinAs(t, rr.room, token)
	var out [2]string
	for i, u := range []string{j.Listen.WS, j.Listen.Ogg} {
		pu, err := url.Parse(u)
		if err != nil {
			t.Fatal(err)
		}
		if base != rr.ts.base && "http://"+pu.Host != base {
			t.Fatalf("listen URL %q: want one on %s", u, base)
		}
		out[i] = base + pu.RequestURI()
	}
	return out[0], out[1]
}

// removeOn has amal listen on base (listen.ws and listen.ogg, a ticket
// each) beside bilal (listen.ws); remove removes her however the test
// needs and returns the time from which her streams must end within
// within. They end (close 4403, listen.ogg's connection closed); her old
// tickets are refused 403 listener_removed on base; and, when steady,
// bilal goes on hearing the tone in every window without a gap.
func (rr *removalRoom) removeOn(t *testing.T, base string, within time.Duration, steady bool, remove func() time.Time) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	wsURL, _ := rr.joinOn(t, base, rr.amalTok)
	_, oggURL := rr.joinOn(t, base, rr.amalTok) // one stream per ticket
	bilalWS, _ := rr.joinOn(t, base, rr.bilalTok)
	amalWS := listenWS(t, ctx, strings.Replace(wsURL, "http", "ws", 1))
	amalOgg := listenOgg(t, ctx, oggURL)
	bilal := listenWS(t, ctx, strings.Replace(bilalWS, "http", "ws", 1))
	heard(t, amalWS, amalOgg, bilal)

	from := len(bilal.snapshot())
	since := remove()
	if err := endedWithin(t, "amal's WebSocket on "+base, amalWS, since, within); websocket.CloseStatus(err) != fanout.WSCloseRemoved {
		t.Fatalf("amal's WebSocket on %s ended with %v, want close %d", base, err, fanout.WSCloseRemoved)
	}
	endedWithin(t, "amal's listen.ogg on "+base, amalOgg, since, within)
	t.Logf("amal's streams on %s ended %v after the removal", base, time.Since(since).Round(time.Millisecond))

	// The old tickets are still valid (5 min): they are refused.
	refusedRemoved(t, "amal's listen.ogg on "+base+" again (old ticket)", oggURL, false)
	refusedRemoved(t, "amal's listen.ws on "+base+" again (old ticket)", wsURL, true)
	if steady {
		time.Sleep(1500 * time.Millisecond)
		keepsTone(t, "bilal (signed in, WebSocket) on "+base, bilal, from)
	}
}

// TestBlockRemovesListener: on the origin; the blocked user's HLS
// heartbeats and joins are refused too, and an anonymous listener hears on.
func TestBlockRemovesListener(t *testing.T) {
	ts := startServer(t, "")
	rr := newRemovalRoom(t, ts)
	var hj hlsJoin
	if code := ts.call(t, "POST", "/api/v1/rooms/"+rr.room+"/join", rr.amalTok, nil, &hj); code != 200 || hj.Listen.Heartbeat == "" {
		t.Fatalf("amal's HLS join: %d %+v", code, hj)
	}
	ts.must(t, 200, "POST", hj.Listen.Heartbeat, "", "")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	anon := listenOgg(t, ctx, ts.base+ts.join(t, rr.room).Listen.Ogg)
	heard(t, anon)
	var fromA int
	rr.removeOn(t, ts.base, 2*time.Second, true, func() time.Time {
		fromA = len(anon.snapshot())
		return rr.block(t)
	})
	if r := ts.do(t, "POST", hj.Listen.Heartbeat, "", "", nil); r.status != 403 || r.code != "listener_removed" {
		t.Fatalf("amal's HLS heartbeat after the block: %d %s, want 403 listener_removed", r.status, r.code)
	}
	if r := ts.do(t, "POST", "/api/v1/rooms/"+rr.room+"/join", rr.amalTok, "", nil); r.status != 403 {
		t.Fatalf("amal's join after the block: %d %s, want 403", r.status, r.code)
	}
	keepsTone(t, "the anonymous listener (listen.ogg)", anon, fromA)
}

// TestBlockRemovesListenerOnEdge: the block reaches the edge the origin
// placed amal on, over the cluster.
func TestBlockRemovesListenerOnEdge(t *testing.T) {
	dir := t.TempDir()
	ts := startServerWith(t, dir, withCluster)
	_, edgeBase := startEdgeWith(t, ts, dir, func(*EdgeConfig) {})
	rr := newRemovalRoom(t, ts)
	rr.removeOn(t, edgeBase, 2*time.Second, true, func() time.Time { return rr.block(t) })
}

// TestBlockWhileEdgeCutOff: a block made while an edge is cut off from
// the cluster (its NATS connection through a proxy that drops it and
// refuses new ones) is lost to it then, and reaches it once it reconnects:
// the edge asks the origin for the removals it missed. Amal's streams
// there end within 5 s of the reconnect and her old tickets are refused.
func TestBlockWhileEdgeCutOff(t *testing.T) {
	dir := t.TempDir()
	ts := startServerWith(t, dir, withCluster)
	px := startCutProxy(t, strings.TrimPrefix(ts.cluster.ServerURL(), "nats://"))
	e, edgeBase := startEdgeWith(t, ts, dir, func(c *EdgeConfig) { c.Cluster.URL = px.url() })
	rr := newRemovalRoom(t, ts)
	rr.removeOn(t, edgeBase, 5*time.Second, false, func() time.Time {
		return rr.blockWhileCut(t, px, "the edge", e.cluster.Connected, e)
	})
}

// TestBlockWhileOriginCutOff: a block made while the origin is cut off
// from the cluster (a NATS server of its own; the origin's connection
// through the proxy, the edge's direct) reaches no edge then, and the edge,
// connected throughout, has no reason to ask; once the origin is back it
// tells the edges again of the removals it made meanwhile. Amal's streams
// on the edge end within 5 s of the origin's reconnect.
func TestBlockWhileOriginCutOff(t *testing.T) {
	hub, err := cluster.Connect(cluster.Config{URL: cluster.Embedded, Listen: "127.0.0.1:0"}, true)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(hub.Close)
	px := startCutProxy(t, strings.TrimPrefix(hub.ServerURL(), "nats://"))
	dir := t.TempDir()
	ts := startServerWith(t, dir, func(c *Config) { c.Cluster = cluster.Config{URL: px.url()} })
	e, edgeBase := startEdgeWith(t, ts, dir, func(c *EdgeConfig) { c.Cluster.URL = hub.ServerURL() })
	rr := newRemovalRoom(t, ts)
	rr.removeOn(t, edgeBase, 5*time.Second, false, func() time.Time {
		return rr.blockWhileCut(t, px, "the origin", ts.cluster.Connected, e)
	})
}

// blockWhileCut cuts px until connected (of who, which px carries) says
// so, has the host block amal, checks that e has not heard of it a moment
// later, restores px and returns when it did.
func (rr *removalRoom) blockWhileCut(t *testing.T, px *cutProxy, who string, connected func() bool, e *EdgeServer) time.Time {
	t.Helper()
	px.setCut(true)
	until(t, who+" cut off from the cluster", func() bool { return !connected() })
	blocked := rr.block(t)
	time.Sleep(200 * time.Millisecond) // what the edge would take to hear it, both connected
	old := admission.Ticket{Room: rr.room, User: rr.amalID, Expires: blocked.Add(-time.Second).Add(DefaultTicketTTL)}
	if e.edge.Removed(rr.room, old) {
		t.Fatalf("the edge heard of the block while %s was cut off from the cluster", who)
	}
	px.setCut(false)
	return time.Now()
}

// cutProxy forwards TCP connections to a target (a NATS server) until it
// is cut: then it closes every connection it carries and closes each new
// one at once, until it is restored.
type cutProxy struct {
	ln     net.Listener
	target string
	wg     sync.WaitGroup
	mu     sync.Mutex
	cut    bool
	conns  map[net.Conn]struct{}
}

func startCutProxy(t *testing.T, target string) *cutProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &cutProxy{ln: ln, target: target, conns: make(map[net.Conn]struct{})}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(func() {
		ln.Close()
		p.setCut(true)
		p.wg.Wait()
	})
	return p
}

func (p *cutProxy) url() string { return "nats://" + p.ln.Addr().String() }

// setCut cuts (closing what it carries) or restores the proxy.
func (p *cutProxy) setCut(cut bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut = cut
	if cut {
		for c := range p.conns {
			c.Close()
		}
	}
}

// track records c, or closes it when the proxy is cut.
func (p *cutProxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cut {
		c.Close()
		return false
	}
	p.conns[c] = struct{}{}
	return true
}

func (p *cutProxy) forget(c net.Conn) {
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
	c.Close()
}

func (p *cutProxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		if !p.track(c) {
			continue
		}
		up, err := net.DialTimeout("tcp", p.target, 5*time.Second)
		if err != nil || !p.track(up) {
			if up != nil {
				up.Close()
			}
			p.forget(c)
			continue
		}
		p.wg.Add(2)
		pipe := func(dst, src net.Conn) {
			defer p.wg.Done()
			io.Copy(dst, src)
			p.forget(dst) // either way ended: the connection is gone
			p.forget(src)
		}
		go pipe(up, c)
		go pipe(c, up)
	}
}

// TestSuspendRemovesListener: an admin's suspension of an account ends its
// listen streams in a room on the origin and on the edge (close 4403
// within 2 s). Its tickets issued before are refused 403 listener_removed
// on every listen path, on the origin (WebSocket, listen.ogg, HLS
// heartbeat) as on the edge, even once the suspension is lifted; a ticket
// of a join after that is taken on both.
func TestSuspendRemovesListener(t *testing.T) {
	dir := t.TempDir()
	ts := startServerWith(t, dir, withCluster)
	e, _ := startEdgeWith(t, ts, dir, func(*EdgeConfig) {})
	_, hostTok := ts.createUser(t, "host")
	amalID, amalTok := ts.createUser(t, "amal")
	room := ts.liveRoom(t, hostTok)
	sp := publishTone(t, ts, room, hostTok, &tone{freq: lowHz, amp: toneAmp})
	defer sp.stop()

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	// The origin places amal's joins on the edge; a ticket is the room's,
	// not an edge's, so atOrigin uses a join's URL at the origin itself.
	atOrigin := func(u string) string {
		t.Helper()
		pu, err := url.Parse(u)
		if err != nil {
			t.Fatal(err)
		}
		return ts.base + pu.RequestURI()
	}
	onEdge := func(j joinResp) string {
		t.Helper()
		if pu, err := url.Parse(j.Listen.WS); err != nil || pu.Host != e.HTTPAddr() {
			t.Fatalf("listen URL %q: want one on the edge %s", j.Listen.WS, e.HTTPAddr())
		}
		return j.Listen.WS
	}
	hlsJoinAs := func() hlsJoin {
		t.Helper()
		var hj hlsJoin
		if code := ts.call(t, "POST", "/api/v1/rooms/"+room+"/join", amalTok, nil, &hj); code != 200 || hj.Listen.Heartbeat == "" {
			t.Fatalf("amal's HLS join: %d %+v", code, hj)
		}
		return hj
	}
	beat := func(hj hlsJoin) apiResult {
		t.Helper()
		pu, err := url.Parse(hj.Listen.Heartbeat)
		if err != nil {
			t.Fatal(err)
		}
		return ts.do(t, "POST", pu.RequestURI(), "", "", nil)
	}
	oldWS := atOrigin(ts.joinAs(t, room, amalTok).Listen.WS)
	oldOgg := atOrigin(ts.joinAs(t, room, amalTok).Listen.Ogg) // never used before the suspension
	oldHLS := hlsJoinAs()
	if r := beat(oldHLS); r.status != 200 {
		t.Fatalf("amal's HLS heartbeat: %d %s", r.status, r.code)
	}
	edgeWS := onEdge(ts.joinAs(t, room, amalTok))
	origin := listenWS(t, ctx, strings.Replace(oldWS, "http", "ws", 1))
	edge := listenWS(t, ctx, edgeWS)
	heard(t, origin, edge)

	suspended := time.Now()
	ts.must(t, 200, "POST", "/api/v1/users/"+amalID+"/suspend", ts.AdminToken(), `{"suspended":true}`)
	answered := time.Now()
	for _, l := range []struct {
		what string
		l    *listener
	}{{"amal's WebSocket on the origin", origin}, {"amal's WebSocket on the edge", edge}} {
		if err := removedWithin(t, l.what, l.l, suspended); websocket.CloseStatus(err) != fanout.WSCloseRemoved {
			t.Fatalf("%s ended with %v, want close %d", l.what, err, fanout.WSCloseRemoved)
		}
	}
	// oldRefused: every ticket amal had before the suspension is refused.
	oldRefused := func(when string) {
		t.Helper()
		refusedRemoved(t, "amal's listen.ws on the origin again (old ticket) "+when, oldWS, true)
		refusedRemoved(t, "amal's listen.ogg on the origin (old ticket) "+when, oldOgg, false)
		if r := beat(oldHLS); r.status != 403 || r.code != "listener_removed" {
			t.Fatalf("amal's HLS heartbeat on the origin (old ticket) %s: %d %s, want 403 listener_removed", when, r.status, r.code)
		}
		refusedRemoved(t, "amal's listen.ws on the edge again (old ticket) "+when, strings.Replace(edgeWS, "ws://", "http://", 1), true)
	}
	oldRefused("while suspended")
	if r := ts.do(t, "POST", "/api/v1/rooms/"+room+"/join", amalTok, "", nil); r.status != 403 {
		t.Fatalf("amal's join while suspended: %d %s, want 403", r.status, r.code)
	}

	// Lifted: the old tickets stay refused, new ones are taken. A ticket
	// tells its issue time to the second (admission.Signer.Issued): one
	// issued in the second of the suspension counts as before it.
	ts.must(t, 200, "POST", "/api/v1/users/"+amalID+"/suspend", ts.AdminToken(), `{"suspended":false}`)
	oldRefused("after the suspension was lifted")
	time.Sleep(time.Until(answered.Truncate(time.Second).Add(time.Second + 10*time.Millisecond)))
	origin = listenWS(t, ctx, strings.Replace(atOrigin(ts.joinAs(t, room, amalTok).Listen.WS), "http", "ws", 1))
	edge = listenWS(t, ctx, onEdge(ts.joinAs(t, room, amalTok)))
	newOgg := listenOgg(t, ctx, atOrigin(ts.joinAs(t, room, amalTok).Listen.Ogg))
	if r := beat(hlsJoinAs()); r.status != 200 {
		t.Fatalf("amal's HLS heartbeat with a new ticket: %d %s, want 200", r.status, r.code)
	}
	heard(t, origin, edge, newOgg)
}
