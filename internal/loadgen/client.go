package loadgen

import (
	"bufio"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
)

// headBufSize is the read buffer for a listener's response head only; the
// stream body is read by the receive loop without a per-listener buffer.
const headBufSize = 4096

// Errors of the listener clients.
var (
	errStatus  = errors.New("unexpected HTTP status")
	errFraming = errors.New("bad stream framing")
)

// handshake sends the listen request for s's protocol (absolute URL u,
// with ticket) over conn and reads the response head. It sets up s's
// parser for the body and returns the body bytes that came with the head.
func handshake(conn net.Conn, u *url.URL, s *stream) ([]byte, error) {
	br := bufio.NewReaderSize(conn, headBufSize)
	if s.isWS {
		if err := wsHandshake(conn, br, u); err != nil {
			return nil, err
		}
	} else {
		chunked, err := oggHandshake(conn, br, u)
		if err != nil {
			return nil, err
		}
		s.ogg.chunked = chunked
	}
	rest, _ := br.Peek(br.Buffered())
	return rest, nil
}

func writeRequest(conn net.Conn, u *url.URL, extra string) error {
	_, err := fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: majlis-loadgen\r\n%s\r\n", u.RequestURI(), u.Host, extra)
	return err
}

func readResponse(br *bufio.Reader, want int) (*http.Response, error) {
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return nil, fmt.Errorf("response: %w", err)
	}
	if resp.StatusCode != want {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return nil, fmt.Errorf("%w %d: %s", errStatus, resp.StatusCode, strings.TrimSpace(string(b)))
	}
	return resp, nil
}

// oggHandshake requests an Ogg/Opus stream over HTTP/1.1 and reports
// whether its body is chunked.
func oggHandshake(conn net.Conn, br *bufio.Reader, u *url.URL) (bool, error) {
	if err := writeRequest(conn, u, ""); err != nil {
		return false, err
	}
	resp, err := readResponse(br, http.StatusOK)
	if err != nil {
		return false, err
	}
	if ct := resp.Header.Get("Content-Type"); ct != "audio/ogg" {
		return false, fmt.Errorf("%w: content type %q", errFraming, ct)
	}
	return len(resp.TransferEncoding) > 0 && resp.TransferEncoding[0] == "chunked", nil
}

// wsHandshake performs a minimal RFC 6455 client handshake.
func wsHandshake(conn net.Conn, br *bufio.Reader, u *url.URL) error {
	var key [16]byte
	rand.Read(key[:])
	k := base64.StdEncoding.EncodeToString(key[:])
	hu := *u
	hu.Scheme = "http"
	extra := "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: " + k +
		"\r\nOrigin: http://" + u.Host + "\r\n"
	if err := writeRequest(conn, &hu, extra); err != nil {
		return err
	}
	_, err := readResponse(br, http.StatusSwitchingProtocols)
	return err
}
