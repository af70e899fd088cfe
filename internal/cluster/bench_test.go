package cluster

import (
	"testing"
	"time"

	"majlis/internal/program"
)

// BenchmarkProgramOverEmbedded: one program chunk (2 frames of 80 bytes,
// a 32 kbit/s room at 40 ms chunks) from an origin's follower through the
// embedded NATS server to one edge's feed, decoded. ns/op is the CPU and
// latency NATS adds per chunk per edge (both ends in this process).
func BenchmarkProgramOverEmbedded(b *testing.B) {
	o, err := Connect(Config{URL: Embedded, Listen: "127.0.0.1:0", Logger: quiet}, true)
	if err != nil {
		b.Fatal(err)
	}
	defer o.Close()
	e, err := Connect(Config{URL: o.ServerURL(), Logger: quiet}, false)
	if err != nil {
		b.Fatal(err)
	}
	defer e.Close()
	prog := program.New(program.Config{ChunkFrames: 2, RingChunks: 1024})
	pub, err := NewPublisher(o, func(string) *program.Program { return prog })
	if err != nil {
		b.Fatal(err)
	}
	defer pub.Close()
	feed, err := e.Follow("bench")
	if err != nil {
		b.Fatal(err)
	}
	defer feed.Close()
	e.Flush(time.Second)
	pub.Start("bench")
	time.Sleep(50 * time.Millisecond)
	pkt := make([]byte, 80)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		prog.WriteFrame(pkt)
		prog.WriteFrame(pkt)
		select {
		case <-feed.C:
		case <-time.After(5 * time.Second):
			b.Fatal("chunk lost")
		}
	}
}
