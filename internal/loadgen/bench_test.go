//go:build linux

package loadgen

import (
	"bufio"
	"context"
	"io"
	"net"
	"runtime"
	"sync"
	"syscall"
	"testing"
	"time"

	"majlis/internal/program"
)

// Benchmark shape: benchListeners loopback TCP listeners, one ~750-byte
// chunk (one Ogg page of ten 70-byte packets in one HTTP chunk) written to
// each per round, benchRound apart so every chunk arrives on its own as
// at stream rate. Run with a fixed count, e.g.
//
//	go test -run XXX -bench Receive -benchtime 100000x ./internal/loadgen/
//
// (b.N is listener·chunks: 100000x is 50 rounds). The metrics are CPU
// time per listener·chunk of the whole process (cpu-ns/chunk) and without
// the writer's thread (rx-ns/chunk: what the receive path costs), and the
// heap and stack per listener of the receive path (B/listener).
const (
	benchListeners = 2000
	benchRound     = 40 * time.Millisecond
	rusageThread   = 1 // RUSAGE_THREAD
)

func BenchmarkReceive(b *testing.B) {
	for _, path := range []string{"blocking", "loop"} {
		b.Run(path, func(b *testing.B) { benchReceive(b, path) })
	}
}

func cpuTime(who int) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(who, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func heapAndStack() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse + ms.StackInuse
}

// benchChunks returns the Ogg headers and 250 chunks of ten 70-byte
// packets (32 kbit/s, 200 ms), each one Ogg page in one HTTP chunk.
func benchChunks() (head []byte, chunks [][]byte) {
	p := program.New(program.Config{Serial: 1, ChunkFrames: 10, RingChunks: 300})
	pkt := make([]byte, 70)
	pkt[0] = 0xF8
	for p.Head() < 250 {
		p.WriteFrame(pkt)
	}
	for i := range uint64(250) {
		chunks = append(chunks, p.Chunk(i).OggHTTP)
	}
	return p.OggHeadersHTTP(), chunks
}

func benchReceive(b *testing.B, path string) {
	head, chunks := benchChunks()
	n := benchListeners
	rounds := max(1, b.N/n)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	clients := make([]net.Conn, n)
	servers := make([]net.Conn, n)
	for i := range n {
		if clients[i], err = net.Dial("tcp", ln.Addr().String()); err != nil {
			b.Fatal(err)
		}
		if servers[i], err = ln.Accept(); err != nil {
			b.Fatal(err)
		}
	}
	defer func() {
		for i := range n {
			servers[i].Close()
			clients[i].Close()
		}
	}()

	mem0 := heapAndStack()
	results := make([]Result, n)
	var wg sync.WaitGroup
	wg.Add(n)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	now := time.Now()
	switch path {
	case "blocking":
		for i, c := range clients {
			go func() {
				defer wg.Done()
				v := NewVerifier(now, 0)
				err := oldReadOgg(bufio.NewReaderSize(c, oldReadBufSize), v, time.Now)
				results[i] = v.Finish(time.Now())
				if err != nil {
					results[i].Err = err.Error()
				}
			}()
		}
	case "loop":
		rcv, err := newReceiver(ctx, now.Add(time.Hour))
		if err != nil {
			b.Fatal(err)
		}
		defer func() { cancel(); rcv.wait() }()
		for i, c := range clients {
			s := newStream("ogg", "", now, 0, &results[i], wg.Done)
			s.ogg.chunked = true
			rcv.add(c, s)
		}
	}
	for _, s := range servers {
		if _, err := s.Write(head); err != nil {
			b.Fatal(err)
		}
	}
	time.Sleep(100 * time.Millisecond)
	perListener := float64(int64(heapAndStack())-int64(mem0)) / float64(n)

	// The writer runs on its own thread so its CPU time can be taken out.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	b.ResetTimer()
	cpu0, w0 := cpuTime(syscall.RUSAGE_SELF), cpuTime(rusageThread)
	next := time.Now()
	for r := range rounds {
		for _, s := range servers {
			if _, err := s.Write(chunks[r%len(chunks)]); err != nil {
				b.Fatal(err)
			}
		}
		next = next.Add(benchRound)
		time.Sleep(time.Until(next))
	}
	for _, s := range servers {
		if _, err := s.Write([]byte("0\r\n\r\n")); err != nil {
			b.Fatal(err)
		}
	}
	wg.Wait()
	cpu1, w1 := cpuTime(syscall.RUSAGE_SELF), cpuTime(rusageThread)
	b.StopTimer()

	total := float64(rounds * n)
	b.ReportMetric(float64(cpu1-cpu0)/total, "cpu-ns/chunk")
	b.ReportMetric(float64((cpu1-cpu0)-(w1-w0))/total, "rx-ns/chunk")
	b.ReportMetric(perListener, "B/listener")
	want := float64(rounds*10) * 0.02
	for i, r := range results {
		if r.Media < want-1e-9 || r.Media > want+1e-9 || r.Gaps != 0 {
			b.Fatalf("listener %d: %+v, want %.2f s of audio", i, r, want)
		}
	}
}

// chunkReader returns one chunk per Read, as a socket read at stream rate
// does, n chunks in all, then the last chunk of the body.
type chunkReader struct {
	chunks [][]byte
	i, n   int
	end    bool
}

func (r *chunkReader) Read(p []byte) (int, error) {
	if r.i == r.n {
		if r.end {
			return 0, io.EOF
		}
		r.end = true
		return copy(p, "0\r\n\r\n"), nil
	}
	m := copy(p, r.chunks[r.i%len(r.chunks)])
	r.i++
	return m, nil
}

// BenchmarkParse is the user-space part of receiving one chunk (ns/op per
// chunk): parsing and verifying, after the bytes are in memory (a copy
// stands for the read). blocking: bufio + net/http's chunked reader +
// page reads; loop: the incremental parser.
func BenchmarkParse(b *testing.B) {
	head, chunks := benchChunks()
	b.Run("blocking", func(b *testing.B) {
		v := NewVerifier(time.Now(), 0)
		br := bufio.NewReaderSize(&chunkReader{chunks: append([][]byte{head}, chunks...), n: b.N + 1}, oldReadBufSize)
		b.ReportAllocs()
		b.ResetTimer()
		if err := oldReadOgg(br, v, time.Now); err != io.EOF {
			b.Fatal(err)
		}
	})
	b.Run("loop", func(b *testing.B) {
		var r Result
		s := newStream("ogg", "", time.Now(), 0, &r, func() {})
		s.ogg.chunked = true
		if err := s.feed(head, time.Now(), nil); err != nil {
			b.Fatal(err)
		}
		buf := make([]byte, loopBufSize)
		b.ReportAllocs()
		b.ResetTimer()
		for i := range b.N {
			n := copy(buf, chunks[i%len(chunks)])
			if err := s.feed(buf[:n], time.Now(), nil); err != nil {
				b.Fatal(err)
			}
		}
	})
}
