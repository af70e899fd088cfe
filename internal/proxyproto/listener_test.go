package proxyproto

import (
	"errors"
	"io"
	"net"
	"net/netip"
	"strings"
	"syscall"
	"testing"
	"time"
)

// listen wraps a loopback port trusting 127.0.0.1 only.
func listen(t *testing.T, cfg Config) *Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Trusted == nil {
		proxy := netip.MustParseAddr("127.0.0.1")
		cfg.Trusted = func(a netip.Addr) bool { return a == proxy }
	}
	l := NewListener(ln, cfg)
	t.Cleanup(func() { l.Close() })
	return l
}

// dial connects from src and sends b.
func dial(t *testing.T, l *Listener, src, b string) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 5 * time.Second}
	c, err := d.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if b != "" {
		if _, err := io.WriteString(c, b); err != nil {
			t.Fatal(err)
		}
	}
	return c
}

// accept waits (5 s at most) for the listener's next connection.
func accept(t *testing.T, l *Listener) net.Conn {
	t.Helper()
	type res struct {
		c   net.Conn
		err error
	}
	ch := make(chan res, 1)
	go func() { c, err := l.Accept(); ch <- res{c, err} }()
	select {
	case r := <-ch:
		if r.err != nil {
			t.Fatal(r.err)
		}
		t.Cleanup(func() { r.c.Close() })
		return r.c
	case <-time.After(5 * time.Second):
		t.Fatal("Accept did not return")
		return nil
	}
}

// readAll reads what c has within a short time.
func readSome(t *testing.T, c net.Conn, n int) string {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	b := make([]byte, n)
	if _, err := io.ReadFull(c, b); err != nil {
		t.Fatalf("read: %v", err)
	}
	return string(b)
}

func TestListenerProxied(t *testing.T) {
	l := listen(t, Config{})
	dial(t, l, "127.0.0.1", "PROXY TCP4 192.0.2.9 127.0.0.1 4711 80\r\n"+request)
	c := accept(t, l)
	if got := c.RemoteAddr().String(); got != "192.0.2.9:4711" {
		t.Fatalf("RemoteAddr %s, want the header's client", got)
	}
	if got := readSome(t, c, len(request)); got != request {
		t.Fatalf("read %q after the header", got)
	}
	// The socket is still reachable, for the fan-out's raw writes.
	sc, ok := c.(syscall.Conn)
	if !ok {
		t.Fatal("proxied connection is no syscall.Conn")
	}
	if _, err := sc.SyscallConn(); err != nil {
		t.Fatal(err)
	}
	// LOCAL keeps the proxy's address.
	dial(t, l, "127.0.0.1", string(v2(0, 0, nil))+request)
	c = accept(t, l)
	if ap, _ := netip.ParseAddrPort(c.RemoteAddr().String()); ap.Addr() != netip.MustParseAddr("127.0.0.1") {
		t.Fatalf("LOCAL: RemoteAddr %s, want the proxy's", c.RemoteAddr())
	}
	if got := readSome(t, c, len(request)); got != request {
		t.Fatalf("read %q after the LOCAL header", got)
	}
}

// From a peer that is not trusted the header is never read: its bytes are
// the connection's, and its address is its own.
func TestListenerUntrustedUntouched(t *testing.T) {
	l := listen(t, Config{})
	hdr := "PROXY TCP4 192.0.2.9 127.0.0.1 4711 80\r\n"
	dial(t, l, "127.0.0.2", hdr)
	c := accept(t, l)
	if ap, _ := netip.ParseAddrPort(c.RemoteAddr().String()); ap.Addr() != netip.MustParseAddr("127.0.0.2") {
		t.Fatalf("RemoteAddr %s, want the peer's own", c.RemoteAddr())
	}
	if got := readSome(t, c, len(hdr)); got != hdr {
		t.Fatalf("read %q, want the header bytes untouched", got)
	}
	if _, ok := c.(*net.TCPConn); !ok {
		t.Fatalf("untrusted connection wrapped as %T", c)
	}
}

// A trusted proxy's connection without a header, with a bad one, or silent
// past the timeout is closed and counted; a silent one never holds up
// other connections.
func TestListenerRejects(t *testing.T) {
	l := listen(t, Config{Timeout: 300 * time.Millisecond})
	silent := dial(t, l, "127.0.0.1", "")
	slow := dial(t, l, "127.0.0.1", "PROXY TCP4 192.0.2.9")
	noHeader := dial(t, l, "127.0.0.1", request)
	badHeader := dial(t, l, "127.0.0.1", "PROXY TCP4 192.0.2.9 127.0.0.1 4711 80 9\r\n"+request)
	// Others are accepted meanwhile: a client, and the proxy with a header.
	dial(t, l, "127.0.0.2", request)
	if c := accept(t, l); !strings.HasPrefix(c.RemoteAddr().String(), "127.0.0.2:") {
		t.Fatalf("accepted %s first, want the direct client", c.RemoteAddr())
	}
	dial(t, l, "127.0.0.1", "PROXY TCP4 192.0.2.10 127.0.0.1 4711 80\r\n")
	if c := accept(t, l); c.RemoteAddr().String() != "192.0.2.10:4711" {
		t.Fatalf("accepted %s, want the proxied client", c.RemoteAddr())
	}
	for name, c := range map[string]net.Conn{"silent": silent, "slow": slow, "no header": noHeader, "bad header": badHeader} {
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if n, err := c.Read(make([]byte, 1)); err == nil || errors.Is(err, syscall.ETIMEDOUT) || isTimeout(err) {
			t.Fatalf("%s: read %d, %v: want the connection closed", name, n, err)
		}
	}
	if got := l.Rejected(); got != 4 {
		t.Fatalf("Rejected %d, want 4", got)
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// Beyond MaxPending headers under way a proxy's connection is refused at once.
func TestListenerMaxPending(t *testing.T) {
	l := listen(t, Config{MaxPending: 1, Timeout: time.Minute})
	dial(t, l, "127.0.0.1", "")
	// The refusal is a reset, which on a busy machine may reach the
	// second client before its connect returns.
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.1")}, Timeout: 5 * time.Second}
	second, err := d.Dial("tcp", l.Addr().String())
	if err == nil {
		defer second.Close()
		second.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, err = second.Read(make([]byte, 1))
	}
	if err == nil || isTimeout(err) {
		t.Fatalf("second pending connection: %v, want it refused", err)
	}
	// Counted once the accept goroutine has refused it.
	for deadline := time.Now().Add(5 * time.Second); l.Rejected() < 1 && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond)
	}
	if got := l.Rejected(); got != 1 {
		t.Fatalf("Rejected %d, want 1", got)
	}
	// Close ends the header still being read at once, not after its minute.
	start := time.Now()
	l.Close()
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("Close took %v", d)
	}
	if _, err := l.Accept(); err == nil {
		t.Fatal("Accept after Close: no error")
	}
}

// A header trickled in a byte at a time is read whole, while the listener
// goes on accepting others, and the request behind it is intact.
func TestListenerSlowHeader(t *testing.T) {
	l := listen(t, Config{})
	hdr := "PROXY TCP6 2001:db8::5 ::1 4711 80\r\n"
	c := dial(t, l, "127.0.0.1", "")
	sent := make(chan struct{})
	go func() {
		defer close(sent)
		for i := range len(hdr) {
			if _, err := io.WriteString(c, hdr[i:i+1]); err != nil {
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
		io.WriteString(c, request)
	}()
	dial(t, l, "127.0.0.2", request)
	if first := accept(t, l); !strings.HasPrefix(first.RemoteAddr().String(), "127.0.0.2:") {
		t.Fatalf("accepted %s first, want the direct client while the header trickles in", first.RemoteAddr())
	}
	pc := accept(t, l)
	<-sent
	if got := pc.RemoteAddr().String(); got != "[2001:db8::5]:4711" {
		t.Fatalf("RemoteAddr %s", got)
	}
	if got := readSome(t, pc, len(request)); got != request {
		t.Fatalf("read %q after the trickled header", got)
	}
}
