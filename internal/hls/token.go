package hls

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"time"
)

// Tokens are the access control a cache can serve: a room's HLS URLs
// carry a token that is the same for every listener of the room during a
// window (an HMAC of the room and the window number), so every listener
// requests the same URLs and a cache fills each once. The origin checks
// the token on every request that reaches it (once per cache fill); the
// join answer, which is per listener and never cached, hands it out.
// Tokens of the current and the previous window are accepted: a token
// handed out lives one to two windows.
type Tokens struct {
	keys   [][]byte // derived, the current first
	window time.Duration
	now    func() time.Time
}

// DefaultTokenWindow is the token window (config.Default uses it).
const DefaultTokenWindow = time.Hour

const tokenMACLen = 16

// NewTokens derives the token keys from the ticket keys (the current one
// first; the others still verify, as for tickets) with the given window.
func NewTokens(ticketKeys [][]byte, window time.Duration, now func() time.Time) (*Tokens, error) {
	if len(ticketKeys) == 0 {
		return nil, errors.New("hls tokens: no key")
	}
	if window <= 0 {
		window = DefaultTokenWindow
	}
	if now == nil {
		now = time.Now
	}
	t := &Tokens{window: window, now: now}
	for _, k := range ticketKeys {
		d := sha256.Sum256(append([]byte("majlis hls token key v1\x00"), k...))
		t.keys = append(t.keys, d[:])
	}
	return t, nil
}

func (t *Tokens) windowAt(at time.Time) uint64 { return uint64(at.UnixNano() / int64(t.window)) }

func (t *Tokens) mint(key []byte, room string, w uint64) string {
	m := hmac.New(sha256.New, key)
	var wb [8]byte
	binary.BigEndian.PutUint64(wb[:], w)
	m.Write(wb[:])
	m.Write([]byte(room))
	var out [8 + tokenMACLen]byte
	copy(out[:], wb[:])
	copy(out[8:], m.Sum(nil)[:tokenMACLen])
	return base64.RawURLEncoding.EncodeToString(out[:])
}

// Mint returns room's token for the current window.
func (t *Tokens) Mint(room string) string { return t.mint(t.keys[0], room, t.windowAt(t.now())) }

// Valid reports whether tok is room's token of the current or previous window.
func (t *Tokens) Valid(room, tok string) bool {
	if len(tok) != base64.RawURLEncoding.EncodedLen(8+tokenMACLen) {
		return false
	}
	var raw [8 + tokenMACLen]byte
	if n, err := base64.RawURLEncoding.Decode(raw[:], []byte(tok)); err != nil || n != len(raw) {
		return false
	}
	w := binary.BigEndian.Uint64(raw[:8])
	cur := t.windowAt(t.now())
	if w != cur && w+1 != cur {
		return false
	}
	for _, k := range t.keys {
		if hmac.Equal([]byte(tok), []byte(t.mint(k, room, w))) {
			return true
		}
	}
	return false
}
