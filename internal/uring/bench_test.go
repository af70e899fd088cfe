package uring

import (
	"io"
	"runtime"
	"syscall"
	"testing"
	"time"
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
	fds := drainedPairs(b, benchSockets)
	chunk := make([]byte, 800)
	bufs, res := sameChunk(chunk, len(fds))
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

// drainedPairs connects n loopback pairs whose client ends are read to the
// end by a goroutine each, and returns the server ends' descriptors.
func drainedPairs(b *testing.B, n int) []int32 {
	fds, _, clients := pairs(b, n)
	for _, c := range clients {
		go func() { _, _ = io.Copy(io.Discard, c) }()
	}
	return fds
}

// sameChunk returns n references to chunk and room for n send results.
func sameChunk(chunk []byte, n int) (bufs [][]byte, res []int32) {
	bufs = make([][]byte, n)
	for i := range bufs {
		bufs[i] = chunk
	}
	return bufs, make([]int32, n)
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

// BenchmarkSendPaced is the floor of a fan-out server on this machine, in
// the unit of its targets: a thread that does nothing but send each of
// 8,000 loopback sockets one chunk per chunk interval (800 bytes every
// 200 ms, or 4,000 bytes every second: a 32 kbit/s program), through
// io_uring batches of 128 as the shards do. Receivers "quiet" are the
// cheapest there can be: sockets no epoll watches (so an arrival wakes
// nobody), drained once a second by one goroutine. Receivers "netpoll" are
// Go connections read by a goroutine each, woken through the runtime's
// epoll as the load generator's are through its own. One b.N is one chunk
// interval, so run it with -benchtime 10x. cpu-µs/listener·s is the sending thread's
// CPU per listener-second; on loopback it includes the receivers' TCP
// input and their ACKs, which the kernel runs in the sender's context, as
// it does for the server under the load generator.
func BenchmarkSendPaced(b *testing.B) {
	for _, tc := range []struct {
		name  string
		every time.Duration
		size  int
	}{{"200ms", 200 * time.Millisecond, 800}, {"1s", time.Second, 4000}} {
		for _, receivers := range []string{"quiet", "netpoll"} {
			b.Run(tc.name+"/"+receivers, func(b *testing.B) {
				sendPaced(b, receivers == "netpoll", tc.every, tc.size)
			})
		}
	}
}

func sendPaced(b *testing.B, netpoll bool, every time.Duration, size int) {
	const sockets = 8000 // two descriptors each, under the 20,000 limit
	var fds []int32
	if netpoll {
		fds = drainedPairs(b, sockets)
	} else {
		var clients []int
		fds, clients = rawPairs(b, sockets)
		stop := make(chan struct{})
		drained := make(chan struct{})
		go func() {
			defer close(drained)
			buf := make([]byte, 64<<10)
			for {
				for _, c := range clients {
					for {
						if n, err := syscall.Read(c, buf); n <= 0 || err != nil {
							break
						}
					}
				}
				select {
				case <-stop:
					return
				case <-time.After(time.Second):
				}
			}
		}()
		defer func() { close(stop); <-drained }()
	}
	chunk := make([]byte, size)
	bufs, res := sameChunk(chunk, len(fds))
	r := newRing(b, 128)
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var cpu int64
	b.ResetTimer()
	start := time.Now()
	for round := range b.N {
		t0 := threadCPU()
		if err := r.Send(fds, bufs, res); err != nil {
			b.Fatal(err)
		}
		cpu += threadCPU() - t0
		for i, n := range res {
			if n != int32(len(chunk)) {
				b.Fatalf("send %d: %d", i, n)
			}
		}
		time.Sleep(time.Until(start.Add(time.Duration(round+1) * every)))
	}
	b.StopTimer()
	listenerSeconds := float64(sockets) * float64(b.N) * every.Seconds()
	b.ReportMetric(float64(cpu)/1e3/listenerSeconds, "cpu-µs/listener·s")
}

// rawPairs connects n loopback TCP pairs with plain system calls, so no
// epoll instance (such as the Go runtime's poller) watches either end. It
// returns the accepting ends (non-blocking, TCP_NODELAY, as the server's
// listeners are) and the connecting ends (non-blocking).
func rawPairs(b *testing.B, n int) (servers []int32, clients []int) {
	b.Helper()
	check := func(err error) {
		if err != nil {
			b.Helper()
			b.Fatal(err)
		}
	}
	socket := func() int {
		fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
		check(err)
		return fd
	}
	ln := socket()
	defer syscall.Close(ln)
	check(syscall.Bind(ln, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}))
	check(syscall.Listen(ln, 128))
	sa, err := syscall.Getsockname(ln)
	check(err)
	b.Cleanup(func() {
		for _, fd := range servers {
			syscall.Close(int(fd))
		}
		for _, fd := range clients {
			syscall.Close(fd)
		}
	})
	for range n {
		c := socket()
		clients = append(clients, c)
		check(syscall.Connect(c, sa))
		s, _, err := syscall.Accept4(ln, syscall.SOCK_CLOEXEC|syscall.SOCK_NONBLOCK)
		check(err)
		servers = append(servers, int32(s))
		check(syscall.SetsockoptInt(s, syscall.IPPROTO_TCP, syscall.TCP_NODELAY, 1))
		check(syscall.SetNonblock(c, true))
	}
	return servers, clients
}
