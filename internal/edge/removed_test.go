package edge

import (
	"bytes"
	"fmt"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"majlis/internal/admission"
	"majlis/internal/cluster"
	"majlis/internal/program"
	"majlis/internal/room"
)

// removalsPair is an origin's and an edge's connection to one embedded
// NATS server, with the origin's publisher (no programs): what the removal
// tests start from.
func removalsPair(t *testing.T) (oc, ec *cluster.Conn, pub *cluster.Publisher) {
	t.Helper()
	oc, ec = clusterPair(t)
	pub, err := cluster.NewPublisher(oc, func(string) *program.Program { return nil })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pub.Close)
	return oc, ec, pub
}

// TestEdgeRemovals: a listener removed at the origin (published on the
// room's events subject) has every stream of theirs in that room on the
// edge ended, another user's and their streams in other rooms kept, even in
// a room the edge relays nothing of; their tickets issued before the
// removal are refused, a later one (unblocked, joined again) is taken.
// The removals remembered are bounded (maxRemoved, oldest forgotten first)
// and forgotten a ticket lifetime after.
func TestEdgeRemovals(t *testing.T) {
	oc, ec, pub := removalsPair(t)
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
	before := admission.Ticket{Room: "r1", User: "u1", Expires: time.Now().Add(ttl)}
	as := func(user string) admission.Ticket { return admission.Ticket{User: user, Expires: before.Expires} }
	left1 := e.Connected("r1", before, func() { tab1.Add(1) })
	left2 := e.Connected("r1", before, func() { tab2.Add(1) }) // a second tab
	leftO := e.Connected("r1", as("u2"), func() { other.Add(1) })
	leftR := e.Connected("r2", before, func() { otherRoom.Add(1) })
	e.Connected("r1", as(""), func() { t.Error("an anonymous stream was recorded") })()
	if e.Removed("r1", before) {
		t.Fatal("refused before any removal")
	}

	removed := time.Now()
	pub.ListenerRemoved("r1", "u1", removed)
	pub.ListenerRemoved("r-idle", "u9", removed) // a room with no relay here: remembered all the same
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
		{"r1", admission.Ticket{Room: "r1", User: "u1", Expires: removed.Add(ttl + time.Second)}, false}, // issued after
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
		e.removeListener("r3", fmt.Sprint("u", i), now)
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
	e.removeListener("r3", "u-late", now)
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

// TestEdgeRemovalClock: an edge judges "issued before the removal" on the
// origin's clock (the removal's time in the event, the ticket's issue
// time), not its own: with its clock 10 s ahead or behind, it still refuses
// a ticket issued 5 s before the removal and takes one issued 5 s after,
// and ends only the streams of tickets issued before. A removal it has
// already (heard again in a catch-up) changes nothing; a later one of the
// same user (blocked again) does.
func TestEdgeRemovalClock(t *testing.T) {
	oc, ec, pub := removalsPair(t)
	const ttl = time.Minute
	signer, _ := admission.NewSigner(bytes.Repeat([]byte{1}, 32), ttl)
	for _, skew := range []time.Duration{10 * time.Second, -10 * time.Second} {
		e, err := New(Config{Cluster: ec, PublicURL: "http://127.0.0.1:9", Tickets: signer, Logger: quiet})
		if err != nil {
			t.Fatal(err)
		}
		e.now = func() time.Time { return time.Now().Add(skew) }
		if err := ec.Flush(time.Second); err != nil {
			t.Fatal(err)
		}
		user := fmt.Sprint("u-skew", skew)
		at := time.Now().Truncate(time.Second) // the origin's clock
		old := admission.Ticket{Room: "r1", User: user, Expires: at.Add(-5 * time.Second).Add(ttl)}
		fresh := admission.Ticket{Room: "r1", User: user, Expires: at.Add(5 * time.Second).Add(ttl)}
		var oldEnded, freshEnded atomic.Int32
		defer e.Connected("r1", old, func() { oldEnded.Add(1) })()
		defer e.Connected("r1", fresh, func() { freshEnded.Add(1) })()
		pub.ListenerRemoved("r1", user, at)
		oc.Flush(time.Second)
		waitFor(t, "the removal heard", func() bool { return e.removedCount() == 1 })
		if !e.Removed("r1", old) || e.Removed("r1", fresh) {
			t.Errorf("edge clock %v: the ticket issued 5 s before the removal refused %v, 5 s after %v; want true, false", skew, e.Removed("r1", old), e.Removed("r1", fresh))
		}
		if oldEnded.Load() != 1 || freshEnded.Load() != 0 {
			t.Errorf("edge clock %v: streams ended: old ticket's %d, fresh one's %d; want 1, 0", skew, oldEnded.Load(), freshEnded.Load())
		}
		if e.removeListener("r1", user, at) || oldEnded.Load() != 1 {
			t.Errorf("edge clock %v: the same removal again was applied", skew)
		}
		if !e.removeListener("r1", user, at.Add(10*time.Second)) || freshEnded.Load() != 1 || !e.Removed("r1", fresh) {
			t.Errorf("edge clock %v: a later removal did not end the stream of the ticket issued before it", skew)
		}
		e.Close()
	}
}

// TestEdgeCatchUp: an edge asks the origin for the removals it missed (at
// start, and after a reconnect: resyncRemovals), page by page, and applies
// each one it does not have: a suspension (no room) ends the user's
// streams of tickets issued before it in every room and refuses those
// tickets in any room; a block ends the streams in its room only. One it
// heard already changes nothing.
func TestEdgeCatchUp(t *testing.T) {
	_, ec, pub := removalsPair(t)
	var mu sync.Mutex
	var origin []room.Removal // what the origin remembers, oldest first
	asked := 0
	if err := pub.ServeRemovals(func(since time.Time, limit int) ([]room.Removal, bool) {
		mu.Lock()
		defer mu.Unlock()
		asked++
		i := sort.Search(len(origin), func(i int) bool { return origin[i].At.After(since) })
		rest := origin[i:]
		if len(rest) > limit {
			return slices.Clone(rest[:limit]), true
		}
		return slices.Clone(rest), false
	}); err != nil {
		t.Fatal(err)
	}
	const ttl = time.Minute
	signer, _ := admission.NewSigner(bytes.Repeat([]byte{1}, 32), ttl)
	e, err := New(Config{Cluster: ec, PublicURL: "http://127.0.0.1:9", Tickets: signer, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	waitFor(t, "the catch-up at start", func() bool { mu.Lock(); defer mu.Unlock(); return asked == 1 })

	at := time.Now().Truncate(time.Second)
	old := admission.Ticket{User: "u-amal", Expires: at.Add(-time.Second).Add(ttl)}
	fresh := admission.Ticket{User: "u-amal", Expires: at.Add(time.Second).Add(ttl)}
	var r1, r2, r2fresh, badr atomic.Int32
	defer e.Connected("r1", old, func() { r1.Add(1) })()
	defer e.Connected("r2", old, func() { r2.Add(1) })()
	defer e.Connected("r2", fresh, func() { r2fresh.Add(1) })()
	defer e.Connected("r1", admission.Ticket{User: "u-badr", Expires: old.Expires}, func() { badr.Add(1) })()
	mu.Lock()
	for i := range 2500 { // three pages
		origin = append(origin, room.Removal{Room: "r9", User: fmt.Sprint("u", i), At: at.Add(time.Duration(i-3000) * time.Millisecond)})
	}
	origin = append(origin, room.Removal{User: "u-amal", At: at}, room.Removal{Room: "r1", User: "u-badr", At: at.Add(time.Millisecond)})
	mu.Unlock()
	e.resyncRemovals() // as a reconnect does
	waitFor(t, "the removals caught up", func() bool { return e.removedCount() == 2502 })
	if r1.Load() != 1 || r2.Load() != 1 || r2fresh.Load() != 0 || badr.Load() != 1 {
		t.Fatalf("streams ended: amal's old ticket in r1 %d, in r2 %d, her fresh one %d, badr's %d; want 1 1 0 1", r1.Load(), r2.Load(), r2fresh.Load(), badr.Load())
	}
	for _, c := range []struct {
		room string
		t    admission.Ticket
		want bool
	}{
		{"r1", old, true}, {"r-any", old, true}, {"r1", fresh, false},
		{"r1", admission.Ticket{User: "u-badr", Expires: old.Expires}, true},
		{"r2", admission.Ticket{User: "u-badr", Expires: old.Expires}, false},
		{"r9", admission.Ticket{User: "u2499", Expires: old.Expires.Add(-5 * time.Second)}, true},
	} {
		if got := e.Removed(c.room, c.t); got != c.want {
			t.Errorf("Removed(%s, %s issued %v) = %v, want %v", c.room, c.t.User, signer.Issued(c.t), got, c.want)
		}
	}
	mu.Lock()
	pages := asked
	mu.Unlock()
	if pages != 1+3 {
		t.Errorf("the origin was asked %d times, want 1 at start and 3 pages", pages)
	}
	e.resyncRemovals() // again: nothing new
	waitFor(t, "the second catch-up", func() bool { mu.Lock(); defer mu.Unlock(); return asked == 1+3+3 })
	if r1.Load() != 1 || r2.Load() != 1 || badr.Load() != 1 || e.removedCount() != 2502 {
		t.Fatalf("a catch-up of removals the edge had changed something")
	}
	if s := ec.Stats(); s.Bad != 0 {
		t.Fatalf("%d bad messages", s.Bad)
	}
}
