package overload

import (
	"net"
	"testing"
)

// TestDetachKeepsCount: a connection handed over with Detach (the fan-out
// keeps the bare socket) still counts against the caps until release runs,
// once, however often Close and release are called after.
func TestDetachKeepsCount(t *testing.T) {
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := NewListener(raw, ListenerConfig{Max: 10, PerIP: 10})
	defer l.Close()
	c, err := net.Dial("tcp", raw.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	sc, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	d, ok := sc.(interface{ Detach() (net.Conn, func()) })
	if !ok {
		t.Fatalf("accepted conn %T offers no Detach", sc)
	}
	inner, release := d.Detach()
	inner.Close()
	if got := l.Open(); got != 1 {
		t.Fatalf("open after the inner conn closed: %d, want 1 until release", got)
	}
	release()
	release()
	sc.Close()
	if got := l.Open(); got != 0 {
		t.Fatalf("open after release: %d, want 0", got)
	}
}
