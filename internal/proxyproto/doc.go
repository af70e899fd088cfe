// Package proxyproto reads the PROXY protocol (HAProxy's, versions 1 and 2:
// https://www.haproxy.org/download/2.9/doc/proxy-protocol.txt) that a
// TCP proxy in front of majlis (nginx's stream module with proxy_protocol
// on, HAProxy's send-proxy or send-proxy-v2, a cloud load balancer) writes
// at the start of each connection to say whose it is.
//
// Listener wraps the bound port, below the connection caps
// (overload.Listener) so that they count the real client: its own accept
// goroutine takes connections from the kernel and hands them to Accept
// through an unbuffered channel. A connection from a peer that is not a
// trusted proxy is handed over untouched and its bytes are never read here
// (a client cannot claim another address by sending a header). From a
// trusted proxy the header is required: a goroutine of the connection's own
// reads it under a short deadline, then hands over the connection with
// RemoteAddr reporting the client the header names; a missing, malformed or
// late header closes the connection and is counted (Rejected). A slow or
// silent proxy connection therefore holds up only itself; at most
// MaxPending headers are read at once and the connections beyond that are
// refused, so the accept goroutine never waits on one.
//
// The header is read exactly, never a byte past its end: the fan-out
// (fanout/shard) takes a listener's socket from net/http and writes to the
// descriptor itself, so any byte of the request read ahead into a buffer of
// this package would be lost to net/http. That is why the package does not
// use a library such as pires/go-proxyproto: it reads the header lazily
// through a bufio.Reader (on the first Read or RemoteAddr, which the caps
// call from Accept, where one slow client would stall every accept), and
// its read-ahead cannot be given back to a raw socket. ReadHeader reads in
// steps no longer than the header can still be (version 2: the 16-byte
// prefix, then the length it states; version 1: a line of at most 107
// bytes), so the request behind it stays in the socket. The wrapped
// connection still offers the socket (syscall.Conn) and CloseWrite, so the
// fan-out's hand-over and net/http's half-close work through it.
//
// Supported: version 1 TCP4, TCP6 and UNKNOWN; version 2 PROXY and LOCAL
// over AF_INET and AF_INET6 (TLVs are skipped). LOCAL, UNKNOWN and the
// other version 2 families (AF_UNSPEC, AF_UNIX) keep the proxy's own address
// as the peer: they are the proxy's health checks, or clients it cannot name.
package proxyproto
