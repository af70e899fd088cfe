package edge

import (
	"bytes"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"majlis/internal/admission"
	"majlis/internal/cluster"
	"majlis/internal/program"
)

// TestEdgeRemovals: a listener removed at the origin (published on the
// room's events subject) has every stream of theirs in that room on the
// edge ended, another user's and their streams in other rooms kept, even in
// a room the edge relays nothing of; their tickets issued before the
// removal are refused, a later one (unblocked, joined again) is taken.
// The removals remembered are bounded (maxRemoved, oldest forgotten first)
// and forgotten a ticket lifetime after.
func TestEdgeRemovals(t *testing.T) {
	oc, err := cluster.Connect(cluster.Config{URL: cluster.Embedded, Listen: "127.0.0.1:0", Logger: quiet}, true)
	if err != nil {
		t.Fatal(err)
	}
	defer oc.Close()
	ec, err := cluster.Connect(cluster.Config{URL: oc.ServerURL(), Logger: quiet}, false)
	if err != nil {
		t.Fatal(err)
	}
	defer ec.Close()
	pub, err := cluster.NewPublisher(oc, func(string) *program.Program { return nil })
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	const ttl = time.Minute
	signer, _ := admission.NewSigner(bytes.Repeat([]byte{1}, 32), ttl)
	e, err := New(Config{Cluster: ec, PublicURL: "http://127.0.0.1:9", Tickets: signer, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	if err := ec.Flush(time.Second); err != nil { // the edge's subscription is on the server
		t.Fatal(err)
	}

	var tab1, tab2, other, otherRoom atomic.Int32
	left1 := e.Connected("r1", "u1", func() { tab1.Add(1) })
	left2 := e.Connected("r1", "u1", func() { tab2.Add(1) }) // a second tab
	leftO := e.Connected("r1", "u2", func() { other.Add(1) })
	leftR := e.Connected("r2", "u1", func() { otherRoom.Add(1) })
	e.Connected("r1", "", func() { t.Error("an anonymous stream was recorded") })()
	before := admission.Ticket{Room: "r1", User: "u1", Expires: time.Now().Add(ttl)}
	if e.Removed("r1", before) {
		t.Fatal("refused before any removal")
	}

	pub.ListenerRemoved("r1", "u1")
	pub.ListenerRemoved("r-idle", "u9") // a room with no relay here: remembered all the same
	oc.Flush(time.Second)
	waitFor(t, "both removals heard", func() bool { return e.removedCount() == 2 })
	if tab1.Load() != 1 || tab2.Load() != 1 || other.Load() != 0 || otherRoom.Load() != 0 {
		t.Fatalf("removal of u1 in r1 ran: tabs %d %d, u2 %d, u1 in r2 %d; want 1 1 0 0", tab1.Load(), tab2.Load(), other.Load(), otherRoom.Load())
	}
	for _, c := range []struct {
		room string
		t    admission.Ticket
		want bool
	}{
		{"r1", before, true},
		{"r1", admission.Ticket{Room: "r1", User: "u1", Expires: time.Now().Add(ttl + time.Second)}, false}, // issued after
		{"r1", admission.Ticket{Room: "r1", User: "u2", Expires: before.Expires}, false},
		{"r2", admission.Ticket{Room: "r2", User: "u1", Expires: before.Expires}, false},
		{"r1", admission.Ticket{Room: "r1", Expires: before.Expires}, false}, // anonymous
		{"r-idle", admission.Ticket{Room: "r-idle", User: "u9", Expires: before.Expires}, true},
	} {
		if got := e.Removed(c.room, c.t); got != c.want {
			t.Errorf("Removed(%s, %s) = %v, want %v", c.room, c.t.User, got, c.want)
		}
	}
	for _, l := range []func(){left1, left2, leftO, leftR, left1} { // a second call is harmless
		l()
	}
	e.aud.mu.Lock()
	streams := len(e.aud.streams)
	e.aud.mu.Unlock()
	if streams != 0 {
		t.Fatalf("%d users' streams still recorded after every stream ended", streams)
	}
	if s := ec.Stats(); s.Bad != 0 {
		t.Fatalf("%d bad messages", s.Bad)
	}

	// The bound and the expiry, on the edge's clock.
	now := time.Now()
	e.now = func() time.Time { return now }
	for i := range maxRemoved + 100 {
		e.removeListener("r3", fmt.Sprint("u", i))
	}
	if n := e.removedCount(); n != maxRemoved {
		t.Fatalf("%d removals remembered, want the cap %d", n, maxRemoved)
	}
	issued := admission.Ticket{Room: "r3", Expires: now.Add(ttl)}
	first, last := issued, issued
	first.User, last.User = "u0", fmt.Sprint("u", maxRemoved+99)
	if e.Removed("r3", first) || !e.Removed("r3", last) {
		t.Fatalf("past the cap: the oldest still refused %v, the newest %v; want false, true", e.Removed("r3", first), e.Removed("r3", last))
	}
	now = now.Add(ttl + removedSlack + time.Second)
	e.removeListener("r3", "u-late")
	if n := e.removedCount(); n != 1 {
		t.Fatalf("%d removals remembered a ticket lifetime later, want the new one only", n)
	}
	e.aud.mu.Lock()
	order := len(e.aud.order)
	e.aud.mu.Unlock()
	if order != 1 {
		t.Fatalf("%d removals in the expiry order, want 1", order)
	}
}
