package program

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// Level is one speaker's loudness over a chunk, as carried in the
// WebSocket message (docs/listen-protocol.md): the speaker's key
// (audio.SpeakerKey of its member id) and its level in dB above
// -LevelFloor dBFS, 1..LevelFloor (LevelFloor is full scale).
type Level struct {
	Speaker uint32
	Level   uint8
}

const (
	// LevelFloor is the level scale: a Level of v is v - LevelFloor dBFS.
	LevelFloor = 100
	// MaxChunkLevels bounds the speakers listed in one chunk: more than
	// this many voices at once are not a conversation.
	MaxChunkLevels = 32
	// wsLevelLen is one entry of the levels trailer: key and level.
	wsLevelLen = 4 + 1
)

// LevelFromRMS maps an RMS level (0..1 of full scale) to the Level scale,
// rounded to whole dB; 0 means at or below -LevelFloor dBFS.
func LevelFromRMS(rms float64) uint8 {
	if rms <= 0 {
		return 0
	}
	db := 20*math.Log10(rms) + LevelFloor
	return uint8(min(max(math.Round(db), 0), LevelFloor))
}

// NoteLevel records a speaker's level for the chunk being gathered; the
// chunk carries the loudest level noted for each speaker since the last
// one, and nothing when none was noted (nobody talked). A level of 0 is
// not noted. Only the WriteFrame goroutine may call it, before the
// WriteFrame of the frame the level belongs to.
func (p *Program) NoteLevel(speaker uint32, level uint8) {
	if level == 0 {
		return
	}
	for i := range p.nlv {
		if l := &p.lv[i]; l.Speaker == speaker {
			l.Level = max(l.Level, level)
			return
		}
	}
	if p.nlv < MaxChunkLevels {
		p.lv[p.nlv] = Level{speaker, level}
		p.nlv++
	}
}

// SpeakingLevel is the Level at or above which a speaker counts as
// talking (-50 dBFS, well over a quiet microphone's floor and under any
// speech): the listener page rings them, and the room's speaking events
// list them. Levels fall by about 0.9 dB per 20 ms after speech stops, so
// a talker stays over it through the pauses between words.
const SpeakingLevel = 50

// RMSOfLevel is the lowest RMS level (0..1 of full scale) that
// LevelFromRMS maps to level or above.
func RMSOfLevel(level uint8) float64 {
	return math.Pow(10, (float64(level)-0.5-LevelFloor)/20)
}

// ErrLevels is wrapped by every ParseLevels error.
var ErrLevels = errors.New("malformed level list")

// ParseLevels decodes a level list as it ends a version 2 WebSocket chunk
// message (a count k, 1..255, then k times a 4-byte speaker key and a
// level byte): all of b, or nothing when b is empty. It allocates one
// slice of at most 255 levels, never panics.
func ParseLevels(b []byte) ([]Level, error) {
	if len(b) == 0 {
		return nil, nil
	}
	k := int(b[0])
	if k == 0 || len(b) != 1+wsLevelLen*k {
		return nil, fmt.Errorf("%w: %d levels in %d bytes", ErrLevels, k, len(b)-1)
	}
	out := make([]Level, k)
	for i := range k {
		e := b[1+wsLevelLen*i:]
		out[i] = Level{Speaker: binary.BigEndian.Uint32(e), Level: e[4]}
	}
	return out, nil
}

// LevelList is the level list that ends the chunk's WebSocket message
// (ParseLevels reads it), empty when nobody spoke in the chunk. It
// aliases the chunk: do not modify it.
func (c *Chunk) LevelList() []byte {
	n := wsHeaderLen
	for _, f := range c.Frames {
		n += 2 + len(f)
	}
	return c.WS[n:]
}
