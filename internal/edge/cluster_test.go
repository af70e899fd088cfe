package edge

import (
	"bytes"
	"encoding/binary"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"majlis/internal/admission"
	"majlis/internal/cluster"
	"majlis/internal/program"
	"majlis/internal/room"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func frame(n uint64) []byte { return binary.BigEndian.AppendUint64([]byte{0xFC}, n) }

var silence = []byte{0xF8, 0xFF, 0xFE}

// origin is a stand-in origin on the cluster: a program of numbered frames
// written by the test, published by a real cluster.Publisher.
type origin struct {
	pub  *cluster.Publisher
	prog *program.Program
	mu   sync.Mutex
	live bool
}

func newOrigin(t *testing.T, c *cluster.Conn, room string) *origin {
	t.Helper()
	o := &origin{prog: program.New(program.Config{ChunkFrames: 2}), live: true}
	var err error
	o.pub, err = cluster.NewPublisher(c, func(id string) *program.Program {
		o.mu.Lock()
		defer o.mu.Unlock()
		if id == room && o.live {
			return o.prog
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// As a real origin does, it answers the edges' removals catch-up (none
	// here): an edge left unanswered asks again every second.
	if err := o.pub.ServeRemovals(noRemovals); err != nil {
		t.Fatal(err)
	}
	o.pub.Start(room)
	return o
}

// noRemovals is an origin's removals record with nothing in it.
func noRemovals(time.Time, int) ([]room.Removal, bool) { return nil, false }

// reader collects the frames of an edge program.
type reader struct {
	mu     sync.Mutex
	frames [][]byte
	closed chan struct{}
}

func read(p *program.Program) *reader {
	r := &reader{closed: make(chan struct{})}
	go func() {
		defer close(r.closed)
		var next uint64
		for {
			w := p.Wait()
			for ; next < p.Head(); next++ {
				if c := p.Chunk(next); c != nil {
					r.mu.Lock()
					r.frames = append(r.frames, c.Frames...)
					r.mu.Unlock()
				}
			}
			if p.Closed() {
				return
			}
			<-w
		}
	}()
	return r
}

func (r *reader) snapshot() [][]byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([][]byte(nil), r.frames...)
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 10 s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestEdgeOverCluster: an edge fed from the cluster writes the origin's
// frames into its program in order; it reports its listener and unique
// counts; when the origin stops (restart) it holds the room with silence
// and resumes with the new origin's frames; the room's end closes the
// edge's program.
func TestEdgeOverCluster(t *testing.T) {
	oc, ec := clusterPair(t)
	key := bytes.Repeat([]byte{1}, 32)
	signer, _ := admission.NewSigner(key, time.Minute)

	const room = "room1"
	o := newOrigin(t, oc, room)
	fleet, err := cluster.NewFleet(oc, o.pub.Epoch(), 0)
	if err != nil {
		t.Fatal(err)
	}
	defer fleet.Close()

	e, err := New(Config{Cluster: ec, PublicURL: "http://127.0.0.1:9", Tickets: signer, Logger: quiet, ReportEvery: 100 * time.Millisecond,
		Program: program.Config{ChunkFrames: 2}})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	e.Joined(room, 12345)
	p, release, err := e.Acquire(room)
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	r := read(p)
	time.Sleep(300 * time.Millisecond) // subscribed, and the origin's follower runs

	for i := range uint64(50) {
		if i >= 40 {
			o.prog.NoteLevel(0x0a0b0c0d, 70) // someone talks in the last chunks
		}
		o.prog.WriteFrame(frame(i))
		time.Sleep(2 * time.Millisecond)
	}
	waitFor(t, "50 frames on the edge", func() bool { return len(r.snapshot()) >= 50 })
	// The speaker levels came with the frames: the edge's chunk that
	// ends with frame 49 lists the talker, as the origin's did.
	var heard []program.Level
	for i := range p.Head() {
		c := p.Chunk(i)
		if c == nil {
			continue
		}
		lv, err := program.ParseLevels(c.LevelList())
		if err != nil {
			t.Fatal(err)
		}
		heard = append(heard, lv...)
	}
	if len(heard) == 0 || heard[len(heard)-1] != (program.Level{Speaker: 0x0a0b0c0d, Level: 70}) {
		t.Errorf("edge chunk levels %v, want the origin's talker at 70", heard)
	}
	got := r.snapshot()
	// The first frames may precede the subscription; from the first one
	// heard, every frame comes in order.
	first := binary.BigEndian.Uint64(got[0][1:])
	for i, f := range got {
		if !bytes.Equal(f, frame(first+uint64(i))) {
			t.Fatalf("edge frame %d: %x, want frame %d", i, f, first+uint64(i))
		}
	}
	waitFor(t, "the fleet counts the edge's listener", func() bool { return fleet.Listeners(room) == 1 && fleet.Unique(room) == 1 })
	if base, ok := fleet.EdgeFor(room); !ok || base != "http://127.0.0.1:9" {
		t.Fatalf("placement: %q %v", base, ok)
	}

	// The origin stops (a restart): the edge holds the room with silence.
	o.pub.Close()
	n := len(r.snapshot())
	waitFor(t, "silence while held", func() bool {
		s := r.snapshot()
		return len(s) >= n+10 && bytes.Equal(s[len(s)-1], silence)
	})
	// A new origin process: new epoch, frames numbered from 0 again.
	o2 := newOrigin(t, oc, room)
	defer o2.pub.Close()
	time.Sleep(100 * time.Millisecond)
	for i := range uint64(20) {
		o2.prog.WriteFrame(frame(1000 + i))
		time.Sleep(2 * time.Millisecond)
	}
	waitFor(t, "the new origin's frames", func() bool {
		for _, f := range r.snapshot()[n:] {
			if bytes.Equal(f, frame(1019)) {
				return true
			}
		}
		return false
	})

	// The room ends at the origin, its last chunk one frame long (as a
	// live room's ends: program.Finish, then End): the edge's program
	// closes, its listeners having heard every last frame.
	for i := range uint64(5) {
		o2.prog.WriteFrame(frame(1020 + i))
	}
	o2.mu.Lock()
	o2.live = false
	o2.mu.Unlock()
	o2.prog.Finish()
	o2.pub.End(room)
	select {
	case <-r.closed:
	case <-time.After(10 * time.Second):
		t.Fatal("edge program still open 10 s after the room ended")
	}
	if !p.Closed() {
		t.Fatal("program not closed")
	}
	if s := r.snapshot(); !bytes.Equal(s[len(s)-1], frame(1024)) || !bytes.Equal(s[len(s)-5], frame(1020)) {
		t.Fatalf("the edge's program ends with %x, want the origin's last frames 1020…1024", s[len(s)-5:])
	}
}

// TestEdgeRoomNotLive: a listener of a room the origin says is not live
// gets a program that ends at once.
func TestEdgeRoomNotLive(t *testing.T) {
	oc, err := cluster.Connect(cluster.Config{URL: cluster.Embedded, Listen: "127.0.0.1:0", Logger: quiet}, true)
	if err != nil {
		t.Fatal(err)
	}
	defer oc.Close()
	pub, err := cluster.NewPublisher(oc, func(string) *program.Program { return nil })
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	signer, _ := admission.NewSigner(bytes.Repeat([]byte{1}, 32), time.Minute)
	e, err := New(Config{Cluster: oc, PublicURL: "http://127.0.0.1:9", Tickets: signer, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	p, release, err := e.Acquire("gone")
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	r := read(p)
	select {
	case <-r.closed:
	case <-time.After(10 * time.Second):
		t.Fatal("program of a room not live still open after 10 s")
	}
}

// TestNewNeedsCluster: the cluster is an edge's only feed, so New refuses
// a config without one (as it refuses a bad public URL).
func TestNewNeedsCluster(t *testing.T) {
	signer, _ := admission.NewSigner(bytes.Repeat([]byte{1}, 32), time.Minute)
	if _, err := New(Config{PublicURL: "http://127.0.0.1:9", Tickets: signer, Logger: quiet}); err == nil {
		t.Fatal("an edge without a cluster was made")
	}
}

// TestEdgeDropsIdleRoom: a room's feed lives on while a listener comes
// back within IdleTimeout (the same program), and once the last one has
// been gone that long the edge drops it: the program ends and the edge's
// NATS connection receives none of the room's messages any more, though
// the origin goes on publishing.
func TestEdgeDropsIdleRoom(t *testing.T) {
	oc, ec := clusterPair(t)
	reg := prometheus.NewRegistry()
	if err := ec.Register(reg); err != nil {
		t.Fatal(err)
	}
	received := func() float64 {
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			if mf.GetName() == "majlis_cluster_messages_in_total" {
				return mf.GetMetric()[0].GetCounter().GetValue()
			}
		}
		t.Fatal("no majlis_cluster_messages_in_total")
		return 0
	}
	const room = "room1"
	o := newOrigin(t, oc, room)
	defer o.pub.Close()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // the origin's program goes on, listeners or not
		defer wg.Done()
		for i := uint64(0); ; i++ {
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
			o.prog.WriteFrame(frame(i))
		}
	}()
	defer func() { close(stop); wg.Wait() }()

	signer, _ := admission.NewSigner(bytes.Repeat([]byte{1}, 32), time.Minute)
	const idle = 300 * time.Millisecond
	e, err := New(Config{Cluster: ec, PublicURL: "http://127.0.0.1:9", Tickets: signer, Logger: quiet, IdleTimeout: idle,
		ReportEvery: time.Hour, Program: program.Config{ChunkFrames: 2}})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	p, release, err := e.Acquire(room)
	if err != nil {
		t.Fatal(err)
	}
	r := read(p)
	waitFor(t, "the room's frames on the edge", func() bool { return len(r.snapshot()) >= 10 })
	// The listener leaves and another comes within IdleTimeout: the same feed.
	release()
	time.Sleep(idle / 3)
	p2, release2, err := e.Acquire(room)
	if err != nil {
		t.Fatal(err)
	}
	if p2 != p || p.Closed() {
		t.Fatal("a listener back within IdleTimeout got a new program")
	}
	time.Sleep(idle)
	if e.Rooms() != 1 || p.Closed() {
		t.Fatal("the room was dropped while a listener held it")
	}
	release2()
	waitFor(t, "the idle room dropped", func() bool { return e.Rooms() == 0 && p.Closed() })
	select {
	case <-r.closed:
	case <-time.After(5 * time.Second):
		t.Fatal("the dropped room's program did not end")
	}
	time.Sleep(200 * time.Millisecond) // messages already on their way
	before := received()
	time.Sleep(time.Second)
	if got := received() - before; got > 0 {
		t.Fatalf("the edge received %v messages in the second after it dropped the room (the origin publishes about 100 a second)", got)
	}
	// While subscribed it did receive them: the check above can tell.
	p3, release3, err := e.Acquire(room)
	if err != nil {
		t.Fatal(err)
	}
	defer release3()
	r3 := read(p3)
	waitFor(t, "the room's frames again", func() bool { return len(r3.snapshot()) >= 10 })
	if got := received() - before; got < 5 {
		t.Fatalf("the edge's message count moved by %v while subscribed again", got)
	}
}
