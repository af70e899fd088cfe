package cluster

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"majlis/internal/events"
	"majlis/internal/program"
	"majlis/internal/room"
	"majlis/internal/testkit"
)

// permissionsConf is the nats-server authorization block docs/operations.md
// gives ("Subjects and permissions"): the first ```conf block there.
func permissionsConf(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("../../docs/operations.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(b), "\n```conf\n")
	block, _, ok2 := strings.Cut(rest, "\n```\n")
	if !ok || !ok2 || !strings.HasPrefix(block, "authorization {") {
		t.Fatal("docs/operations.md has no ```conf block with the authorization block")
	}
	return block + "\n"
}

// TestEdgePermissions: a NATS server with the documented permissions
// (an origin and the edges edge-a and edge-b, each with its own password)
// carries everything majlis needs: an edge follows a room's program and
// its end, asks whether it is live and for the removals it missed, and its reports and sketches are
// counted. A misbehaving edge-a can only report as itself: its report or
// sketch on edge-b's subject is refused by the NATS server (a permissions
// violation, told to edge-a; the fleet never sees it and edge-b's count
// stays), one on its own subject naming edge-b is dropped by the fleet and
// counted as bad, and what it says of itself is capped by its connections
// and MaxPerEdge. Neither edge can publish a program, nor the origin a report.
func TestEdgePermissions(t *testing.T) {
	const maxPerEdge = 100
	dir := t.TempDir()
	conf := filepath.Join(dir, "nats.conf")
	if err := os.WriteFile(conf, []byte(permissionsConf(t)), 0o600); err != nil {
		t.Fatal(err)
	}
	pw := map[string]string{"origin": "o-secret", "edge-a": "a-secret", "edge-b": "b-secret"}
	t.Setenv("MAJLIS_NATS_ORIGIN_PASSWORD", pw["origin"])
	t.Setenv("MAJLIS_NATS_EDGE_A_PASSWORD", pw["edge-a"])
	t.Setenv("MAJLIS_NATS_EDGE_B_PASSWORD", pw["edge-b"])
	opts, err := server.ProcessConfigFile(conf)
	if err != nil {
		t.Fatal(err)
	}
	_, url := startNATS(t, opts)
	logs := map[string]*testkit.SyncBuffer{}
	conn := func(user string) *Conn {
		t.Helper()
		logs[user] = &testkit.SyncBuffer{}
		c, err := Connect(Config{URL: url, User: user, Password: pw[user], Logger: slog.New(slog.NewTextHandler(logs[user], nil))}, false)
		if err != nil {
			t.Fatalf("%s: %v", user, err)
		}
		t.Cleanup(c.Close)
		return c
	}
	o, a, b := conn("origin"), conn("edge-a"), conn("edge-b")
	// violation waits for the NATS server's refusal of user's publish on subj.
	violation := func(user, subj string) {
		t.Helper()
		want := `permissions violation for publish to "` + subj + `"`
		waitFor(t, func() bool {
			// The text handler quotes the error: its quotes come escaped.
			return strings.Contains(strings.ReplaceAll(strings.ToLower(logs[user].String()), `\"`, `"`), want)
		})
	}

	// The origin's side: a live room's publisher and the fleet.
	prog := program.New(program.Config{ChunkFrames: 1})
	pub, err := NewPublisher(o, func(id string) *program.Program {
		if id == "room1" {
			return prog
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	f, err := NewFleet(o, pub.Epoch(), maxPerEdge)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := o.Flush(time.Second); err != nil {
		t.Fatal(err)
	}

	// An edge follows the room, asks for its state and gets its program;
	// a program edge-a forges is refused by the server, never received.
	feed, err := b.Follow("room1")
	if err != nil {
		t.Fatal(err)
	}
	defer feed.Close()
	if err := b.Flush(time.Second); err != nil {
		t.Fatal(err)
	}
	if st, err := b.RoomState("room1", 2*time.Second); err != nil || st.State != StateLive || st.Epoch != pub.Epoch() {
		t.Fatalf("edge-b asks for room1's state: %+v %v, want live at epoch %d", st, err, pub.Epoch())
	}
	a.nc.Publish(programSubject("room1"), AppendProgram(nil, 1, 0, [][]byte{frame(999)}, nil))
	a.Flush(time.Second)
	violation("edge-a", programSubject("room1"))
	pub.Start("room1")
	prog.WriteFrame(frame(1))
	if m := recv(t, feed); m.Program == nil || m.Program.Epoch != pub.Epoch() || !bytes.Equal(m.Program.Frames[0], frame(1)) {
		t.Fatalf("edge-b's first message of room1: %+v, want the origin's frame 1", m)
	}

	// The room's event stream and snapshots go round too; a stream event
	// edge-a forges is refused by the server.
	if err := pub.ServeSnapshots(func(context.Context, string) (events.Item, bool, error) {
		return events.Item{Seq: 7, Raw: []byte(`{"seq":7,"type":"snapshot"}`)}, false, nil
	}, func(error) bool { return false }); err != nil {
		t.Fatal(err)
	}
	evs, err := b.FollowEvents("room1")
	if err != nil {
		t.Fatal(err)
	}
	defer evs.Close()
	b.Flush(time.Second)
	if sn, err := b.Snapshot("room1", 2*time.Second); err != nil || sn.Status != SnapshotOK || sn.Seq != 7 {
		t.Fatalf("edge-b asks for room1's snapshot: %+v %v", sn, err)
	}
	a.nc.Publish(streamSubject("room1"), AppendEvent(nil, EventMsg{Kind: EventRoom, Seq: 99, JSON: []byte(`{"forged":true}`)}))
	a.Flush(time.Second)
	violation("edge-a", streamSubject("room1"))
	pub.RoomEvent("room1", events.Item{Seq: 8, Raw: []byte(`{"seq":8,"type":"counts"}`)}, false)
	select {
	case ev := <-evs.C:
		if ev.Seq != 8 {
			t.Fatalf("edge-b's first room1 event: #%d %s, want the origin's #8", ev.Seq, ev.JSON)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("edge-b got no room1 event in 5 s")
	}

	// The removals: an edge asks for those it missed; one edge-a forges on
	// a room's events subject is refused by the server.
	at := time.Now()
	if err := pub.ServeRemovals(func(since time.Time, limit int) ([]room.Removal, bool) {
		return []room.Removal{{Room: "room1", User: "u-amal", At: at}}, false
	}); err != nil {
		t.Fatal(err)
	}
	if rm, err := b.Removals(time.Time{}, 2*time.Second); err != nil || len(rm.Removals) != 1 || rm.Removals[0].User != "u-amal" || !rm.Removals[0].At.Equal(at) {
		t.Fatalf("edge-b asks for the removals: %+v %v", rm, err)
	}
	a.nc.Publish(eventsSubject("room1"), AppendEvent(nil, EventMsg{Kind: EventListenerRemoved, User: "u-bilal", At: at}))
	a.Flush(time.Second)
	violation("edge-a", eventsSubject("room1"))

	// The ticket keys reach the edges; edge-a cannot send keys of its own.
	gotKeys := make(chan KeysMsg, 4)
	kf, err := b.FollowKeys(func(k KeysMsg) { gotKeys <- k })
	if err != nil {
		t.Fatal(err)
	}
	defer kf.Close()
	b.Flush(time.Second)
	a.nc.Publish(subjectKeys, []byte{Version, 0})
	a.Flush(time.Second)
	violation("edge-a", subjectKeys)
	kb := NewKeyBroadcast(o, func() [][]byte { return [][]byte{bytes.Repeat([]byte{7}, 32)} }, time.Hour)
	defer kb.Close()
	select {
	case <-gotKeys:
	case <-time.After(5 * time.Second):
		t.Fatal("edge-b got no ticket keys in 5 s")
	}

	// Genuine reports count.
	sketchOf := func(from, n uint64) []byte {
		sk := NewSketch()
		for i := range n {
			sk.Insert(from + i)
		}
		sb, _ := sk.MarshalBinary()
		return sb
	}
	b.PublishLoad(nil, LoadReport{Edge: "edge-b", BaseURL: "http://127.0.0.1:2", Connections: 3, Rooms: []RoomLoad{{"room1", 3}}})
	a.PublishLoad(nil, LoadReport{Edge: "edge-a", BaseURL: "http://127.0.0.1:1", Connections: 5, Rooms: []RoomLoad{{"room1", 5}}})
	a.PublishSketch(nil, SketchReport{Edge: "edge-a", Room: "room1", Epoch: pub.Epoch(), Sketch: sketchOf(0, 50)})
	a.Flush(time.Second)
	b.Flush(time.Second)
	waitFor(t, func() bool { return f.Listeners("room1") == 8 && f.Edges() == 2 && f.Unique("room1") >= 49 })
	bad := o.Stats().Bad

	// edge-a on edge-b's subjects: refused by the server. Its next genuine
	// report and sketch, on the same subscriptions after them, mark when
	// the forged ones would have arrived.
	a.nc.Publish(subjectLoad+"edge-b", AppendLoad(nil, LoadReport{Edge: "edge-b", BaseURL: "http://127.0.0.1:2", Connections: 500, Rooms: []RoomLoad{{"room1", 500}}}))
	a.nc.Publish(subjectSketch+"edge-b", AppendSketch(nil, SketchReport{Edge: "edge-b", Room: "room1", Epoch: pub.Epoch(), Sketch: sketchOf(1000, 1000)}))
	a.PublishLoad(nil, LoadReport{Edge: "edge-a", BaseURL: "http://127.0.0.1:1", Connections: 6, Rooms: []RoomLoad{{"room1", 6}}})
	a.PublishSketch(nil, SketchReport{Edge: "edge-a", Room: "room1", Epoch: pub.Epoch(), Sketch: sketchOf(0, 60)})
	a.Flush(time.Second)
	violation("edge-a", subjectLoad+"edge-b")
	violation("edge-a", subjectSketch+"edge-b")
	waitFor(t, func() bool { return f.Listeners("room1") == 9 && f.Unique("room1") >= 59 })
	if n, u := f.Listeners("room1"), f.Unique("room1"); n != 9 || u > 61 || o.Stats().Bad != bad {
		t.Fatalf("after edge-a's reports on edge-b's subjects: room1 %d listeners (want 3 of edge-b + 6 of edge-a), %d unique (want 60), %d bad (want %d)",
			n, u, o.Stats().Bad, bad)
	}

	// edge-a on its own subjects naming edge-b: dropped by the fleet, counted.
	a.nc.Publish(subjectLoad+"edge-a", AppendLoad(nil, LoadReport{Edge: "edge-b", BaseURL: "http://127.0.0.1:2", Connections: 500, Rooms: []RoomLoad{{"room1", 500}}}))
	a.nc.Publish(subjectSketch+"edge-a", AppendSketch(nil, SketchReport{Edge: "edge-b", Room: "room1", Epoch: pub.Epoch(), Sketch: sketchOf(1000, 1000)}))
	a.Flush(time.Second)
	waitFor(t, func() bool { return o.Stats().Bad == bad+2 })
	if n, u := f.Listeners("room1"), f.Unique("room1"); n != 9 || u > 61 || f.Edges() != 2 {
		t.Fatalf("after edge-a's reports naming edge-b: room1 %d listeners, %d unique, %d edges; want 9, 60, 2", n, u, f.Edges())
	}

	// What edge-a says of itself is capped: by MaxPerEdge, and by its connections.
	a.PublishLoad(nil, LoadReport{Edge: "edge-a", BaseURL: "http://127.0.0.1:1", Connections: 1_000_000, Rooms: []RoomLoad{{"room1", 1_000_000}}})
	a.Flush(time.Second)
	waitFor(t, func() bool { return f.Listeners("room1") == 3+maxPerEdge })
	a.PublishLoad(nil, LoadReport{Edge: "edge-a", BaseURL: "http://127.0.0.1:1", Connections: 2, Rooms: []RoomLoad{{"room1", 1000}}})
	a.Flush(time.Second)
	waitFor(t, func() bool { return f.Listeners("room1") == 3+2 })

	// The origin cannot report as an edge.
	o.PublishLoad(nil, LoadReport{Edge: "edge-c", BaseURL: "http://127.0.0.1:3", Connections: 5, Rooms: []RoomLoad{{"room1", 5}}})
	o.Flush(time.Second)
	violation("origin", subjectLoad+"edge-c")

	// The room's end reaches the edge (the origin publishes events).
	pub.End("room1")
	for {
		if m := recv(t, feed); m.Event != nil {
			if m.Event.Kind != EventRoomEnded || m.Event.Epoch != pub.Epoch() {
				t.Fatalf("event %+v", m.Event)
			}
			break
		}
	}
	if n, r := f.Edges(), f.RefusedReports(); n != 2 || r != 0 {
		t.Fatalf("%d edges, %d refused reports; want edge-a and edge-b, none refused", n, r)
	}
	if b.Stats().Bad != 0 {
		t.Fatalf("edge-b counted %d bad messages", b.Stats().Bad)
	}
}
