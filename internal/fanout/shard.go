package fanout

import (
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"os"
	"runtime"
	"sync"
	"syscall"
	"time"
	"unsafe"

	"majlis/internal/program"
)

// The sharded writer: instead of one goroutine per listener that wakes for
// every chunk, a few shard goroutines per program each own a list of
// listener connections (hijacked from net/http) and, for every chunk, write
// its shared wire-ready bytes (Chunk.OggHTTP, Chunk.WSFrame) to each of them
// with one non-blocking write(2). A listener whose socket buffer is full is
// not waited for: it keeps its place (chunk and byte offset) and is
// continued on the next round, so the kernel send buffer is its backlog;
// beyond MaxBacklog chunks it is skipped forward (at a chunk boundary, so
// framing stays intact), and after WriteTimeout without progress dropped.

// rawListener is one listener connection owned by a shard. It is kept
// small (one of these per listener is most of a listener's memory): the
// socket is a bare descriptor, taken out of the runtime's poller (see
// newRawListener), written to with raw non-blocking system calls.
type rawListener struct {
	fd   int32
	kind *listenerKind
	// in follows a talking client's input (WebSocket); nil for Ogg.
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
	ended    func(error) // called once, by the shard, when the listener ends
}

// listenerKind is what differs between the protocols of detached listeners;
// one per protocol and hub, shared by its listeners.
type listenerKind struct {
	idx  int                         // index into shard.sent
	wire func(*program.Chunk) []byte // the chunk's bytes for this protocol
	// final returns what to write (best effort, and only between chunks)
	// when the listener ends with err: the end of the chunked body, a
	// WebSocket close frame; nil for nothing.
	final func(err error) []byte
	pm    *protoMetrics
}

// newRawListener takes conn (a hijacked socket) for a shard. The socket is
// duplicated and conn closed, which frees the runtime's state for it (its
// poller registration, netFD and finalizer: about 400 bytes per listener)
// and leaves the shard a plain non-blocking descriptor. A connection
// wrapper that counts against a cap (overload.Listener's) offers Detach: the
// count then ends when the shard closes the descriptor. It returns nil,
// leaving conn as it was, if conn has no descriptor (not a plain socket).
func newRawListener(conn net.Conn, kind *listenerKind, pos uint64, now time.Time, ended func(error)) *rawListener {
	inner, release := conn, func() {}
	if d, ok := conn.(detacher); ok {
		inner, release = d.Detach()
	}
	sc, ok := inner.(syscall.Conn)
	if !ok {
		return nil
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	fd, derr := -1, error(nil)
	if err := rc.Control(func(f uintptr) { fd, derr = dupCloexec(int(f)) }); err != nil || derr != nil {
		return nil
	}
	inner.Close() // the duplicate keeps the socket open
	return &rawListener{fd: int32(fd), kind: kind, pos: pos, progress: now.UnixNano(), release: release, ended: ended}
}

// detacher is a connection wrapper that can give up its connection while
// keeping what it accounts for until release runs (overload's capped conns).
type detacher interface {
	Detach() (inner net.Conn, release func())
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

// close closes the listener's socket and ends its count in the accept cap.
func (l *rawListener) close() {
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
func (l *rawListener) write(b []byte) (int, error) {
	return sysResult(l.writeRaw(b))
}

// writeRaw is one non-blocking write(2) of b, with the kernel's answer.
func (l *rawListener) writeRaw(b []byte) (uintptr, syscall.Errno) {
	if len(b) == 0 {
		return 0, 0
	}
	n, _, e := syscall.RawSyscall(syscall.SYS_WRITE, uintptr(l.fd), uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)))
	return n, e
}

// read tries one non-blocking read into b.
func (l *rawListener) read(b []byte) (int, error) {
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

// station runs the shards of one program.
type station struct {
	h      *Hub
	p      *program.Program
	shards []*shard
	next   int // round-robin shard for the next listener; guarded by Hub.smu
}

type shard struct {
	st       *station
	mu       sync.Mutex
	incoming []*rawListener // added by handlers, taken by the shard
	finished bool           // the shard ended: no more listeners accepted
	wake     chan struct{}  // cap 1: a listener was added
	ls       []*rawListener // owned by the shard goroutine
	rbuf     []byte         // client input is read into this and dropped
	// sent counts what this round delivered per listener kind; added to
	// the metrics once per round, not per write (the counters are shared
	// by every shard and would bounce between cores).
	sent   [2]struct{ bytes, chunks int }
	batch  batch  // the io_uring path (batch.go)
	inputs inputs // readiness of talking listeners' input (input.go)
}

// flushSent adds the round's deliveries to the protocol metrics.
func (sh *shard) flushSent() {
	h := sh.st.h
	for i, k := range [2]*listenerKind{&h.oggKind, &h.wsKind} {
		if c := &sh.sent[i]; c.chunks > 0 {
			k.pm.bytes.Add(float64(c.bytes))
			k.pm.chunks.Add(float64(c.chunks))
			*c = struct{ bytes, chunks int }{}
		}
	}
}

// stationFor returns the running station of p, starting it if needed.
func (h *Hub) stationFor(p *program.Program) *station {
	h.smu.Lock()
	defer h.smu.Unlock()
	if h.stations == nil {
		h.stations = make(map[*program.Program]*station)
	}
	if st := h.stations[p]; st != nil {
		return st
	}
	n := h.cfg.Shards
	if n <= 0 {
		n = runtime.GOMAXPROCS(0)
	}
	st := &station{h: h, p: p}
	for range n {
		st.shards = append(st.shards, &shard{st: st, wake: make(chan struct{}, 1), rbuf: make([]byte, shardReadBuf), inputs: inputs{ep: -1}})
	}
	// Start them once the list is complete: a shard of an ended program
	// finishes at once and reads the list (dropStation).
	for _, sh := range st.shards {
		h.wg.Add(1)
		go func() {
			defer h.wg.Done()
			sh.run()
		}()
	}
	h.stations[p] = st
	return st
}

// add hands l to one of st's shards; false if the station has finished
// (the program ended), in which case the caller serves l itself.
func (st *station) add(l *rawListener) bool {
	st.h.smu.Lock()
	sh := st.shards[st.next%len(st.shards)]
	st.next++
	st.h.smu.Unlock()
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if sh.finished {
		return false
	}
	sh.incoming = append(sh.incoming, l)
	select {
	case sh.wake <- struct{}{}:
	default: // a wake-up is already pending
	}
	return true
}

// run delivers chunks to the shard's listeners until the program ends and
// every listener is finished, or the hub closes.
func (sh *shard) run() {
	h, p := sh.st.h, sh.st.p
	defer sh.closeRing()
	defer sh.closeInputs()
	var retry *time.Timer
	// While the program publishes, a listener that went away shows up as
	// a failed write within two chunks. When it is idle, probe for closed
	// connections instead.
	idle := time.NewTicker(idleProbe)
	defer idle.Stop()
	lastHead, lastChange := p.Head(), time.Now()
	for {
		// Take the wait channel before looking at Head, so a chunk
		// published in between still wakes us.
		wait := p.Wait()
		closed := p.Closed()
		sh.mu.Lock()
		for _, l := range sh.incoming {
			if l.in != nil {
				sh.watch(l)
			}
		}
		sh.ls = append(sh.ls, sh.incoming...)
		clear(sh.incoming)
		sh.incoming = sh.incoming[:0]
		if closed && len(sh.ls) == 0 {
			sh.finished = true
			sh.mu.Unlock()
			sh.st.h.dropStation(sh.st)
			return
		}
		sh.mu.Unlock()

		head := p.Head()
		now := time.Now()
		sh.pollInputs()
		var blocked bool
		if sh.useRing() {
			blocked = sh.roundBatched(head, closed, now)
		} else {
			blocked = sh.round(head, closed, now)
		}
		sh.flushSent()
		var retryC <-chan time.Time
		if closed && blocked {
			// No more chunks will wake us: retry the listeners still
			// taking the end of the program.
			if retry == nil {
				retry = time.NewTimer(20 * time.Millisecond)
			} else {
				retry.Reset(20 * time.Millisecond)
			}
			retryC = retry.C
		}
		select {
		case <-wait:
		case <-sh.wake:
		case <-retryC:
		case now := <-idle.C:
			if hd := p.Head(); hd != lastHead {
				lastHead, lastChange = hd, now
				break
			}
			if now.Sub(lastChange) < idleAfter {
				break
			}
			for i := 0; i < len(sh.ls); {
				l := sh.ls[i]
				if l.in != nil {
					err := sh.readClient(l, now)
					if err == nil && l.in.pong != nil {
						err = sh.deliver(l, p.Head(), p.Closed(), now) // the pong, now
					}
					if err != nil && err != errAgain {
						sh.remove(i, err)
						continue
					}
				} else if l.gone() {
					sh.remove(i, errClientGone)
					continue
				}
				i++
			}
		case <-h.ctx.Done():
			sh.mu.Lock()
			sh.finished = true
			sh.ls = append(sh.ls, sh.incoming...)
			sh.incoming = nil
			sh.mu.Unlock()
			for len(sh.ls) > 0 {
				// Shutting down: remove ends the stream cleanly if it fits.
				sh.remove(0, errInterrupted)
			}
			return
		}
	}
}

// round brings every listener up to head with one write(2) per piece.
// It returns whether some listener's socket was full.
func (sh *shard) round(head uint64, closed bool, now time.Time) (blocked bool) {
	for i := 0; i < len(sh.ls); {
		l := sh.ls[i]
		var err error
		if l.in != nil && now.UnixNano() >= l.nextRead {
			err = sh.readClient(l, now)
		}
		if err == nil {
			err = sh.deliver(l, head, closed, now)
		}
		if err == errAgain {
			blocked = true
		}
		if err != nil && err != errAgain {
			sh.remove(i, err)
			continue
		}
		i++
		if i%yieldEvery == 0 {
			// A round over thousands of sockets takes tens of ms: let
			// the mixer and the other goroutines of this P run.
			runtime.Gosched()
		}
	}
	return blocked
}

// idleProbe is how often a shard of an idle program looks for listeners
// that went away.
// A program counts as idle after idleAfter without a new chunk (longer than
// the longest chunk).
const (
	idleProbe = 500 * time.Millisecond
	idleAfter = 2 * time.Second
)

var errClientGone = errors.New("client went away")

// gone reports whether the client closed its end (or reset it): a
// non-blocking peek reads EOF or an error. Bytes the client sent are
// left alone.
func (l *rawListener) gone() bool {
	var buf [1]byte
	n, _, rerr := syscall.Recvfrom(int(l.fd), buf[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
	return (rerr == nil && n == 0) || (rerr != nil && rerr != syscall.EAGAIN && rerr != syscall.EINTR)
}

// errEnded is a listener that received the whole program.
var errEnded = errors.New("program ended")

// deliver writes what l is missing up to head. It returns nil when l has
// caught up, errAgain when its socket is full, errEnded when the program
// ended and l got all of it, or the error that ends l.
func (sh *shard) deliver(l *rawListener, head uint64, closed bool, now time.Time) error {
	for {
		b, err := sh.next(l, head, closed, now)
		if b == nil {
			return err
		}
		n, werr := l.write(b)
		if err := sh.wrote(l, n, werr, now); err != nil {
			return err
		}
	}
}

// next returns the bytes l is to be sent now: the rest of its current
// chunk, or the next chunk it is missing up to head. It returns nil when
// there is nothing to send: with a nil error when l has caught up, or with
// the reason l ends (errEnded, errTooSlow).
func (sh *shard) next(l *rawListener, head uint64, closed bool, now time.Time) ([]byte, error) {
	h, p := sh.st.h, sh.st.p
	if l.cur == nil && l.in != nil && l.in.pong != nil {
		// A pong goes out between chunks, before the next one.
		l.cur, l.off, l.ctl = l.in.pong, 0, true
		l.in.pong = nil
	}
	for l.cur == nil {
		if l.pos >= head {
			l.progress = now.UnixNano()
			if closed {
				return nil, errEnded // remove writes the end
			}
			return nil, nil
		}
		var c *program.Chunk
		if head-l.pos <= uint64(h.cfg.MaxBacklog) {
			c = p.Chunk(l.pos)
		}
		if c == nil { // too far behind, or the chunk was overwritten
			if int(l.skips) == h.cfg.MaxSkips {
				l.kind.pm.drops.Inc()
				return nil, errTooSlow
			}
			l.skips++
			l.kind.pm.skips.Inc()
			l.pos = head - min(h.preroll(p), head)
			continue
		}
		l.cur, l.off = l.kind.wire(c), 0
	}
	return l.cur[l.off:], nil
}

// wrote takes the result of sending l the bytes next returned: n written,
// err from the write. It returns nil when l's chunk is complete (more may
// follow), errAgain when l's socket is full for now, or the error that ends l.
func (sh *shard) wrote(l *rawListener, n int, err error, now time.Time) error {
	l.off += int32(n)
	if n > 0 {
		l.progress = now.UnixNano()
	}
	if err == errAgain || (err == nil && int(l.off) < len(l.cur)) {
		if time.Duration(now.UnixNano()-l.progress) > sh.st.h.cfg.WriteTimeout {
			l.kind.pm.drops.Inc()
			return errWriteTimeout
		}
		return errAgain
	}
	if err != nil {
		return err
	}
	if l.ctl { // a control frame went out: no chunk was delivered
		l.cur, l.ctl = nil, false
		return nil
	}
	c := &sh.sent[l.kind.idx]
	c.bytes += len(l.cur)
	c.chunks++
	l.cur = nil
	l.pos++
	return nil
}

// remove ends listener i: writes its final bytes for err if it is between
// chunks, closes its connection and tells its handler.
func (sh *shard) remove(i int, err error) {
	l := sh.ls[i]
	if l.cur == nil && l.kind.final != nil {
		if b := l.kind.final(err); b != nil {
			_, _ = l.write(b)
		}
	}
	last := len(sh.ls) - 1
	sh.ls[i] = sh.ls[last]
	sh.ls[last] = nil
	sh.ls = sh.ls[:last]
	if l.watched {
		sh.unwatch(l)
	}
	l.close()
	l.ended(err)
}

// dropStation forgets st once all its shards have finished.
func (h *Hub) dropStation(st *station) {
	for _, sh := range st.shards {
		sh.mu.Lock()
		f := sh.finished
		sh.mu.Unlock()
		if !f {
			return
		}
	}
	h.smu.Lock()
	if h.stations[st.p] == st {
		delete(h.stations, st.p)
	}
	h.smu.Unlock()
}

// oggHead is the response head of a sharded listen.ogg stream. The
// connection is ours after the hijack, so it is closed at the end.
const oggHead = "HTTP/1.1 200 OK\r\nContent-Type: audio/ogg\r\nCache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\n" +
	"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"

// chunkedEnd is the last chunk of a chunked body.
var chunkedEnd = []byte("0\r\n\r\n")

func oggHTTPWire(c *program.Chunk) []byte { return c.OggHTTP }

// oggFinal ends the chunked body when the program ends or the server shuts
// down, so players see a clean end of stream; otherwise the connection is
// just closed.
func oggFinal(err error) []byte {
	if err == errEnded || err == errInterrupted {
		return chunkedEnd
	}
	return nil
}

// serveOggSharded hijacks an HTTP/1.1 listen.ogg request and hands the
// connection to a shard; onEnd runs when the listener ends (from the shard,
// or at once if it failed to start). It returns without waiting for the end
// of the stream: no goroutine or buffer stays with the listener. It returns
// false (having written nothing) when the request cannot be hijacked; the
// caller then serves it through net/http.
func (h *Hub) serveOggSharded(w http.ResponseWriter, r *http.Request, p *program.Program, onEnd func()) bool {
	if r.ProtoMajor != 1 || r.ProtoMinor < 1 || r.Method != http.MethodGet {
		return false
	}
	hj, ok := w.(http.Hijacker)
	if !ok {
		return false
	}
	conn, brw, err := hj.Hijack()
	if err != nil {
		return false
	}
	pos := h.startPos(p)
	disconnected := h.connected(&h.ogg)
	ended := func(error) {
		disconnected()
		onEnd()
	}
	// The head and stream headers are small: one blocking write with a deadline.
	head := make([]byte, 0, len(oggHead)+len(p.OggHeadersHTTP()))
	head = append(append(head, oggHead...), p.OggHeadersHTTP()...)
	_ = conn.SetWriteDeadline(time.Now().Add(h.cfg.WriteTimeout))
	if _, err := conn.Write(head); err != nil || brw.Reader.Buffered() > 0 {
		// Gone already, or the client pipelined requests (not a player).
		conn.Close()
		ended(err)
		return true
	}
	_ = conn.SetWriteDeadline(time.Time{})
	h.ogg.bytes.Add(float64(len(head)))
	l := newRawListener(conn, &h.oggKind, pos, time.Now(), ended)
	if l == nil {
		// Not a plain socket (a wrapped connection): serve it from this
		// goroutine with blocking writes.
		s := &chunkedConnSink{conn: conn, cw: httputil.NewChunkedWriter(conn), timeout: h.cfg.WriteTimeout}
		err := h.stream(h.ctx, p, pos, s, &h.ogg, false)
		if err == nil {
			_ = conn.SetWriteDeadline(time.Now().Add(finishTimeout))
			_, _ = conn.Write(chunkedEnd)
		}
		conn.Close()
		ended(err)
		return true
	}
	if !h.stationFor(p).add(l) {
		// The program ended and its station with it: end the body.
		_, _ = l.write(chunkedEnd) // conn is closed: l holds the socket now
		l.close()
		ended(nil)
	}
	return true
}

// chunkedConnSink writes chunks in HTTP/1.1 chunked encoding to a hijacked
// connection that offers no raw access.
type chunkedConnSink struct {
	conn    net.Conn
	cw      io.Writer
	timeout time.Duration
}

func (s *chunkedConnSink) write(b []byte) error {
	_ = s.conn.SetWriteDeadline(time.Now().Add(s.timeout))
	_, err := s.cw.Write(b)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return errWriteTimeout
	}
	return err
}

func (s *chunkedConnSink) flush() error { return nil }

// yieldEvery is how many listeners a shard serves between yields.
// shardReadBuf is the size of a shard's buffer for client input.
// clientReadEvery is how often a talking listener's input is read.
const (
	yieldEvery      = 512
	shardReadBuf    = 4 << 10
	clientReadEvery = time.Second
)
