package overload

import (
	"errors"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"majlis/internal/ratelimit"
)

// ListenerConfig caps a listener's connections.
type ListenerConfig struct {
	Max   int // open connections in total (0: from RLIMIT_NOFILE minus Reserve)
	PerIP int // open connections per source address (0: 64)
	// PerPrefix caps open connections per IPv4 /24 or IPv6 /48 (0: 4·PerIP),
	// so a flood from a whole network block cannot fill the port either.
	PerPrefix int
	// Reserve is the descriptors kept for everything else (stage port, store,
	// UDP, logs) when Max is derived from the file limit (0: 1024).
	Reserve int
	// AcceptRate bounds new connections per second (0: unbounded): beyond it
	// the listener stops accepting for a moment and the kernel's backlog
	// absorbs (then drops) the excess, so a connection flood cannot take
	// the CPU the stage plane and the mixers need. AcceptBurst is the bucket
	// depth (0: AcceptRate).
	AcceptRate  float64
	AcceptBurst float64
}

// Listener is a net.Listener that closes connections beyond its caps as soon
// as they are accepted, so a flood costs the process one descriptor for a
// moment rather than one per attacker socket.
type Listener struct {
	net.Listener
	max, perIP int
	perPrefix  int
	open       atomic.Int64
	refused    atomic.Int64
	mu         sync.Mutex
	byIP       map[netip.Addr]int
	byNet      map[netip.Prefix]int
	accept     ratelimit.Rate
	pacer      ratelimit.Bucket // only Accept's goroutine touches it
}

// NewListener wraps ln.
func NewListener(ln net.Listener, cfg ListenerConfig) *Listener {
	if cfg.Reserve <= 0 {
		cfg.Reserve = 1024
	}
	if cfg.Max <= 0 {
		cfg.Max = FileLimit() - cfg.Reserve
		if cfg.Max < 64 {
			cfg.Max = 64
		}
	}
	if cfg.PerIP <= 0 {
		cfg.PerIP = 64
	}
	if cfg.PerPrefix <= 0 {
		cfg.PerPrefix = 4 * cfg.PerIP
	}
	if cfg.AcceptBurst < 1 {
		cfg.AcceptBurst = max(cfg.AcceptRate, 1)
	}
	return &Listener{Listener: ln, max: cfg.Max, perIP: cfg.PerIP, perPrefix: cfg.PerPrefix, byIP: make(map[netip.Addr]int), byNet: make(map[netip.Prefix]int),
		accept: ratelimit.Rate{PerSecond: cfg.AcceptRate, Burst: cfg.AcceptBurst}}
}

// FileLimit is the process's soft RLIMIT_NOFILE.
func FileLimit() int {
	var r syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &r); err != nil || r.Cur > 1<<30 {
		return 1 << 16
	}
	return int(r.Cur)
}

// Accept returns the next connection within the caps.
func (l *Listener) Accept() (net.Conn, error) {
	for {
		l.pace()
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		var ip netip.Addr
		if ap, err := netip.ParseAddrPort(c.RemoteAddr().String()); err == nil {
			ip = ap.Addr().Unmap()
		}
		if l.open.Load() >= int64(l.max) {
			l.refuse(c)
			continue
		}
		pfx := prefixOf(ip)
		l.mu.Lock()
		if l.byIP[ip] >= l.perIP || l.byNet[pfx] >= l.perPrefix {
			l.mu.Unlock()
			l.refuse(c)
			continue
		}
		l.byIP[ip]++
		l.byNet[pfx]++
		l.mu.Unlock()
		l.open.Add(1)
		return &conn{Conn: c, l: l, ip: ip}, nil
	}
}

// pace waits for an accept token (only Accept's goroutine calls it).
func (l *Listener) pace() {
	if l.accept.PerSecond <= 0 {
		return
	}
	if d := l.pacer.Wait(l.accept, time.Now()); d > 0 {
		time.Sleep(d)
	}
}

func (l *Listener) refuse(c net.Conn) {
	l.refused.Add(1)
	if tc, ok := c.(interface{ SetLinger(int) error }); ok { // a TCP connection or a proxied one
		tc.SetLinger(0) // RST: no TIME_WAIT, nothing left for the flood to hold
	}
	c.Close()
}

// Open is the number of open connections; Max the cap.
func (l *Listener) Open() int { return int(l.open.Load()) }

// Max is the total cap.
func (l *Listener) Max() int { return l.max }

// Refused counts connections closed at accept for being over a cap.
func (l *Listener) Refused() int64 { return l.refused.Load() }

type conn struct {
	net.Conn
	l    *Listener
	ip   netip.Addr
	once sync.Once
}

func (c *conn) Close() error {
	c.release()
	return c.Conn.Close()
}

// release ends the connection's count against the caps (once).
func (c *conn) release() {
	c.once.Do(func() {
		c.l.open.Add(-1)
		c.l.mu.Lock()
		if n := c.l.byIP[c.ip] - 1; n > 0 {
			c.l.byIP[c.ip] = n
		} else {
			delete(c.l.byIP, c.ip)
		}
		pfx := prefixOf(c.ip)
		if n := c.l.byNet[pfx] - 1; n > 0 {
			c.l.byNet[pfx] = n
		} else {
			delete(c.l.byNet, pfx)
		}
		c.l.mu.Unlock()
	})
}

// Detach gives up the wrapped connection to a new owner (the fan-out's
// shards, which keep the bare socket and close it themselves) while the
// connection goes on counting against the caps until release runs.
func (c *conn) Detach() (inner net.Conn, release func()) {
	return c.Conn, c.release
}

// CloseWrite lets net/http half-close as it does on a bare TCP connection.
func (c *conn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// prefixOf is the /24 (IPv4) or /48 (IPv6) of ip; invalid stays invalid.
func prefixOf(ip netip.Addr) netip.Prefix {
	bits := 48
	if ip.Is4() {
		bits = 24
	}
	p, _ := ip.Prefix(bits)
	return p
}

// SyscallConn exposes the socket, so the fan-out's raw writes work through the cap.
func (c *conn) SyscallConn() (syscall.RawConn, error) {
	if sc, ok := c.Conn.(syscall.Conn); ok {
		return sc.SyscallConn()
	}
	return nil, errors.New("overload: connection has no file descriptor")
}
