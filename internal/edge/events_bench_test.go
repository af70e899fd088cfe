package edge

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"majlis/internal/admission"
	"majlis/internal/cluster"
	"majlis/internal/events"
	"majlis/internal/program"
)

// BenchmarkMirrorEvent: one room event (a 120-byte counts event) from the
// origin's stream through the embedded NATS server to E edges' mirrors, and
// read there by R readers each (the readers of an events path). One NATS
// message per edge, whatever R: cpu-µs/event is the process CPU (origin,
// server, edges and readers, all in this process) per event until every
// reader has it.
func BenchmarkMirrorEvent(b *testing.B) {
	for _, c := range []struct{ edges, readers int }{{1, 1}, {1, 1000}, {4, 250}} {
		b.Run(fmt.Sprintf("edges=%d/readers=%d", c.edges, c.readers), func(b *testing.B) { benchMirror(b, c.edges, c.readers) })
	}
}

func benchMirror(b *testing.B, edges, readers int) {
	oc, err := cluster.Connect(cluster.Config{URL: cluster.Embedded, Listen: "127.0.0.1:0", Logger: quiet}, true)
	if err != nil {
		b.Fatal(err)
	}
	defer oc.Close()
	pub, err := cluster.NewPublisher(oc, func(string) *program.Program { return nil })
	if err != nil {
		b.Fatal(err)
	}
	defer pub.Close()
	src := events.NewStream(0, 1000)
	src.Tap(func(it events.Item, closed bool) { pub.RoomEvent("bench", it, closed) })
	if err := pub.ServeSnapshots(func(context.Context, string) (events.Item, bool, error) {
		seq := src.Seq()
		return events.Item{Seq: seq, Raw: fmt.Appendf(nil, `{"seq":%d,"type":"snapshot"}`, seq)}, false, nil
	}, func(error) bool { return false }); err != nil {
		b.Fatal(err)
	}
	signer, _ := admission.NewSigner(bytes.Repeat([]byte{1}, 32), time.Minute)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var left atomic.Int64 // reads of the current event still to come
	all := make(chan struct{}, 1)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	for range edges {
		ec, err := cluster.Connect(cluster.Config{URL: oc.ServerURL(), Logger: quiet}, false)
		if err != nil {
			b.Fatal(err)
		}
		defer ec.Close()
		e, err := New(Config{Cluster: ec, PublicURL: "http://127.0.0.1:9", Tickets: signer, Logger: quiet})
		if err != nil {
			b.Fatal(err)
		}
		defer e.Close()
		for range readers {
			sub, err := e.Subscribe(ctx, "bench", 0)
			if err != nil {
				b.Fatal(err)
			}
			if _, _, err := sub.Next(ctx); err != nil { // the snapshot
				b.Fatal(err)
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer sub.Close()
				for {
					batch, done, err := sub.Next(ctx)
					if err != nil || done {
						return
					}
					if left.Add(-int64(len(batch))) == 0 {
						all <- struct{}{}
					}
				}
			}()
		}
		ec.Flush(time.Second)
	}
	data := map[string]int{"listeners": 123456, "peak": 234567, "unique": 345678}
	want := int64(edges * readers)
	b.ReportAllocs()
	cpu0 := cpuTime()
	b.ResetTimer()
	for i := range b.N {
		left.Store(want)
		src.Publish("counts", data)
		select {
		case <-all:
		case <-time.After(5 * time.Second):
			b.Fatalf("event %d: %d of %d reads missing", i, left.Load(), want)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64(b.N), "cpu-µs/event")
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
