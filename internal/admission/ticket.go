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
	"sync/atomic"
	"time"
)

// Ticket errors; the HTTP layer maps both to 401 with codes bad_ticket and expired_ticket.
var (
	ErrBadTicket     = errors.New("ticket is malformed or its signature does not match")
	ErrExpiredTicket = errors.New("ticket has expired")
)

const (
	ticketV1      = 1  // no key id: verified with every key
	ticketVersion = 2  // version(1) kid(1) expires(8) nonce(8) roomlen(1) room mac(16)
	ticketUser    = 3  // a signed-in join's: version 2's fields, then userlen(1) user, then mac(16)
	macLen        = 16 // truncated HMAC-SHA256: 128 bits is ample for a ticket living minutes
	maxRoomLen    = 64
	// MaxUserLen bounds the user id a ticket carries.
	MaxUserLen = 64
	// MaxTicketLen bounds what Verify reads from the network.
	MaxTicketLen = 256
	keyLen       = 32
)

// Ticket is what a verified ticket says.
type Ticket struct {
	Room    string
	Expires time.Time
	Nonce   uint64 // unique per ticket (one connection per ticket is enforced by callers)
	// User is the id of the signed-in user the ticket was issued to ("":
	// an anonymous join). It is signed with the rest, so a listener
	// cannot claim another's name.
	User string
}

// Signer mints tickets with its current key and verifies them with any of
// its keys: keys rotate by putting a new key first while the old one stays
// (second) for a ticket lifetime, on every process. The key set is an
// immutable value swapped atomically (SetKeys), so a live rotation costs
// Verify one atomic load and no lock.
type Signer struct {
	set atomic.Pointer[keySet]
	ttl time.Duration
	now func() time.Time
}

// keySet is a signer's keys, current first. Immutable once stored.
type keySet struct {
	keys [][]byte // copies, current first
	cur  verifyKey
	olds []verifyKey
}

type verifyKey struct {
	kid byte
	mp  *macPool
}

// KeyID names a key inside tickets and key messages (one byte: a hint to
// pick the key, not a secret).
func KeyID(key []byte) byte {
	h := sha256.Sum256(append([]byte("majlis ticket kid "), key...))
	return h[0]
}

// KeyLen is the length of a ticket key.
const KeyLen = keyLen

// NewSigner returns a signer with a key of 32 bytes and ticket lifetime ttl.
func NewSigner(key []byte, ttl time.Duration) (*Signer, error) {
	return NewSignerKeys([][]byte{key}, ttl)
}

// NewSignerKeys returns a signer minting with keys[0] and also accepting
// tickets signed with the others (a rotation in progress).
func NewSignerKeys(keys [][]byte, ttl time.Duration) (*Signer, error) {
	s := &Signer{ttl: ttl, now: time.Now}
	if err := s.SetKeys(keys); err != nil {
		return nil, err
	}
	return s, nil
}

// SetKeys replaces the signer's keys (current first) while it runs:
// tickets minted from now on use keys[0]; every key of keys verifies.
func (s *Signer) SetKeys(keys [][]byte) error {
	if len(keys) == 0 {
		return errors.New("ticket key: none")
	}
	ks := &keySet{}
	for i, k := range keys {
		if len(k) < keyLen {
			return fmt.Errorf("ticket key: need %d bytes, have %d", keyLen, len(k))
		}
		k = append([]byte(nil), k...)
		ks.keys = append(ks.keys, k)
		vk := verifyKey{kid: KeyID(k), mp: newMacPool(k)}
		if i == 0 {
			ks.cur = vk
		} else {
			ks.olds = append(ks.olds, vk)
		}
	}
	s.set.Store(ks)
	return nil
}

// Keys returns a copy of the signer's keys, current first.
func (s *Signer) Keys() [][]byte {
	ks := s.set.Load()
	out := make([][]byte, len(ks.keys))
	for i, k := range ks.keys {
		out[i] = append([]byte(nil), k...)
	}
	return out
}

// LoadKeys reads every key of the key file in dir (32-byte records, the
// current one first), creating the file with one key on first use.
func LoadKeys(dir string) ([][]byte, error) {
	if _, err := LoadOrCreateKey(dir); err != nil {
		return nil, err
	}
	b, err := os.ReadFile(filepath.Join(dir, "ticket.key"))
	if err != nil {
		return nil, fmt.Errorf("ticket key: %w", err)
	}
	var keys [][]byte
	for len(b) >= keyLen {
		keys = append(keys, b[:keyLen:keyLen])
		b = b[keyLen:]
	}
	return keys, nil
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

// Issue mints an anonymous ticket for room.
func (s *Signer) Issue(room string) (string, Ticket, error) { return s.IssueFor(room, "") }

// IssueFor mints a ticket for room issued to the signed-in user ("":
// anonymous, the same ticket as Issue's).
func (s *Signer) IssueFor(room, user string) (string, Ticket, error) {
	if len(room) == 0 || len(room) > maxRoomLen {
		return "", Ticket{}, fmt.Errorf("issue ticket: room id length %d", len(room))
	}
	if len(user) > MaxUserLen {
		return "", Ticket{}, fmt.Errorf("issue ticket: user id length %d", len(user))
	}
	ks := s.set.Load()
	var nb [8]byte
	rand.Read(nb[:])
	t := Ticket{Room: room, Expires: s.now().Add(s.ttl).Truncate(time.Second), Nonce: binary.BigEndian.Uint64(nb[:]), User: user}
	// payload: version(1) kid(1) expires(8, unix s) nonce(8) roomlen(1) room [userlen(1) user]
	v := byte(ticketVersion)
	if user != "" {
		v = ticketUser
	}
	p := make([]byte, 0, 20+len(room)+len(user)+macLen)
	p = append(p, v, ks.cur.kid)
	p = binary.BigEndian.AppendUint64(p, uint64(t.Expires.Unix()))
	p = binary.BigEndian.AppendUint64(p, t.Nonce)
	p = append(p, byte(len(room)))
	p = append(p, room...)
	if user != "" {
		p = append(p, byte(len(user)))
		p = append(p, user...)
	}
	var sum [macLen]byte
	p = append(p, ks.cur.mp.sum(sum[:0], p)...)
	return base64.RawURLEncoding.EncodeToString(p), t, nil
}

// signed checks sig over body with the key the ticket names (v2, v3) or any key (v1).
func (s *Signer) signed(body, sig []byte) bool {
	ks := s.set.Load()
	var sum [macLen]byte
	v2 := (body[0] == ticketVersion || body[0] == ticketUser) && len(body) > 1
	if !v2 || body[1] == ks.cur.kid {
		if hmac.Equal(sig, ks.cur.mp.sum(sum[:0], body)) {
			return true
		}
	}
	for _, k := range ks.olds {
		if !v2 || body[1] == k.kid {
			if hmac.Equal(sig, k.mp.sum(sum[:0], body)) {
				return true
			}
		}
	}
	return false
}

// Verify checks a ticket's signature and expiry and that it is for room.
func (s *Signer) Verify(tok, room string) (Ticket, error) { return s.verify(tok, room, 0) }

// VerifyLapsed is Verify that also takes a ticket expired less than grace
// ago: a ticket a client renewed, which it names to be forgotten (only its
// holder can name it: the signature is the proof).
func (s *Signer) VerifyLapsed(tok, room string, grace time.Duration) (Ticket, error) {
	return s.verify(tok, room, grace)
}

// TTL is the lifetime of the tickets the signer issues.
func (s *Signer) TTL() time.Duration { return s.ttl }

// Issued is when t was issued, on the issuer's clock, as far as the ticket
// tells: its expiry (whole seconds) less the lifetime, so at most a second
// before the real time, never after. A removal at or after it
// (room.Service.ListenerRemoved, the edges) refuses the ticket; one just
// after it, within the second, does too: fail closed.
func (s *Signer) Issued(t Ticket) time.Time { return t.Expires.Add(-s.ttl) }

func (s *Signer) verify(tok, room string, grace time.Duration) (Ticket, error) {
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
	if !s.signed(body, sig) {
		return Ticket{}, ErrBadTicket
	}
	withUser := body[0] == ticketUser
	switch body[0] {
	case ticketVersion, ticketUser:
		body = body[1:] // drop the version: the kid takes its place below
	case ticketV1:
	default:
		return Ticket{}, ErrBadTicket
	}
	if len(body) < 18 {
		return Ticket{}, ErrBadTicket
	}
	roomEnd := 18 + int(body[17])
	var user []byte
	if withUser {
		// room, then userlen(1) user: a v3 ticket always names a user.
		if roomEnd >= len(body) || int(body[roomEnd]) != len(body)-roomEnd-1 || body[roomEnd] == 0 {
			return Ticket{}, ErrBadTicket
		}
		user = body[roomEnd+1:]
	} else if roomEnd != len(body) {
		return Ticket{}, ErrBadTicket
	}
	t := Ticket{
		Expires: time.Unix(int64(binary.BigEndian.Uint64(body[1:9])), 0),
		Nonce:   binary.BigEndian.Uint64(body[9:17]),
		Room:    string(body[18:roomEnd]),
		User:    string(user),
	}
	if t.Room != room {
		return Ticket{}, ErrBadTicket
	}
	if !s.now().Before(t.Expires.Add(grace)) {
		return Ticket{}, ErrExpiredTicket
	}
	return t, nil
}
