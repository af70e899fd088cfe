package uring

import (
	"io"
	"runtime"
	"syscall"
	"testing"
	"unsafe"
)

// The cost of sending one 800-byte chunk (a 200 ms Ogg page at 32 kbit/s)
// to each of many loopback sockets, by write(2) per socket and by io_uring
// batches. The sending goroutine is locked to its thread and the thread's
// CPU time is reported per send (cpu-ns/send): on loopback that includes
// the receiver's TCP input, which the kernel runs in the sender's context.
// Receivers drain on their own goroutines.

const benchSockets = 2000

func benchSend(b *testing.B, send func(fds []int32, bufs [][]byte, res []int32)) {
	fds, _, clients := pairs(b, benchSockets)
	for _, c := range clients {
		go func() { _, _ = io.Copy(io.Discard, c) }()
	}
	chunk := make([]byte, 800)
	bufs := make([][]byte, len(fds))
	for i := range bufs {
		bufs[i] = chunk
	}
	res := make([]int32, len(fds))
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	start := threadCPU()
	b.ResetTimer()
	for range b.N {
		send(fds, bufs, res)
		for i, n := range res {
			if n != int32(len(chunk)) && n != -int32(syscall.EAGAIN) {
				b.Fatalf("send %d: %d", i, n)
			}
		}
	}
	b.StopTimer()
	sends := float64(b.N) * float64(len(fds))
	b.ReportMetric(float64(threadCPU()-start)/sends, "cpu-ns/send")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/sends, "ns/send")
}

func threadCPU() int64 {
	var ru syscall.Rusage
	_ = syscall.Getrusage(1 /* RUSAGE_THREAD */, &ru)
	return ru.Utime.Nano() + ru.Stime.Nano()
}

func BenchmarkSendWrite(b *testing.B) {
	benchSend(b, func(fds []int32, bufs [][]byte, res []int32) {
		for i, fd := range fds {
			n, _, e := syscall.RawSyscall(syscall.SYS_WRITE, uintptr(fd), uintptr(unsafe.Pointer(&bufs[i][0])), uintptr(len(bufs[i])))
			res[i] = int32(n)
			if e != 0 {
				res[i] = -int32(e)
			}
		}
	})
}

func BenchmarkSendUring(b *testing.B) {
	for _, entries := range []uint32{64, 256} {
		b.Run(map[uint32]string{64: "batch64", 256: "batch256"}[entries], func(b *testing.B) {
			r := newRing(b, entries)
			benchSend(b, func(fds []int32, bufs [][]byte, res []int32) {
				if err := r.Send(fds, bufs, res); err != nil {
					b.Fatal(err)
				}
			})
		})
	}
}
