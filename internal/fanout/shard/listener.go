package shard

import (
	"errors"
	"net"
	"syscall"
	"time"
	"unsafe"
)

// listener is one listener connection owned by a shard. It is kept small
// (one of these per listener is most of a listener's memory): the socket
// is a bare descriptor, taken out of the runtime's poller (see
// newListener), written to with raw non-blocking system calls.
type listener struct {
	fd   int32
	kind *Kind
	g    *group // the shard's group of the listener's program
	// in follows a talking client's input (WebSocket); nil otherwise.
	in       *wsInput
	nextRead int64  // unix ns: when to read the client's input next
	pos      uint64 // next chunk
	cur      []byte // bytes of the chunk being written, nil between chunks
	off      int32  // bytes of cur already written
	skips    int32
	watched  bool // the shard's epoll watches the input (input.go)
	ctl      bool // cur is a control frame (a pong), not a chunk
	// progress is when the listener last accepted bytes or caught up (unix ns).
	progress int64
	release  func()      // after fd is closed: ends the connection's count in the accept cap, if any
	ended    func(error) // called once when the listener ends
	stop     *Stop       // Handover.Stop; nil when the listener cannot be stopped
}

// detacher is a connection wrapper that can give up its connection while
// keeping what it accounts for until release runs (overload's capped conns).
type detacher interface {
	Detach() (inner net.Conn, release func())
}

// detachable reports whether newListener can take conn: a socket, or a
// detacher (whose inner connection is checked when it is detached).
func detachable(conn net.Conn) bool {
	switch conn.(type) {
	case detacher, syscall.Conn:
		return true
	}
	return false
}

// newListener takes conn (a hijacked socket) for a shard. The socket is
// duplicated and conn closed, which frees the runtime's state for it (its
// poller registration, netFD and finalizer: about 400 bytes per listener)
// and leaves the shard a plain non-blocking descriptor. A connection
// wrapper that counts against a cap (overload.Listener's) offers Detach: the
// count then ends when the shard closes the descriptor. It returns nil,
// leaving conn open, if conn has no descriptor to duplicate.
func newListener(conn net.Conn, kind *Kind, pos uint64, now time.Time, ended func(error)) *listener {
	inner, release := conn, func() {}
	if d, ok := conn.(detacher); ok {
		inner, release = d.Detach()
	}
	sc, ok := inner.(syscall.Conn)
	if !ok {
		release()
		return nil
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		release()
		return nil
	}
	fd, derr := -1, error(nil)
	if err := rc.Control(func(f uintptr) { fd, derr = dupCloexec(int(f)) }); err != nil || derr != nil {
		release()
		return nil
	}
	inner.Close() // the duplicate keeps the socket open
	return &listener{fd: int32(fd), kind: kind, pos: pos, progress: now.UnixNano(), release: release, ended: ended}
}

// dupCloexec duplicates fd with close-on-exec (and, like fd, non-blocking:
// the flag belongs to the shared open file).
func dupCloexec(fd int) (int, error) {
	nfd, _, e := syscall.Syscall(syscall.SYS_FCNTL, uintptr(fd), syscall.F_DUPFD_CLOEXEC, 0)
	if e != 0 {
		return -1, e
	}
	return int(nfd), nil
}

// finish writes l's Kind.Final bytes for err, if it is between chunks and
// they fit, and closes its socket.
func (l *listener) finish(err error) {
	if l.cur == nil && l.kind.Final != nil {
		if b := l.kind.Final(err); b != nil {
			_, _ = l.write(b)
		}
	}
	l.close()
}

// close closes the listener's socket and ends its count in the accept cap.
func (l *listener) close() {
	syscall.Close(int(l.fd))
	l.fd = -1
	l.release()
}

// errAgain means the socket buffer is full (write) or empty (read).
var errAgain = errors.New("socket buffer full")

// The socket is non-blocking (net sets O_NONBLOCK), so these calls return
// at once: they go straight to the kernel with RawSyscall, without the
// runtime's syscall bookkeeping or the poller's locks, which cost as much
// as the write itself at tens of thousands of writes a second. Only the
// shard uses and closes fd, so it cannot be reused under a call.

// write tries one non-blocking write of b.
func (l *listener) write(b []byte) (int, error) {
	return sysResult(l.writeRaw(b))
}

// writeRaw is one non-blocking write(2) of b, with the kernel's answer.
func (l *listener) writeRaw(b []byte) (uintptr, syscall.Errno) {
	if len(b) == 0 {
		return 0, 0
	}
	n, _, e := syscall.RawSyscall(syscall.SYS_WRITE, uintptr(l.fd), uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)))
	return n, e
}

// read tries one non-blocking read into b.
func (l *listener) read(b []byte) (int, error) {
	n, _, e := syscall.RawSyscall(syscall.SYS_READ, uintptr(l.fd), uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)))
	return sysResult(n, e)
}

func sysResult(n uintptr, e syscall.Errno) (int, error) {
	switch e {
	case 0:
		return int(n), nil
	case syscall.EAGAIN:
		return 0, errAgain
	case syscall.EINTR:
		return 0, errAgain // try again next round
	}
	return 0, e
}

// gone reports whether the client closed its end (or reset it): a
// non-blocking peek reads EOF or an error. Bytes the client sent are
// left alone.
func (l *listener) gone() bool {
	var buf [1]byte
	n, _, rerr := syscall.Recvfrom(int(l.fd), buf[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
	return (rerr == nil && n == 0) || (rerr != nil && rerr != syscall.EAGAIN && rerr != syscall.EINTR)
}
