// Package admission decides who may listen: it mints and verifies join
// tickets. A ticket is a short-lived HMAC-SHA256 signed permission to listen
// to one room; verifying it needs only the key, never the store, so any
// process holding the key (origin or edge) checks it in about a microsecond.
package admission

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// Ticket errors; the HTTP layer maps both to 401 with codes bad_ticket and expired_ticket.
var (
	ErrBadTicket     = errors.New("ticket is malformed or its signature does not match")
	ErrExpiredTicket = errors.New("ticket has expired")
)

const (
	ticketVersion = 1
	macLen        = 16 // truncated HMAC-SHA256: 128 bits is ample for a ticket living minutes
	maxRoomLen    = 64
	// MaxTicketLen bounds what Verify reads from the network.
	MaxTicketLen = 256
	keyLen       = 32
)

// Ticket is what a verified ticket says.
type Ticket struct {
	Room    string
	Expires time.Time
	Nonce   uint64 // unique per ticket (one connection per ticket is enforced by callers)
}

// Signer mints and verifies tickets with a key.
type Signer struct {
	key []byte
	ttl time.Duration
	now func() time.Time
}

// NewSigner returns a signer with a key of 32 bytes and ticket lifetime ttl.
func NewSigner(key []byte, ttl time.Duration) (*Signer, error) {
	if len(key) < keyLen {
		return nil, fmt.Errorf("ticket key: need %d bytes, have %d", keyLen, len(key))
	}
	return &Signer{key: append([]byte(nil), key...), ttl: ttl, now: time.Now}, nil
}

// LoadOrCreateKey reads the ticket key file in dir, creating it (mode 0600) on first use,
// so every process sharing the data dir verifies the same tickets.
func LoadOrCreateKey(dir string) ([]byte, error) {
	path := filepath.Join(dir, "ticket.key")
	b, err := os.ReadFile(path)
	if err == nil {
		if len(b) < keyLen {
			return nil, fmt.Errorf("ticket key %s: too short", path)
		}
		return b[:keyLen], nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("ticket key: %w", err)
	}
	b = make([]byte, keyLen)
	rand.Read(b)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		if errors.Is(err, os.ErrExist) { // another process won the race
			return LoadOrCreateKey(dir)
		}
		return nil, fmt.Errorf("ticket key: %w", err)
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return nil, fmt.Errorf("ticket key: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return nil, fmt.Errorf("ticket key: %w", err)
	}
	return b, f.Close()
}

// Issue mints a ticket for room.
func (s *Signer) Issue(room string) (string, Ticket, error) {
	if len(room) == 0 || len(room) > maxRoomLen {
		return "", Ticket{}, fmt.Errorf("issue ticket: room id length %d", len(room))
	}
	var nb [8]byte
	rand.Read(nb[:])
	t := Ticket{Room: room, Expires: s.now().Add(s.ttl).Truncate(time.Second), Nonce: binary.BigEndian.Uint64(nb[:])}
	// payload: version(1) expires(8, unix s) nonce(8) roomlen(1) room
	p := make([]byte, 0, 18+len(room)+macLen)
	p = append(p, ticketVersion)
	p = binary.BigEndian.AppendUint64(p, uint64(t.Expires.Unix()))
	p = binary.BigEndian.AppendUint64(p, t.Nonce)
	p = append(p, byte(len(room)))
	p = append(p, room...)
	p = append(p, s.mac(p)...)
	return base64.RawURLEncoding.EncodeToString(p), t, nil
}

func (s *Signer) mac(p []byte) []byte {
	m := hmac.New(sha256.New, s.key)
	m.Write(p)
	return m.Sum(nil)[:macLen]
}

// Verify checks a ticket's signature and expiry and that it is for room.
func (s *Signer) Verify(tok, room string) (Ticket, error) {
	if len(tok) == 0 || len(tok) > MaxTicketLen {
		return Ticket{}, ErrBadTicket
	}
	var buf [MaxTicketLen]byte
	n, err := base64.RawURLEncoding.Decode(buf[:], []byte(tok))
	if err != nil || n < 18+macLen {
		return Ticket{}, ErrBadTicket
	}
	p := buf[:n]
	body, sig := p[:n-macLen], p[n-macLen:]
	if !hmac.Equal(sig, s.mac(body)) {
		return Ticket{}, ErrBadTicket
	}
	if body[0] != ticketVersion || int(body[17]) != len(body)-18 {
		return Ticket{}, ErrBadTicket
	}
	t := Ticket{
		Expires: time.Unix(int64(binary.BigEndian.Uint64(body[1:9])), 0),
		Nonce:   binary.BigEndian.Uint64(body[9:17]),
		Room:    string(body[18:]),
	}
	if t.Room != room {
		return Ticket{}, ErrBadTicket
	}
	if !s.now().Before(t.Expires) {
		return Ticket{}, ErrExpiredTicket
	}
	return t, nil
}
