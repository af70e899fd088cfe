package apierror

import (
	"bytes"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"strconv"
	"syscall"
)

// Listener wraps ln so that the answers Go's HTTP server writes by itself,
// before any handler runs (a malformed request line or percent-escape,
// headers over the limit, an unknown HTTP version or transfer encoding),
// leave in the API's error shape too instead of as plain text. Every other
// byte passes unchanged. Connections stay hijackable by the fan-out (they
// forward Detach and SyscallConn).
func Listener(ln net.Listener) net.Listener { return &listener{ln} }

type listener struct{ net.Listener }

func (l *listener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &conn{Conn: c}, nil
}

type conn struct{ net.Conn }

// goErrorHeaders is what net/http writes between the status line and the
// body of the errors it answers before any handler (server.go's
// errorHeaders): no Date and no Content-Length, unlike any handler's answer.
const goErrorHeaders = "\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n"

func (c *conn) Write(b []byte) (int, error) {
	if rewritten, ok := jsonForGoError(b); ok {
		if _, err := c.Conn.Write(rewritten); err != nil {
			return 0, err
		}
		return len(b), nil
	}
	return c.Conn.Write(b)
}

// jsonForGoError turns one of net/http's own plain-text error answers into
// the same answer with a JSON body.
func jsonForGoError(b []byte) ([]byte, bool) {
	const proto = "HTTP/1.1 "
	if len(b) > 1024 || !bytes.HasPrefix(b, []byte(proto)) || len(b) < len(proto)+3 || (b[len(proto)] != '4' && b[len(proto)] != '5') {
		return nil, false
	}
	i := bytes.Index(b, []byte(goErrorHeaders))
	if i < 0 || bytes.IndexByte(b[:i], '\n') >= 0 {
		return nil, false
	}
	line := string(b[len(proto):i])
	// The status line is "NNN Reason", printable ASCII (what net/http writes).
	if len(line) < 4 || line[3] != ' ' {
		return nil, false
	}
	for j := 0; j < len(line); j++ {
		if c := line[j]; c < 0x20 || c > 0x7e || j < 3 && (c < '0' || c > '9') {
			return nil, false
		}
	}
	status, err := strconv.Atoi(line[:3])
	if err != nil {
		return nil, false
	}
	code := "http_" + strconv.Itoa(status)
	switch status {
	case http.StatusBadRequest:
		code = "bad_request"
	case http.StatusRequestHeaderFieldsTooLarge:
		code = "headers_too_large"
	case http.StatusNotImplemented:
		code = "not_implemented"
	case http.StatusHTTPVersionNotSupported:
		code = "http_version_not_supported"
	}
	body, _ := json.Marshal(map[string]any{"error": map[string]string{"code": code, "message": string(b[i+len(goErrorHeaders):])}})
	return rawResponse(line, append(body, '\n')), true
}

// Raw is e as a whole HTTP/1.1 response that closes the connection, for
// a connection taken over from net/http (hijacked) that must still be
// answered in the one error shape.
func Raw(e *Error) []byte {
	body, _ := json.Marshal(map[string]any{"error": map[string]string{"code": e.Code, "message": e.Message}})
	return rawResponse(strconv.Itoa(e.Status)+" "+http.StatusText(e.Status), append(body, '\n'))
}

// rawResponse is a response with status line "NNN Reason" and a JSON body.
func rawResponse(line string, body []byte) []byte {
	var out bytes.Buffer
	out.WriteString("HTTP/1.1 " + line + "\r\nContent-Type: application/json\r\nCache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\nConnection: close\r\nContent-Length: ")
	out.WriteString(strconv.Itoa(len(body)))
	out.WriteString("\r\n\r\n")
	out.Write(body)
	return out.Bytes()
}

// detacher is the fan-out's view of a connection wrapper that can hand over
// its connection (overload's conn): passed through.
type detacher interface {
	Detach() (inner net.Conn, release func())
}

// Detach hands over the wrapped connection, as the connection below does.
func (c *conn) Detach() (net.Conn, func()) {
	if d, ok := c.Conn.(detacher); ok {
		return d.Detach()
	}
	return c.Conn, func() {}
}

// SyscallConn gives the socket of the wrapped connection.
func (c *conn) SyscallConn() (syscall.RawConn, error) {
	if sc, ok := c.Conn.(syscall.Conn); ok {
		return sc.SyscallConn()
	}
	return nil, errors.New("apierror: connection has no socket")
}
