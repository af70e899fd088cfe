package cluster

import (
	"fmt"
	"syscall"
	"testing"
	"time"

	"majlis/internal/program"
)

// BenchmarkProgramOverEmbedded: one program chunk (2 frames of 80 bytes,
// a 32 kbit/s room at 40 ms chunks) from an origin's follower through the
// embedded NATS server to each of E edges' feeds, decoded. cpu-µs/chunk is
// the process CPU (origin client, server and edge clients, all in this
// process) per chunk; a room at 40 ms chunks sends 25 chunks a second.
func BenchmarkProgramOverEmbedded(b *testing.B) {
	for _, edges := range []int{1, 4} {
		b.Run(fmt.Sprintf("edges=%d", edges), func(b *testing.B) { benchProgram(b, edges) })
	}
}

func benchProgram(b *testing.B, edges int) {
	o, err := Connect(Config{URL: Embedded, Listen: "127.0.0.1:0", Logger: quiet}, true)
	if err != nil {
		b.Fatal(err)
	}
	defer o.Close()
	prog := program.New(program.Config{ChunkFrames: 2, RingChunks: 1024})
	pub, err := NewPublisher(o, func(string) *program.Program { return prog })
	if err != nil {
		b.Fatal(err)
	}
	defer pub.Close()
	var feeds []*Feed
	for range edges {
		e, err := Connect(Config{URL: o.ServerURL(), Logger: quiet}, false)
		if err != nil {
			b.Fatal(err)
		}
		defer e.Close()
		feed, err := e.Follow("bench")
		if err != nil {
			b.Fatal(err)
		}
		defer feed.Close()
		e.Flush(time.Second)
		feeds = append(feeds, feed)
	}
	pub.Start("bench")
	time.Sleep(50 * time.Millisecond)
	pkt := make([]byte, 80)
	b.ReportAllocs()
	cpu0 := cpuTime()
	b.ResetTimer()
	for range b.N {
		prog.WriteFrame(pkt)
		prog.WriteFrame(pkt)
		for _, f := range feeds {
			select {
			case <-f.C:
			case <-time.After(5 * time.Second):
				b.Fatal("chunk lost")
			}
		}
	}
	b.StopTimer()
	b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64(b.N), "cpu-µs/chunk")
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
