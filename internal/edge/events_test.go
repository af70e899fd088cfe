package edge

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"majlis/internal/admission"
	"majlis/internal/cluster"
	"majlis/internal/events"
	"majlis/internal/program"
	"majlis/internal/room"
)

// eventOrigin is a stand-in origin's room event stream, put on the
// cluster by a real cluster.Publisher (RoomEvent, ServeSnapshots).
type eventOrigin struct {
	mu     sync.Mutex
	stream *events.Stream
	off    bool // events are not put on the cluster (lost on the way)
	snaps  atomic.Int32
}

func (o *eventOrigin) restart(pub *cluster.Publisher, room string, start uint64) {
	s := events.NewStream(8, start)
	s.Tap(func(it events.Item, closed bool) {
		o.mu.Lock()
		off := o.off
		o.mu.Unlock()
		if !off {
			pub.RoomEvent(room, it, closed)
		}
	})
	o.mu.Lock()
	o.stream = s
	o.mu.Unlock()
}

func (o *eventOrigin) current() *events.Stream {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.stream
}

// next reads one batch from sub within 5 s.
func next(t *testing.T, sub *Subscription) ([]events.Item, bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	b, done, err := sub.Next(ctx)
	if err != nil {
		t.Fatalf("next: %v", err)
	}
	return b, done
}

// TestMirrorEvents: an edge's mirror of a room's event stream starts from
// the origin's snapshot, then gives its readers the origin's events with
// the origin's numbers and bytes; events lost on the way make the readers
// behind them take one new snapshot (one request to the origin for all of
// them); a restarted origin's stream (numbered higher) is followed the same
// way; the stream's end ends the readers; an unknown room and a silent
// origin are errors, not hangs; a mirror with no reader goes after
// IdleTimeout.
func TestMirrorEvents(t *testing.T) {
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
	const rm = "room1"
	pub, err := cluster.NewPublisher(oc, func(string) *program.Program { return nil })
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	o := &eventOrigin{}
	o.restart(pub, rm, 1000)
	err = pub.ServeSnapshots(func(_ context.Context, id string) (events.Item, bool, error) {
		if id != rm {
			return events.Item{}, false, room.ErrRoomNotFound
		}
		o.snaps.Add(1)
		s := o.current()
		seq := s.Seq()
		return events.Item{Seq: seq, Raw: fmt.Appendf(nil, `{"seq":%d,"type":"snapshot"}`, seq)}, s.Since(seq).Closed, nil
	}, func(err error) bool { return errors.Is(err, room.ErrRoomNotFound) })
	if err != nil {
		t.Fatal(err)
	}
	signer, _ := admission.NewSigner(bytes.Repeat([]byte{1}, 32), time.Minute)
	e, err := New(Config{Cluster: ec, PublicURL: "http://127.0.0.1:9", Tickets: signer, Logger: quiet, IdleTimeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()

	ctx := context.Background()
	var subs []*Subscription
	for range 10 {
		sub, err := e.Subscribe(ctx, rm, 0)
		if err != nil {
			t.Fatal(err)
		}
		subs = append(subs, sub)
		if b, _ := next(t, sub); len(b) != 1 || b[0].Seq != 1000 || !bytes.Contains(b[0].Raw, []byte("snapshot")) {
			t.Fatalf("first batch %+v, want the snapshot #1000", b)
		}
	}
	if n := o.snaps.Load(); n != 1 {
		t.Fatalf("%d snapshot requests for 10 readers, want 1", n)
	}
	for i := range 3 {
		o.current().Publish("x", i)
	}
	want := o.current().Since(1000).Events
	for _, sub := range subs {
		var got []events.Item
		for len(got) < 3 {
			b, _ := next(t, sub)
			got = append(got, b...)
		}
		for i := range want {
			if got[i].Seq != want[i].Seq || !bytes.Equal(got[i].Raw, want[i].Raw) {
				t.Fatalf("event %d: %d %s, want %d %s", i, got[i].Seq, got[i].Raw, want[i].Seq, want[i].Raw)
			}
		}
	}

	// Two events lost on the way, then one that arrives: every reader
	// lags, and all of them together cost the origin one more snapshot.
	o.mu.Lock()
	o.off = true
	o.mu.Unlock()
	o.current().Publish("lost", 1)
	o.current().Publish("lost", 2)
	o.mu.Lock()
	o.off = false
	o.mu.Unlock()
	o.current().Publish("y", nil) // #1006
	var wg sync.WaitGroup
	for i, sub := range subs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			defer cancel()
			b, _, err := sub.Next(ctx)
			if err != nil || len(b) != 1 || b[0].Seq != 1006 || !bytes.Contains(b[0].Raw, []byte("snapshot")) {
				t.Errorf("reader %d after the gap: %+v %v, want the snapshot #1006", i, b, err)
			}
		}()
	}
	wg.Wait()
	if n := o.snaps.Load(); n != 2 {
		t.Errorf("%d snapshot requests after the gap, want 2", n)
	}

	// The origin restarts: its new stream is numbered from later on.
	o.restart(pub, rm, 5000)
	o.current().Publish("z", nil) // #5001
	if b, _ := next(t, subs[0]); len(b) != 1 || b[0].Seq != 5001 || !bytes.Contains(b[0].Raw, []byte("snapshot")) {
		t.Fatalf("after the origin's restart: %+v, want the new origin's snapshot #5001", b)
	}
	o.current().Publish("w", nil) // #5002
	if b, _ := next(t, subs[0]); len(b) != 1 || b[0].Seq != 5002 || bytes.Contains(b[0].Raw, []byte("snapshot")) {
		t.Fatalf("then: %+v, want #5002", b)
	}
	// A cursor this room never reached starts with a snapshot.
	late, err := e.Subscribe(ctx, rm, 9999)
	if err != nil {
		t.Fatal(err)
	}
	// (the mirror's newest, #5001: its stream still holds #5002, which follows)
	if b, _ := next(t, late); len(b) != 1 || b[0].Seq != 5001 || !bytes.Contains(b[0].Raw, []byte("snapshot")) {
		t.Fatalf("a future cursor: %+v, want the snapshot #5001", b)
	}
	if b, _ := next(t, late); len(b) != 1 || b[0].Seq != 5002 {
		t.Fatalf("a future cursor, then: %+v, want #5002", b)
	}
	if n := o.snaps.Load(); n != 3 {
		t.Errorf("%d snapshot requests, want 3 (the first, the gap, the restart)", n)
	}
	late.Close()

	// The stream's end ends the readers.
	o.current().Close()
	for i, sub := range subs {
		for {
			b, done := next(t, sub)
			if done {
				break
			}
			if len(b) == 0 {
				t.Fatalf("reader %d: an empty batch before the end", i)
			}
		}
		sub.Close()
	}

	if _, err := e.Subscribe(ctx, "nope", 0); !errors.Is(err, ErrRoomNotFound) {
		t.Errorf("unknown room: %v, want ErrRoomNotFound", err)
	}
	pub.Close() // nobody answers snapshot requests any more
	start := time.Now()
	if _, err := e.Subscribe(ctx, "room2", 0); !errors.Is(err, ErrNoOrigin) {
		t.Errorf("silent origin: %v, want ErrNoOrigin", err)
	} else if d := time.Since(start); d > 3*snapshotTimeout {
		t.Errorf("silent origin answered after %v", d)
	}
	waitFor(t, "mirrors gone", func() bool { return e.Mirrors() == 0 })
}
