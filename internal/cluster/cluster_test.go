package cluster

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"majlis/internal/program"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// embedded starts an origin's connection with its embedded server on a
// port the kernel picks, and a second client of it (as an edge's).
func embedded(t *testing.T) (origin, edge *Conn) {
	t.Helper()
	o, err := Connect(Config{URL: Embedded, Listen: "127.0.0.1:0", Logger: quiet}, true)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(o.Close)
	e, err := Connect(Config{URL: o.ServerURL(), Logger: quiet}, false)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	return o, e
}

// startNATS starts an in-process nats-server with opts (its security
// settings: users, accounts, TLS) on a loopback port the kernel picks, quiet
// and without signal handlers, and shuts it down when the test ends; url is
// its client address.
func startNATS(t *testing.T, opts *server.Options) (srv *server.Server, url string) {
	t.Helper()
	opts.Host, opts.Port, opts.NoLog, opts.NoSigs = "127.0.0.1", server.RANDOM_PORT, true, true
	srv, err := server.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	go srv.Start()
	t.Cleanup(srv.Shutdown)
	if !srv.ReadyForConnections(5 * time.Second) {
		t.Fatal("NATS server not ready")
	}
	return srv, "nats://127.0.0.1:" + strconv.Itoa(srv.Addr().(*net.TCPAddr).Port)
}

func frame(n uint64) []byte {
	return binary.BigEndian.AppendUint64([]byte{0xFC}, n)
}

// recv waits for the feed's next message.
func recv(t *testing.T, f *Feed) Msg {
	t.Helper()
	select {
	case m := <-f.C:
		return m
	case <-time.After(5 * time.Second):
		t.Fatal("no message in 5 s")
		return Msg{}
	}
}

// TestProgramOverEmbedded: a live program's chunks arrive on a follower in
// order with their frame numbers; the room's state answers live, then not
// live after End, whose event arrives; a message that does not decode is
// dropped and counted.
func TestProgramOverEmbedded(t *testing.T) {
	o, e := embedded(t)
	prog := program.New(program.Config{ChunkFrames: 2})
	var mu sync.Mutex
	live := map[string]*program.Program{"room1": prog}
	pub, err := NewPublisher(o, func(id string) *program.Program {
		mu.Lock()
		defer mu.Unlock()
		return live[id]
	})
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	o.Flush(time.Second)
	feed, err := e.Follow("room1")
	if err != nil {
		t.Fatal(err)
	}
	defer feed.Close()
	if err := e.Flush(time.Second); err != nil {
		t.Fatal(err)
	}
	st, err := e.RoomState("room1", time.Second)
	if err != nil || st.State != StateLive || st.Epoch != pub.Epoch() {
		t.Fatalf("state: %+v %v, want live at epoch %d", st, err, pub.Epoch())
	}
	if st, err := e.RoomState("other", time.Second); err != nil || st.State != StateNotLive {
		t.Fatalf("state of a room not live: %+v %v", st, err)
	}
	pub.Start("room1")
	// The follower starts at the program's head when Start returns.
	for i := range uint64(20) {
		prog.WriteFrame(frame(i))
	}
	var next uint64
	for next < 20 {
		m := recv(t, feed)
		if m.Program == nil {
			t.Fatalf("got %+v, want program", m)
		}
		if m.Program.Epoch != pub.Epoch() || m.Program.FirstSeq != next {
			t.Fatalf("chunk from %d (epoch %d), want from %d (epoch %d)", m.Program.FirstSeq, m.Program.Epoch, next, pub.Epoch())
		}
		for _, f := range m.Program.Frames {
			if !bytes.Equal(f, frame(next)) {
				t.Fatalf("frame %d: %x", next, f)
			}
			next++
		}
	}

	// Garbage on the subject is counted and dropped.
	if err := o.nc.Publish(programSubject("room1"), []byte{9, 9, 9}); err != nil {
		t.Fatal(err)
	}
	o.Flush(time.Second)
	deadline := time.Now().Add(5 * time.Second)
	for e.Stats().Bad == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if e.Stats().Bad != 1 {
		t.Fatalf("bad messages counted: %d, want 1", e.Stats().Bad)
	}

	mu.Lock()
	delete(live, "room1")
	mu.Unlock()
	prog.Close()
	pub.End("room1")
	for {
		m := recv(t, feed)
		if m.Event != nil {
			if m.Event.Kind != EventRoomEnded {
				t.Fatalf("event %+v", m.Event)
			}
			break
		}
	}
	if st, err := e.RoomState("room1", time.Second); err != nil || st.State != StateNotLive {
		t.Fatalf("state after the end: %+v %v", st, err)
	}
}

// TestFullQueuesDrop: a room's feed and event feed that nobody reads keep
// their first feedQueue messages, in order, and drop and count the rest
// rather than wait for a reader.
func TestFullQueuesDrop(t *testing.T) {
	o, e := embedded(t)
	feed, err := e.Follow("full")
	if err != nil {
		t.Fatal(err)
	}
	defer feed.Close()
	evs, err := e.FollowEvents("full")
	if err != nil {
		t.Fatal(err)
	}
	defer evs.Close()
	if err := e.Flush(time.Second); err != nil {
		t.Fatal(err)
	}
	const extra = 7
	for i := range uint64(feedQueue + extra) {
		if err := o.nc.Publish(programSubject("full"), AppendProgram(nil, 1, i, [][]byte{frame(i)}, nil)); err != nil {
			t.Fatal(err)
		}
		ev := EventMsg{Kind: EventRoom, Epoch: 1, Seq: i + 1, JSON: fmt.Appendf(nil, `{"seq":%d}`, i+1)}
		if err := o.nc.Publish(streamSubject("full"), AppendEvent(nil, ev)); err != nil {
			t.Fatal(err)
		}
	}
	o.Flush(time.Second)
	waitFor(t, func() bool { return e.Stats().Dropped >= 2*extra })
	if st := e.Stats(); st.Dropped != 2*extra || st.Bad != 0 {
		t.Fatalf("stats %+v, want %d dropped, none bad", st, 2*extra)
	}
	for i := range uint64(feedQueue) {
		m := <-feed.C
		if m.Program == nil || m.Program.FirstSeq != i || !bytes.Equal(m.Program.Frames[0], frame(i)) {
			t.Fatalf("feed message %d: %+v", i, m)
		}
		ev := <-evs.C
		if ev.Seq != i+1 || string(ev.JSON) != fmt.Sprintf(`{"seq":%d}`, i+1) {
			t.Fatalf("event %d: %d %s", i, ev.Seq, ev.JSON)
		}
	}
	select {
	case m := <-feed.C:
		t.Fatalf("a dropped message was queued: %+v", m)
	case ev := <-evs.C:
		t.Fatalf("a dropped event was queued: %+v", ev)
	default:
	}
}

// TestFleetCounts: listeners sum over fresh reports; a report older than
// ReportTTL is left out; an edge cannot count more than its connections or
// the cap; sketches merge for this epoch only; placement picks the less
// loaded of the edges reporting.
func TestFleetCounts(t *testing.T) {
	o, e := embedded(t)
	f, err := NewFleet(o, 77, 100)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	o.Flush(time.Second) // the subscriptions reached the server
	var mu sync.Mutex
	now := time.Now()
	f.now = func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }

	var told atomic.Int64
	f.OnTotal(func(n int64) { told.Store(n) })
	var buf []byte
	buf = e.PublishLoad(buf, LoadReport{Edge: "a", BaseURL: "http://127.0.0.1:1", Connections: 10, Rooms: []RoomLoad{{"r", 6}, {"s", 4}}})
	buf = e.PublishLoad(buf, LoadReport{Edge: "b", BaseURL: "http://127.0.0.1:2", Connections: 3, Rooms: []RoomLoad{{"r", 3}}})
	// A lying edge: 1000 listeners in a room on 2 connections.
	buf = e.PublishLoad(buf, LoadReport{Edge: "liar", BaseURL: "http://127.0.0.1:3", Connections: 2, Rooms: []RoomLoad{{"r", 1000}}})
	// Another: more connections than the cap (100).
	buf = e.PublishLoad(buf, LoadReport{Edge: "big", BaseURL: "http://127.0.0.1:4", Connections: 5000, Rooms: []RoomLoad{{"s", 5000}}})
	// A bad base URL is refused.
	e.PublishLoad(buf, LoadReport{Edge: "evil", BaseURL: "javascript:alert(1)", Connections: 1, Rooms: []RoomLoad{{"r", 1}}})
	e.Flush(time.Second)
	waitFor(t, func() bool { return f.Listeners("s") == 104 && f.Listeners("r") == 11 })
	if f.Edges() != 4 {
		t.Fatalf("edges: %d, want 4", f.Edges())
	}
	// The fleet's whole audience, capped as the rooms are, is told after each report.
	waitFor(t, func() bool { return told.Load() == 115 })
	if n := f.Total(); n != 115 {
		t.Fatalf("total %d, want 115 (10 + 3 + 2 capped + 100 capped)", n)
	}

	// Placement: the least loaded of two; over many joins the idle edge
	// gets most of them.
	got := map[string]int{}
	for range 40 {
		base, ok := f.EdgeFor("r")
		if !ok {
			t.Fatal("no edge")
		}
		got[base]++
	}
	if got["http://127.0.0.1:3"]+got["http://127.0.0.1:2"] < got["http://127.0.0.1:4"] {
		t.Fatalf("placement %v: the loaded edge got more than the light ones", got)
	}

	// Sketches: this epoch merges, another is ignored.
	sk := NewSketch()
	for i := range uint64(50) {
		sk.Insert(i)
	}
	b, _ := sk.MarshalBinary()
	e.PublishSketch(nil, SketchReport{Edge: "a", Room: "r", Epoch: 77, Sketch: b})
	e.PublishSketch(nil, SketchReport{Edge: "b", Room: "r", Epoch: 77, Sketch: b}) // the same listeners: a union
	old := NewSketch()
	for i := range uint64(500) {
		old.Insert(i + 1000)
	}
	ob, _ := old.MarshalBinary()
	e.PublishSketch(nil, SketchReport{Edge: "a", Room: "r", Epoch: 76, Sketch: ob})
	e.PublishSketch(nil, SketchReport{Edge: "a", Room: "r", Epoch: 77, Sketch: []byte("not a sketch")})
	e.Flush(time.Second)
	waitFor(t, func() bool { return o.Stats().Bad >= 2 })
	if u := f.Unique("r"); u < 49 || u > 51 {
		t.Fatalf("unique: %d, want 50", u)
	}

	// Placement takes only edges heard from within 1.5 report periods
	// while there are any: a killed edge gets no joins 1.6 s after its
	// last report.
	advance(1200 * time.Millisecond)
	e.PublishLoad(buf, LoadReport{Edge: "b", BaseURL: "http://127.0.0.1:2", Connections: 3, Rooms: []RoomLoad{{"r", 2}}})
	e.Flush(time.Second)
	waitFor(t, func() bool { return f.Listeners("r") == 10 })
	advance(400 * time.Millisecond)
	for range 20 {
		if base, _ := f.EdgeFor("r"); base != "http://127.0.0.1:2" {
			t.Fatalf("placement chose %s, silent for 1.6 s, over the edge heard from 400 ms ago", base)
		}
	}

	// Reports older than ReportTTL are left out, and so from placement.
	advance(ReportTTL)
	if n := f.Listeners("r"); n != 0 || f.Total() != 0 {
		t.Fatalf("listeners from stale reports: %d, total %d", n, f.Total())
	}
	if base, ok := f.EdgeFor("r"); ok {
		t.Fatalf("placement chose %s, an edge whose last report is stale", base)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in 5 s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestEmbeddedAuth: the embedded server requires the configured user and
// password; a client with a wrong one fails to start (a configuration
// error, not a server that is not up yet).
func TestEmbeddedAuth(t *testing.T) {
	o, err := Connect(Config{URL: Embedded, Listen: "127.0.0.1:0", User: "majlis", Password: "s3cret", Logger: quiet}, true)
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	if !o.Connected() {
		t.Fatal("the origin is not connected to its own server")
	}
	good, err := Connect(Config{URL: o.ServerURL(), User: "majlis", Password: "s3cret", Logger: quiet}, false)
	if err != nil {
		t.Fatal(err)
	}
	defer good.Close()
	if !good.Connected() {
		t.Fatal("a client with the password is not connected")
	}
	if bad, err := Connect(Config{URL: o.ServerURL(), User: "majlis", Password: "wrong", Logger: quiet}, false); err == nil {
		bad.Close()
		t.Fatal("a client with a wrong password connected")
	}
}

func TestConfigValidate(t *testing.T) {
	for _, c := range []Config{
		{URL: "redis://x"},
		{URL: Embedded, Listen: "nohostport"},
		{URL: "nats://a:1", User: "u", CredsFile: "/c"},
		{URL: "nats://a:1", TLSCert: "/c"},
	} {
		if err := c.Validate(); err == nil {
			t.Errorf("%+v: valid, want an error", c)
		}
	}
	for _, c := range []Config{{}, {URL: Embedded}, {URL: "nats://a:4222,tls://b:4222", User: "u", Password: "p", TLSCA: "/ca"}} {
		if err := c.Validate(); err != nil {
			t.Errorf("%+v: %v", c, err)
		}
	}
}

// TestPlacementSurge: joins between two reports spread over the edges, and
// listeners sent to an edge that its next report does not show yet still
// weigh on it.
func TestPlacementSurge(t *testing.T) {
	o, e := embedded(t)
	f, err := NewFleet(o, 1, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	o.Flush(time.Second)
	e.PublishLoad(nil, LoadReport{Edge: "a", BaseURL: "http://127.0.0.1:1"})
	e.PublishLoad(nil, LoadReport{Edge: "b", BaseURL: "http://127.0.0.1:2"})
	e.Flush(time.Second)
	waitFor(t, func() bool { return f.Edges() == 2 })
	got := map[string]int{}
	for range 100 {
		base, _ := f.EdgeFor("r")
		got[base]++
	}
	if got["http://127.0.0.1:1"] != 50 || got["http://127.0.0.1:2"] != 50 {
		t.Fatalf("100 joins between reports: %v, want 50 each", got)
	}
	// a reports again with none of its 50 connected yet: 25 still weigh on it.
	e.PublishLoad(nil, LoadReport{Edge: "a", BaseURL: "http://127.0.0.1:1"})
	e.Flush(time.Second)
	waitFor(t, func() bool {
		for _, v := range *f.edges.Load() {
			if v.id == "a" && v.assigned.Load() == 25 {
				return true
			}
		}
		return false
	})
}

// TestFleetMaxEdges: a publisher inventing edge ids gets at most MaxEdges
// of them kept; the rest are refused and counted, while a known edge's
// reports still count, and a new edge is taken once one has gone quiet
// for a minute.
func TestFleetMaxEdges(t *testing.T) {
	f := &Fleet{maxPerEdge: 10, now: time.Now, sketches: make(map[string]*roomSketch), c: &Conn{}}
	empty := []*edgeView{}
	f.edges.Store(&empty)
	now := time.Now()
	f.now = func() time.Time { return now }
	for i := range MaxEdges + 100 {
		f.ingestLoad(LoadReport{Edge: fmt.Sprintf("fake%d", i), BaseURL: "http://127.0.0.1:1", Connections: 10, Rooms: []RoomLoad{{"r", 10}}})
	}
	if n, r := f.Edges(), f.RefusedReports(); n != MaxEdges || r != 100 {
		t.Fatalf("%d edges kept, %d reports refused; want %d and 100", n, r, MaxEdges)
	}
	if l := f.Listeners("r"); l != int64(MaxEdges)*10 {
		t.Fatalf("room r counts %d listeners, want the cap %d", l, MaxEdges*10)
	}
	// A known edge reports again: taken (its count changes).
	f.ingestLoad(LoadReport{Edge: "fake0", BaseURL: "http://127.0.0.1:1", Connections: 3, Rooms: []RoomLoad{{"r", 3}}})
	if l := f.Listeners("r"); l != int64(MaxEdges-1)*10+3 {
		t.Fatalf("after a known edge's report room r counts %d", l)
	}
	// A minute on, the edges that have not reported since are gone: a new one is taken.
	now = now.Add(time.Minute + time.Second)
	f.ingestLoad(LoadReport{Edge: "new", BaseURL: "http://127.0.0.1:2", Connections: 5, Rooms: []RoomLoad{{"r", 5}}})
	if n, r := f.Edges(), f.RefusedReports(); n != 1 || r != 100 {
		t.Fatalf("a minute on: %d edges, %d refused; want the new one alone and no new refusal", n, r)
	}
}
