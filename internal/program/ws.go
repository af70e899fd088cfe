package program

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// WSMessage is one decoded WebSocket chunk message.
type WSMessage struct {
	FirstSeq     uint64 // program frame number of Frames[0]
	Timestamp    uint64 // 48 kHz sample position of the start of Frames[0]
	FrameSamples int    // duration of each frame in 48 kHz samples
	Frames       [][]byte
	// Levels are the speakers heard in the chunk, loudest level of each
	// (version 2; none when nobody talked).
	Levels []Level
}

// ErrWSMessage is wrapped by every ParseWS error.
var ErrWSMessage = errors.New("malformed ws chunk message")

// ParseWS decodes a WebSocket chunk message of version 2 (or 1, which has
// no levels). Frames alias msg (no copy). It never panics, and allocates at
// most one slice of at most 255 headers and one of at most 255 levels.
func ParseWS(msg []byte) (WSMessage, error) {
	if len(msg) < wsHeaderLen {
		return WSMessage{}, fmt.Errorf("%w: %d bytes, header needs %d", ErrWSMessage, len(msg), wsHeaderLen)
	}
	if msg[0] != WSVersion && msg[0] != 1 {
		return WSMessage{}, fmt.Errorf("%w: version %d, want %d", ErrWSMessage, msg[0], WSVersion)
	}
	m := WSMessage{
		FirstSeq:     binary.BigEndian.Uint64(msg[1:]),
		Timestamp:    binary.BigEndian.Uint64(msg[9:]),
		FrameSamples: int(binary.BigEndian.Uint16(msg[17:])),
	}
	if m.FrameSamples == 0 {
		return WSMessage{}, fmt.Errorf("%w: zero frame duration", ErrWSMessage)
	}
	n := int(msg[19])
	if n == 0 {
		return WSMessage{}, fmt.Errorf("%w: no frames", ErrWSMessage)
	}
	rest := msg[wsHeaderLen:]
	// Each frame needs at least its 2-byte length: reject before allocating.
	if len(rest) < 2*n {
		return WSMessage{}, fmt.Errorf("%w: %d frames in %d bytes", ErrWSMessage, n, len(rest))
	}
	m.Frames = make([][]byte, n)
	for i := range n {
		if len(rest) < 2 {
			return WSMessage{}, fmt.Errorf("%w: frame %d: truncated length", ErrWSMessage, i)
		}
		l := int(binary.BigEndian.Uint16(rest))
		rest = rest[2:]
		if l > len(rest) {
			return WSMessage{}, fmt.Errorf("%w: frame %d: %d bytes, %d left", ErrWSMessage, i, l, len(rest))
		}
		m.Frames[i] = rest[:l:l]
		rest = rest[l:]
	}
	if len(rest) == 0 {
		return m, nil
	}
	if msg[0] == 1 {
		return WSMessage{}, fmt.Errorf("%w: %d trailing bytes", ErrWSMessage, len(rest))
	}
	lv, err := ParseLevels(rest)
	if err != nil {
		return WSMessage{}, fmt.Errorf("%w: %w", ErrWSMessage, err)
	}
	m.Levels = lv
	return m, nil
}
