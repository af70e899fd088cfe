package uring

import (
	"bytes"
	"errors"
	"io"
	"net"
	"syscall"
	"testing"
	"time"
)

// pairs returns n connected loopback TCP pairs: the server ends' descriptors
// and the client conns.
func pairs(t testing.TB, n int) (fds []int32, servers, clients []net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	for range n {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		s, err := ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		rc, err := s.(*net.TCPConn).SyscallConn()
		if err != nil {
			t.Fatal(err)
		}
		var fd int32
		_ = rc.Control(func(f uintptr) { fd = int32(f) })
		fds, servers, clients = append(fds, fd), append(servers, s), append(clients, c)
	}
	t.Cleanup(func() {
		for i := range servers {
			servers[i].Close()
			clients[i].Close()
		}
	})
	return fds, servers, clients
}

func newRing(t testing.TB, entries uint32) *Ring {
	t.Helper()
	r, err := New(entries)
	if errors.Is(err, ErrUnsupported) {
		t.Skipf("MAJLIS-SKIP: no io_uring on this kernel: %v (a kernel or container policy, not a tool scripts/deps installs; the fan-out falls back to write(2), whose tests run either way)", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

func TestSendDeliversEveryBuffer(t *testing.T) {
	const n = 37 // more than the ring's 8 entries: several batches
	r := newRing(t, 8)
	fds, _, clients := pairs(t, n)
	bufs := make([][]byte, n)
	for i := range bufs {
		bufs[i] = bytes.Repeat([]byte{byte(i)}, 100+i)
	}
	bufs[5] = nil // skipped
	res := make([]int32, n)
	for round := range 3 {
		if err := r.Send(fds, bufs, res); err != nil {
			t.Fatal(err)
		}
		for i, got := range res {
			if got != int32(len(bufs[i])) {
				t.Fatalf("round %d: res[%d] = %d, want %d", round, i, got, len(bufs[i]))
			}
		}
	}
	for i, c := range clients {
		want := bytes.Repeat(bufs[i], 3)
		got := make([]byte, len(want))
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.ReadFull(c, got); err != nil {
			t.Fatalf("client %d: %v", i, err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("client %d got other bytes", i)
		}
	}
}

func TestSendReportsFullAndBrokenSockets(t *testing.T) {
	r := newRing(t, 4)
	fds, servers, clients := pairs(t, 3)
	_ = servers[0].(*net.TCPConn).SetWriteBuffer(4096)
	big := make([]byte, 1<<20)
	// Socket 0's client never reads: its buffers fill, then EAGAIN, and
	// the send returns at once instead of waiting.
	res := make([]int32, 1)
	sent, full := 0, false
	for range 200 {
		if err := r.Send(fds[:1], [][]byte{big}, res); err != nil {
			t.Fatal(err)
		}
		if res[0] == -int32(syscall.EAGAIN) {
			full = true
			break
		}
		if res[0] <= 0 {
			t.Fatalf("send: %d", res[0])
		}
		sent += int(res[0])
	}
	if !full {
		t.Fatalf("no EAGAIN after %d bytes", sent)
	}
	// Socket 1's client is gone (reset): an error, not a hang or a signal.
	_ = clients[1].(*net.TCPConn).SetLinger(0)
	clients[1].Close()
	time.Sleep(50 * time.Millisecond)
	res = make([]int32, 2)
	var got int32
	for range 10 {
		if err := r.Send(fds[1:3], [][]byte{[]byte("x"), []byte("ok")}, res); err != nil {
			t.Fatal(err)
		}
		if got = res[0]; got < 0 {
			break
		}
	}
	if got != -int32(syscall.EPIPE) && got != -int32(syscall.ECONNRESET) {
		t.Fatalf("send to a reset peer: %d, want -EPIPE or -ECONNRESET", got)
	}
	if res[1] != 2 {
		t.Fatalf("healthy socket in the same batch: %d", res[1])
	}
	// A bad descriptor fails its own send only.
	if err := r.Send([]int32{-1, fds[2]}, [][]byte{[]byte("x"), []byte("y")}, res); err != nil {
		t.Fatal(err)
	}
	if res[0] != -int32(syscall.EBADF) || res[1] != 1 {
		t.Fatalf("bad fd batch: %v", res)
	}
}

func TestNewChecksEntries(t *testing.T) {
	for _, n := range []uint32{0, 3, 8192} {
		if _, err := New(n); err == nil || errors.Is(err, ErrUnsupported) {
			t.Fatalf("New(%d): %v, want an argument error", n, err)
		}
	}
}
