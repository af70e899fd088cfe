//go:build linux

package loadgen

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"
)

// Receive loops: once a listener's response head has come, its socket
// leaves the Go runtime and joins one of a few epoll loops (at most
// maxLoops per process, each one epoll descriptor and one goroutine). A
// loop reads each ready socket into its one shared buffer and feeds the
// bytes to the listener's incremental parser, so a listener costs one
// read(2) per arrival and a few hundred bytes of state, not a goroutine
// with a 4 KB buffer.
const (
	maxLoops    = 4
	loopBufSize = 64 << 10
	loopEvents  = 256 // readiness events taken per epoll_wait
	loopPollMS  = 100 // how often an idle loop looks at the run's end, in ms
	// loopPause is how long a loop waits after serving some arrivals, so
	// that the next epoll_wait returns many at once: a loop wakes at most
	// about 1/loopPause times a second however many listeners it serves.
	// An arrival is timestamped up to this much late, nothing against the
	// verifier's 1 s buffer.
	loopPause = 2 * time.Millisecond
	// epollET is EPOLLET as the uint32 the event wants (syscall's is negative).
	epollET = 1 << 31
	// hangup events: the connection ended, read to EOF even after a short read.
	hangup = syscall.EPOLLRDHUP | syscall.EPOLLHUP | syscall.EPOLLERR
)

var errLoopClosed = errors.New("receive loop closed")

// receiver owns the receive loops of one Run. They stop, closing every
// socket, when ctx is done.
type receiver struct {
	ctx   context.Context
	end   time.Time // the run's end: the verdict time of streams cut by it
	loops []*epollLoop
	next  atomic.Uint32
	wg    sync.WaitGroup
}

// newReceiver starts the receive loops of a run that ends at end (or when ctx is done).
func newReceiver(ctx context.Context, end time.Time) (*receiver, error) {
	r := &receiver{ctx: ctx, end: end}
	for range min(runtime.GOMAXPROCS(0), maxLoops) {
		fd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
		if err != nil {
			for _, l := range r.loops {
				syscall.Close(l.epfd)
			}
			return nil, fmt.Errorf("epoll: %w", err)
		}
		r.loops = append(r.loops, &epollLoop{epfd: fd, buf: make([]byte, loopBufSize)})
	}
	for _, l := range r.loops {
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			l.run(ctx, end)
		}()
	}
	return r, nil
}

// wait waits until every loop has stopped (after ctx is done).
func (r *receiver) wait() { r.wg.Wait() }

// add hands the stream s on conn to a loop, which then owns both; conn is
// closed (the loop keeps a duplicate of its socket). s's verdict is
// written when the stream ends or the run does.
func (r *receiver) add(conn net.Conn, s *stream) {
	fd, err := detach(conn)
	if err != nil {
		s.finish(r.ctx, err, r.end)
		return
	}
	l := r.loops[r.next.Add(1)%uint32(len(r.loops))]
	if err := l.add(fd, s); err != nil {
		syscall.Close(fd)
		s.finish(r.ctx, err, r.end)
	}
}

// detach takes conn's socket away from the Go runtime's poller: it
// duplicates the descriptor (non-blocking, as the runtime set it) and
// closes conn, which removes the original from the runtime's epoll. Only
// the loop's epoll then watches the socket, so an arrival wakes one poller.
func detach(conn net.Conn) (int, error) {
	defer conn.Close()
	sc, ok := conn.(syscall.Conn)
	if !ok {
		return -1, errors.New("connection has no socket")
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return -1, fmt.Errorf("socket: %w", err)
	}
	fd := -1
	var derr error
	if err := rc.Control(func(f uintptr) {
		r, _, e := syscall.Syscall(syscall.SYS_FCNTL, f, syscall.F_DUPFD_CLOEXEC, 0)
		if e != 0 {
			derr = e
			return
		}
		fd = int(r)
	}); err != nil {
		return -1, fmt.Errorf("socket: %w", err)
	}
	if derr != nil {
		return -1, fmt.Errorf("dup socket: %w", derr)
	}
	return fd, nil
}

// Write sends a ping answer on the stream's socket. It does not wait: a
// listener whose send buffer is full has bigger problems.
func (s *stream) Write(p []byte) (int, error) {
	n, err := syscall.Write(s.fd, p)
	if err != nil {
		return 0, err
	}
	if n < len(p) {
		return n, io.ErrShortWrite
	}
	return n, nil
}

// epollLoop is one receive loop.
type epollLoop struct {
	epfd int
	buf  []byte // the loop's read buffer, shared by all its streams

	mu      sync.Mutex // guards the fields below against add
	streams []*stream  // by slot; an event's Fd field is the slot
	free    []int32    // unused slots
	closed  bool
}

// add registers the socket fd of s.
func (l *epollLoop) add(fd int, s *stream) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return errLoopClosed
	}
	var slot int32
	if n := len(l.free); n > 0 {
		slot, l.free = l.free[n-1], l.free[:n-1]
	} else {
		slot = int32(len(l.streams))
		l.streams = append(l.streams, nil)
	}
	// Edge-triggered: a read that comes back short has drained the
	// socket, and every later arrival raises a new event.
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN | syscall.EPOLLRDHUP | epollET, Fd: slot}
	if err := syscall.EpollCtl(l.epfd, syscall.EPOLL_CTL_ADD, fd, &ev); err != nil {
		l.free = append(l.free, slot)
		return fmt.Errorf("epoll add: %w", err)
	}
	s.fd = fd
	l.streams[slot] = s
	return nil
}

// run serves the loop's streams until ctx is done, then closes them all
// and writes their verdicts.
func (l *epollLoop) run(ctx context.Context, end time.Time) {
	var stop atomic.Bool
	defer context.AfterFunc(ctx, func() { stop.Store(true) })()
	events := make([]syscall.EpollEvent, loopEvents)
	batch := make([]*stream, loopEvents)
	var ended []int32
	var failure error
	for !stop.Load() {
		n, err := syscall.EpollWait(l.epfd, events, loopPollMS)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			failure = fmt.Errorf("epoll wait: %w", err)
			break
		}
		if n == 0 {
			continue
		}
		l.mu.Lock()
		for i, ev := range events[:n] {
			batch[i] = l.streams[ev.Fd]
		}
		l.mu.Unlock()
		now := time.Now()
		for i, s := range batch[:n] {
			if s == nil {
				continue
			}
			if err := l.receive(s, events[i].Events&hangup != 0, now); err != nil {
				// Deregister explicitly: should the socket live on elsewhere,
				// its events must not reach the slot's next stream.
				syscall.EpollCtl(l.epfd, syscall.EPOLL_CTL_DEL, s.fd, nil)
				syscall.Close(s.fd)
				s.fd = -1
				ended = append(ended, events[i].Fd)
				s.finish(ctx, err, end)
			}
		}
		clear(batch[:n])
		if len(ended) > 0 {
			l.mu.Lock()
			for _, slot := range ended {
				l.streams[slot] = nil
			}
			l.free = append(l.free, ended...)
			l.mu.Unlock()
			ended = ended[:0]
		}
		if n < len(events) {
			time.Sleep(loopPause)
		}
	}
	l.mu.Lock()
	l.closed = true
	streams := l.streams
	l.streams = nil
	l.mu.Unlock()
	for _, s := range streams {
		if s != nil {
			syscall.Close(s.fd)
			s.fd = -1
			s.finish(ctx, failure, end)
		}
	}
	syscall.Close(l.epfd)
}

// receive reads what arrived on s and parses it. It returns nil while the
// stream goes on, else why it ended. With hup (the peer closed or reset)
// it reads on to the end instead of stopping at a short read.
func (l *epollLoop) receive(s *stream, hup bool, now time.Time) error {
	for {
		n, err := readNonblock(s.fd, l.buf)
		if n > 0 {
			if err := s.feed(l.buf[:n], now, s); err != nil {
				return err
			}
			if n < len(l.buf) && !hup {
				return nil
			}
			continue
		}
		switch err {
		case 0:
			return s.eof()
		case syscall.EAGAIN:
			return nil
		case syscall.EINTR:
			continue
		}
		return fmt.Errorf("read: %w", err)
	}
}

// readNonblock is read(2) on a non-blocking socket. It cannot block, so it
// skips the runtime's syscall bookkeeping (the scheduler need not know).
func readNonblock(fd int, p []byte) (int, syscall.Errno) {
	n, _, e := syscall.RawSyscall(syscall.SYS_READ, uintptr(fd), uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)))
	return int(n), e
}
