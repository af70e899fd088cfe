package server

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

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

// removedWithin waits up to 2 s for l's stream to end and returns how.
func removedWithin(t *testing.T, what string, l *listener, since time.Time) error {
	t.Helper()
	select {
	case <-l.done:
	case <-time.After(time.Until(since.Add(2 * time.Second))):
		t.Fatalf("%s still streams 2 s after the removal", what)
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

// TestBlockRemovesListener: on the origin.
func TestBlockRemovesListener(t *testing.T) {
	ts := startServer(t, "")
	_, hostTok := ts.createUser(t, "host")
	amalID, amalTok := ts.createUser(t, "amal")
	_, bilalTok := ts.createUser(t, "bilal")
	room := ts.liveRoom(t, hostTok)
	sp := publishTone(t, ts, room, hostTok, &tone{freq: lowHz, amp: toneAmp})
	defer sp.stop()

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	wsJ, oggJ := ts.joinAs(t, room, amalTok), ts.joinAs(t, room, amalTok) // one stream per ticket
	var hj hlsJoin
	if code := ts.call(t, "POST", "/api/v1/rooms/"+room+"/join", amalTok, nil, &hj); code != 200 || hj.Listen.Heartbeat == "" {
		t.Fatalf("amal's HLS join: %d %+v", code, hj)
	}
	ts.must(t, 200, "POST", hj.Listen.Heartbeat, "", "")
	amalWS := listenWS(t, ctx, strings.Replace(ts.base, "http", "ws", 1)+wsJ.Listen.WS)
	amalOgg := listenOgg(t, ctx, ts.base+oggJ.Listen.Ogg)
	bilal := listenWS(t, ctx, strings.Replace(ts.base, "http", "ws", 1)+ts.joinAs(t, room, bilalTok).Listen.WS)
	anon := listenOgg(t, ctx, ts.base+ts.join(t, room).Listen.Ogg)
	heard(t, amalWS, amalOgg, bilal, anon)

	fromB, fromA := len(bilal.snapshot()), len(anon.snapshot())
	blocked := time.Now()
	ts.must(t, 200, "POST", "/api/v1/rooms/"+room+"/blocks/"+amalID, hostTok, "")
	if err := removedWithin(t, "amal's WebSocket", amalWS, blocked); websocket.CloseStatus(err) != fanout.WSCloseRemoved {
		t.Fatalf("amal's WebSocket ended with %v, want close %d", err, fanout.WSCloseRemoved)
	}
	removedWithin(t, "amal's listen.ogg", amalOgg, blocked)
	t.Logf("amal's streams ended %v after the block", time.Since(blocked).Round(time.Millisecond))

	if r := ts.do(t, "POST", hj.Listen.Heartbeat, "", "", nil); r.status != 403 || r.code != "listener_removed" {
		t.Fatalf("amal's HLS heartbeat after the block: %d %s, want 403 listener_removed", r.status, r.code)
	}
	refusedRemoved(t, "amal's listen.ogg again (old ticket)", ts.base+oggJ.Listen.Ogg, false)
	refusedRemoved(t, "amal's listen.ws again (old ticket)", ts.base+wsJ.Listen.WS, true)
	if r := ts.do(t, "POST", "/api/v1/rooms/"+room+"/join", amalTok, "", nil); r.status != 403 {
		t.Fatalf("amal's join after the block: %d %s, want 403", r.status, r.code)
	}

	time.Sleep(1500 * time.Millisecond)
	keepsTone(t, "bilal (signed in, WebSocket)", bilal, fromB)
	keepsTone(t, "the anonymous listener (listen.ogg)", anon, fromA)
}

// TestBlockRemovesListenerOnEdge: the block reaches the edge the origin
// placed amal on, over the cluster.
func TestBlockRemovesListenerOnEdge(t *testing.T) {
	dir := t.TempDir()
	ts := startServerWith(t, dir, withCluster)
	e, _ := startEdgeWith(t, ts, dir, func(*EdgeConfig) {})
	_, hostTok := ts.createUser(t, "host")
	amalID, amalTok := ts.createUser(t, "amal")
	_, bilalTok := ts.createUser(t, "bilal")
	room := ts.liveRoom(t, hostTok)
	sp := publishTone(t, ts, room, hostTok, &tone{freq: lowHz, amp: toneAmp})
	defer sp.stop()

	// onEdge joins signed in with token and checks the origin placed the
	// listener on e; it returns the stream URLs there.
	onEdge := func(token string) (ws, ogg string) {
		j := ts.joinAs(t, room, token)
		for _, u := range []string{j.Listen.WS, j.Listen.Ogg} {
			if pu, err := url.Parse(u); err != nil || pu.Host != e.HTTPAddr() {
				t.Fatalf("listen URL %q: want one on the edge %s", u, e.HTTPAddr())
			}
		}
		return strings.Replace(j.Listen.WS, "http", "ws", 1), j.Listen.Ogg
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	wsURL, _ := onEdge(amalTok)
	_, oggURL := onEdge(amalTok)
	amalWS := listenWS(t, ctx, wsURL)
	amalOgg := listenOgg(t, ctx, oggURL)
	bilalWS, _ := onEdge(bilalTok)
	bilal := listenWS(t, ctx, bilalWS)
	heard(t, amalWS, amalOgg, bilal)

	from := len(bilal.snapshot())
	blocked := time.Now()
	ts.must(t, 200, "POST", "/api/v1/rooms/"+room+"/blocks/"+amalID, hostTok, "")
	if err := removedWithin(t, "amal's WebSocket on the edge", amalWS, blocked); websocket.CloseStatus(err) != fanout.WSCloseRemoved {
		t.Fatalf("amal's WebSocket on the edge ended with %v, want close %d", err, fanout.WSCloseRemoved)
	}
	removedWithin(t, "amal's listen.ogg on the edge", amalOgg, blocked)
	t.Logf("amal's streams on the edge ended %v after the block", time.Since(blocked).Round(time.Millisecond))

	// The old tickets are still valid (5 min): the edge refuses them.
	refusedRemoved(t, "amal's listen.ogg on the edge again (old ticket)", oggURL, false)
	refusedRemoved(t, "amal's listen.ws on the edge again (old ticket)", strings.Replace(wsURL, "ws", "http", 1), true)

	time.Sleep(1500 * time.Millisecond)
	keepsTone(t, "bilal on the edge", bilal, from)
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
