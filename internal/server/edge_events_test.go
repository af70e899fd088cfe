package server

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// TestEdgeServesEvents: a room's event stream reaches an edge over the
// cluster and the edge serves it on the room's events path, as the origin
// does: a join placed on the edge names the edge's events URL; the edge's
// readers start with a snapshot, then get every event the origin's readers
// get, with the same numbers and bytes (a state change, the counts of the
// edge's own listener); twenty readers cost one mirror (one subscription
// and one snapshot request to the origin); a cursor taken on the origin
// resumes on the edge with no snapshot; a stale or future cursor gets a
// snapshot; an unknown room and a bad cursor get the origin's JSON errors;
// the room's end closes the edge's streams as it closes the origin's.
func TestEdgeServesEvents(t *testing.T) {
	dir := t.TempDir()
	ts := startServerWith(t, dir, withCluster)
	e, edgeBase := startEdgeWith(t, ts, dir, func(*EdgeConfig) {})
	_, hostTok := ts.createUser(t, "amal")
	room := ts.liveRoom(t, hostTok)
	base := "/api/v1/rooms/" + room

	j := ts.join(t, room)
	if j.Events != edgeBase+base+"/events" {
		t.Fatalf("join answer's events URL %q, want the edge's %q", j.Events, edgeBase+base+"/events")
	}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	atOrigin := subscribeWSAt(t, ctx, ts.base, room, "")
	atEdge := subscribeWSAt(t, ctx, edgeBase, room, "")
	var crowd []*eventLog
	for range 20 {
		crowd = append(crowd, subscribeWSAt(t, ctx, edgeBase, room, ""))
	}
	for i, l := range append([]*eventLog{atOrigin, atEdge}, crowd...) {
		l.wait(t, fmt.Sprintf("reader %d's snapshot", i), 5*time.Second, func(evs []roomEvent) bool { return len(evs) > 0 })
		if ev := l.all()[0]; ev.Type != "snapshot" || !bytes.Contains(ev.Data, []byte(`"id":"`+room+`"`)) {
			t.Fatalf("reader %d's first event: %s %s, want the room's snapshot", i, ev.Type, ev.Data)
		}
	}
	if n := e.edge.Mirrors(); n != 1 {
		t.Errorf("the edge mirrors %d rooms for 21 readers of one, want 1", n)
	}

	// A state change: the same event, number and bytes, at the origin and on the edge.
	ts.must(t, 200, "PUT", base+"/pin", hostTok, `{"url":"https://example.org/agenda"}`)
	pinned := func(evs []roomEvent) bool {
		for _, ev := range evs {
			if ev.Type == "pin_changed" {
				return true
			}
		}
		return false
	}
	atOrigin.wait(t, "pin_changed at the origin", 5*time.Second, pinned)
	atEdge.wait(t, "pin_changed on the edge", 5*time.Second, pinned)
	find := func(l *eventLog, typ string) roomEvent {
		for _, ev := range l.all() {
			if ev.Type == typ {
				return ev
			}
		}
		return roomEvent{}
	}
	o, ed := find(atOrigin, "pin_changed"), find(atEdge, "pin_changed")
	if o.Seq == 0 || o.Seq != ed.Seq || !bytes.Equal(o.Data, ed.Data) {
		t.Fatalf("pin_changed: origin #%d %s, edge #%d %s: want the same", o.Seq, o.Data, ed.Seq, ed.Data)
	}
	for i, l := range crowd {
		l.wait(t, fmt.Sprintf("pin_changed for edge reader %d", i), 5*time.Second, pinned)
	}

	// The counts: a listener on the edge is in the counts the edge's readers get.
	lctx, lcancel := context.WithCancel(ctx)
	listenWS(t, lctx, strings.Replace(edgeBase, "http", "ws", 1)+ts.joinOnEdge(t, room, e).Listen.WS)
	atEdge.wait(t, "counts with the edge's listener", 10*time.Second, func(evs []roomEvent) bool {
		for _, ev := range evs {
			var c struct{ Listeners int }
			if ev.Type == "counts" && json.Unmarshal(ev.Data, &c) == nil && c.Listeners >= 1 {
				return true
			}
		}
		return false
	})
	lcancel()

	// A cursor from the origin resumes on the edge: the next event, no snapshot.
	sse := func(query string) (int, []roomEvent) {
		t.Helper()
		rctx, rcancel := context.WithTimeout(ctx, 3*time.Second)
		defer rcancel()
		req, _ := http.NewRequestWithContext(rctx, "GET", edgeBase+base+"/events"+query, nil)
		resp, err := streamHTTP.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return resp.StatusCode, nil
		}
		if ct, ac := resp.Header.Get("Content-Type"), resp.Header.Get("Access-Control-Allow-Origin"); ct != "text/event-stream" || ac != "*" {
			t.Fatalf("edge events: Content-Type %q, Access-Control-Allow-Origin %q", ct, ac)
		}
		var evs []roomEvent
		buf := make([]byte, 1<<16)
		var acc []byte
		for len(evs) == 0 {
			n, err := resp.Body.Read(buf)
			acc = append(acc, buf[:n]...)
			for _, line := range strings.Split(string(acc), "\n") {
				if d, ok := strings.CutPrefix(line, "data: "); ok {
					var ev roomEvent
					if json.Unmarshal([]byte(d), &ev) == nil {
						evs = append(evs, ev)
					}
				}
			}
			if err != nil {
				break
			}
		}
		return http.StatusOK, evs
	}
	if _, evs := sse(fmt.Sprintf("?since=%d", o.Seq-1)); len(evs) == 0 || evs[0].Type != "pin_changed" || evs[0].Seq != o.Seq {
		t.Fatalf("resuming on the edge after #%d: %+v, want pin_changed #%d first", o.Seq-1, evs, o.Seq)
	}
	for _, q := range []string{"?since=5", "?since=18446744073709551000"} {
		if _, evs := sse(q); len(evs) == 0 || evs[0].Type != "snapshot" {
			t.Fatalf("cursor %s on the edge: %+v, want a snapshot first", q, evs)
		}
	}
	for _, c := range []struct{ path, code string }{
		{base + "/events?since=x", "bad_since"},
		{"/api/v1/rooms/nope/events", "room_not_found"},
	} {
		resp, err := testHTTP.Get(edgeBase + c.path)
		if err != nil {
			t.Fatal(err)
		}
		var body struct{ Error struct{ Code string } }
		err = json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		if err != nil || body.Error.Code != c.code || resp.StatusCode/100 != 4 {
			t.Errorf("edge %s: %d %q (%v), want %s", c.path, resp.StatusCode, body.Error.Code, err, c.code)
		}
	}

	// The room's end closes the edge's streams as it closes the origin's.
	ts.must(t, 200, "POST", base+"/end", hostTok, "")
	for i, l := range append([]*eventLog{atOrigin, atEdge}, crowd...) {
		select {
		case <-l.done:
		case <-time.After(10 * time.Second):
			t.Fatalf("reader %d still open 10 s after the room ended", i)
		}
		l.mu.Lock()
		closed := l.closed
		l.mu.Unlock()
		if find(l, "room_ended").Seq == 0 || closed != websocket.StatusNormalClosure {
			t.Errorf("reader %d: room_ended %v, close %d: want room_ended then a normal close", i, find(l, "room_ended").Seq != 0, closed)
		}
	}
	if _, evs := sse(""); len(evs) == 0 || evs[0].Type != "snapshot" || !bytes.Contains(evs[0].Data, []byte(`"state":"ended"`)) {
		t.Fatalf("the ended room's events on the edge: %+v, want a snapshot of the ended room", evs)
	}
}
