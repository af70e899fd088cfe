package proxyproto

import (
	"errors"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Defaults of Config's zero fields.
const (
	DefaultTimeout    = 5 * time.Second
	DefaultMaxPending = 1024
)

// Config says whose headers to read.
type Config struct {
	// Trusted reports whether a peer is a proxy that sends the header
	// (and must). Nil trusts nobody: every connection passes untouched.
	Trusted func(netip.Addr) bool
	// Timeout bounds the wait for a proxy's whole header (DefaultTimeout).
	Timeout time.Duration
	// MaxPending bounds the headers read at once (DefaultMaxPending);
	// a trusted proxy's connection beyond it is refused and counted.
	MaxPending int
}

// Listener is a net.Listener whose connections from trusted proxies report
// the client their PROXY header names (package doc).
type Listener struct {
	ln      net.Listener
	cfg     Config
	conns   chan accepted // unbuffered: the accept goroutine waits for Accept, the kernel backlog holds the rest
	done    chan struct{} // closed by Close
	stopped chan struct{} // closed when the accept goroutine has ended, err set
	err     error

	closeOnce sync.Once
	wg        sync.WaitGroup // the accept goroutine and the header readers
	mu        sync.Mutex
	pending   map[net.Conn]struct{} // connections whose header is being read
	rejected  atomic.Int64
}

type accepted struct {
	c   net.Conn
	err error
}

// NewListener wraps ln and starts its accept goroutine; Close stops it.
func NewListener(ln net.Listener, cfg Config) *Listener {
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.MaxPending <= 0 {
		cfg.MaxPending = DefaultMaxPending
	}
	l := &Listener{ln: ln, cfg: cfg, conns: make(chan accepted), done: make(chan struct{}), stopped: make(chan struct{}), pending: make(map[net.Conn]struct{})}
	l.wg.Add(1)
	go l.acceptLoop()
	return l
}

// temporary is the net/http view of an accept error worth retrying.
type temporary interface{ Temporary() bool }

func (l *Listener) acceptLoop() {
	defer l.wg.Done()
	defer close(l.stopped)
	for {
		c, err := l.ln.Accept()
		if err != nil {
			if te, ok := err.(temporary); ok && te.Temporary() {
				// Handed to Accept, whose caller (net/http) backs off.
				if !l.deliver(accepted{err: err}) {
					l.err = net.ErrClosed
					return
				}
				continue
			}
			l.err = err
			return
		}
		if !l.trusted(c) {
			if !l.deliver(accepted{c: c}) {
				c.Close()
				l.err = net.ErrClosed
				return
			}
			continue
		}
		// The deadline is set before Close can see the connection, so
		// Close's own (now) is never overwritten.
		c.SetReadDeadline(time.Now().Add(l.cfg.Timeout))
		l.mu.Lock()
		closed, full := l.closed(), len(l.pending) >= l.cfg.MaxPending
		if !closed && !full {
			l.pending[c] = struct{}{}
			l.wg.Add(1)
		}
		l.mu.Unlock()
		switch {
		case closed:
			c.Close()
			l.err = net.ErrClosed
			return
		case full:
			l.reject(c)
			continue
		}
		go l.handshake(c)
	}
}

func (l *Listener) trusted(c net.Conn) bool {
	if l.cfg.Trusted == nil {
		return false
	}
	ap, err := netip.ParseAddrPort(c.RemoteAddr().String())
	return err == nil && l.cfg.Trusted(ap.Addr().Unmap())
}

// handshake reads a trusted proxy's header on the connection's own
// goroutine, then hands the connection to Accept.
func (l *Listener) handshake(c net.Conn) {
	defer l.wg.Done()
	h, err := ReadHeader(c)
	l.mu.Lock()
	delete(l.pending, c)
	l.mu.Unlock()
	if err != nil || c.SetReadDeadline(time.Time{}) != nil {
		l.reject(c)
		return
	}
	pc := &Conn{Conn: c, header: h, remote: c.RemoteAddr()}
	if !h.Local {
		pc.remote = net.TCPAddrFromAddrPort(h.Source)
	}
	if !l.deliver(accepted{c: pc}) {
		c.Close()
	}
}

func (l *Listener) closed() bool {
	select {
	case <-l.done:
		return true
	default:
		return false
	}
}

// deliver hands a to Accept; false: the listener is closed.
func (l *Listener) deliver(a accepted) bool {
	select {
	case l.conns <- a:
		return true
	case <-l.done:
		return false
	}
}

// reject closes a proxy's connection that sent no usable header.
func (l *Listener) reject(c net.Conn) {
	l.rejected.Add(1)
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetLinger(0)
	}
	c.Close()
}

// Accept returns the next connection: a trusted proxy's once its header is read.
func (l *Listener) Accept() (net.Conn, error) {
	select {
	case a := <-l.conns:
		return a.c, a.err
	case <-l.stopped:
		// A connection handed over as the accept goroutine ended still counts.
		select {
		case a := <-l.conns:
			return a.c, a.err
		default:
		}
		return nil, l.err
	case <-l.done:
		return nil, net.ErrClosed
	}
}

// Close closes the port, ends the header reads under way and waits for the
// listener's goroutines.
func (l *Listener) Close() error {
	var err error
	l.closeOnce.Do(func() {
		close(l.done)
		err = l.ln.Close()
		l.mu.Lock()
		for c := range l.pending {
			c.SetReadDeadline(time.Now())
		}
		l.mu.Unlock()
		l.wg.Wait()
	})
	return err
}

// Addr is the port's address.
func (l *Listener) Addr() net.Addr { return l.ln.Addr() }

// Rejected counts trusted proxies' connections closed for a missing,
// malformed or late header, or for arriving with MaxPending headers
// already being read.
func (l *Listener) Rejected() int64 { return l.rejected.Load() }

// Conn is a trusted proxy's connection after its header: RemoteAddr is
// the client the header names (the proxy's address for LOCAL or UNKNOWN).
type Conn struct {
	net.Conn
	header Header
	remote net.Addr
}

// RemoteAddr is the proxied client.
func (c *Conn) RemoteAddr() net.Addr { return c.remote }

// Header is what the proxy said.
func (c *Conn) Header() Header { return c.header }

// SyscallConn gives the socket (the fan-out writes to it directly: the
// header was read exactly, nothing of the stream is held here).
func (c *Conn) SyscallConn() (syscall.RawConn, error) {
	if sc, ok := c.Conn.(syscall.Conn); ok {
		return sc.SyscallConn()
	}
	return nil, errors.New("proxyproto: connection has no socket")
}

// CloseWrite half-closes, as on a bare TCP connection.
func (c *Conn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// SetLinger sets the socket's linger (a refused connection is reset).
func (c *Conn) SetLinger(sec int) error {
	if sl, ok := c.Conn.(interface{ SetLinger(int) error }); ok {
		return sl.SetLinger(sec)
	}
	return nil
}
