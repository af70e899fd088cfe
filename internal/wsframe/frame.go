package wsframe

import (
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
)

// Opcodes (RFC 6455 section 5.2).
const (
	OpContinuation byte = 0x0
	OpText         byte = 0x1
	OpBinary       byte = 0x2
	OpClose        byte = 0x8
	OpPing         byte = 0x9
	OpPong         byte = 0xA
)

// MaxHeaderLen is the longest frame header: 2 bytes, an 8-byte extended
// length and a 4-byte mask key.
const MaxHeaderLen = 2 + 8 + 4

// MaxControlPayload is the most payload a control frame (close, ping, pong)
// may carry (RFC 6455 section 5.5).
const MaxControlPayload = 125

// Close status codes used by this project (RFC 6455 section 7.4.1).
const (
	CloseNormal        uint16 = 1000
	CloseGoingAway     uint16 = 1001
	CloseProtocolError uint16 = 1002
	ClosePolicy        uint16 = 1008
	CloseTooBig        uint16 = 1009
	CloseInternal      uint16 = 1011
	CloseTryAgainLater uint16 = 1013
)

// ErrProtocol is wrapped by every error of Header.Check.
var ErrProtocol = errors.New("websocket protocol error")

// AppendHeader appends the header of one final, unmasked (server-to-client)
// frame of opcode op carrying n payload bytes, with the shortest length
// encoding (RFC 6455 section 5.2).
func AppendHeader(dst []byte, op byte, n int) []byte {
	dst = append(dst, 0x80|op)
	switch {
	case n < 126:
		return append(dst, byte(n))
	case n <= 0xFFFF:
		return binary.BigEndian.AppendUint16(append(dst, 126), uint16(n))
	}
	return binary.BigEndian.AppendUint64(append(dst, 127), uint64(n))
}

// AppendFrame appends one final, unmasked frame of opcode op with payload.
func AppendFrame(dst []byte, op byte, payload []byte) []byte {
	return append(AppendHeader(dst, op, len(payload)), payload...)
}

// AppendMasked appends one final, masked (client-to-server) frame of opcode
// op with payload, masked with key (RFC 6455 section 5.3).
func AppendMasked(dst []byte, op byte, key [4]byte, payload []byte) []byte {
	start := len(dst)
	dst = AppendHeader(dst, op, len(payload))
	dst[start+1] |= 0x80
	dst = append(dst, key[:]...)
	return AppendUnmasked(dst, payload, key, 0) // masking is its own inverse
}

// CloseFrame is a server close frame with status code and reason (at most
// MaxControlPayload-2 bytes; the caller keeps it short).
func CloseFrame(code uint16, reason string) []byte {
	b := AppendHeader(make([]byte, 0, 4+len(reason)), OpClose, 2+len(reason))
	b = binary.BigEndian.AppendUint16(b, code)
	return append(b, reason...)
}

// AppendUnmasked appends b, payload bytes starting at offset off of a frame
// masked with key, unmasked (RFC 6455 section 5.3).
func AppendUnmasked(dst, b []byte, key [4]byte, off uint64) []byte {
	for i, c := range b {
		dst = append(dst, c^key[(off+uint64(i))%4])
	}
	return dst
}

// Header is a decoded frame header.
type Header struct {
	Fin    bool
	RSV    byte // the three reserved bits, as bits 0x40, 0x20, 0x10
	Op     byte
	Masked bool
	Key    [4]byte // the mask key, when Masked
	Len    uint64  // payload length
}

// IsControl reports whether the frame is a control frame (close, ping, pong
// and the reserved control opcodes).
func (h Header) IsControl() bool { return h.Op >= 0x8 }

// Check applies RFC 6455's rules to a header arriving at one end of a
// connection: fromClient frames must be masked and server frames must not
// (section 5.1), no reserved bit is set (no extension is negotiated here),
// the opcode is known, and a control frame is final and carries at most
// MaxControlPayload bytes (section 5.5).
func (h Header) Check(fromClient bool) error {
	switch {
	case h.Masked != fromClient && fromClient:
		return fmt.Errorf("%w: unmasked client frame", ErrProtocol)
	case h.Masked != fromClient:
		return fmt.Errorf("%w: masked server frame", ErrProtocol)
	case h.RSV != 0:
		return fmt.Errorf("%w: reserved bits %#x", ErrProtocol, h.RSV)
	case h.Op > OpBinary && h.Op < OpClose || h.Op > OpPong:
		return fmt.Errorf("%w: opcode %d", ErrProtocol, h.Op)
	case h.IsControl() && (h.Len > MaxControlPayload || !h.Fin):
		return fmt.Errorf("%w: control frame of %d bytes, final %v", ErrProtocol, h.Len, h.Fin)
	}
	return nil
}

// acceptGUID is the key suffix of the Sec-WebSocket-Accept hash.
const acceptGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

// AcceptKey is the Sec-WebSocket-Accept value answering a handshake with
// Sec-WebSocket-Key key (RFC 6455 section 4.2.2).
func AcceptKey(key string) string {
	sum := sha1.Sum([]byte(key + acceptGUID))
	return base64.StdEncoding.EncodeToString(sum[:])
}
