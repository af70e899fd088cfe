package account

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"sync"

	"golang.org/x/crypto/argon2"
)

// Default argon2id parameters: OWASP's second recommended set (19 MiB, 2 passes, 1 lane).
const (
	DefaultTime      = 2
	DefaultMemoryKiB = 19 * 1024
	argonThreads     = 1
	argonKeyLen      = 32
	saltLen          = 16

	MinPassword = 8
	MaxPassword = 256
)

// ErrBadHash is returned for a stored hash that cannot be parsed.
var ErrBadHash = errors.New("account: malformed password hash")

var b64 = base64.RawStdEncoding

// Hasher hashes passwords with argon2id.
type Hasher struct {
	Time      uint32 // passes, default DefaultTime
	MemoryKiB uint32 // default DefaultMemoryKiB

	dummy     sync.Once
	dummyHash string
}

// Hash returns the PHC-style encoding of password's argon2id hash.
func (h *Hasher) Hash(password string) string {
	t, m := h.Time, h.MemoryKiB
	if t == 0 {
		t = DefaultTime
	}
	if m == 0 {
		m = DefaultMemoryKiB
	}
	salt := make([]byte, saltLen)
	rand.Read(salt)
	key := argon2.IDKey([]byte(password), salt, t, m, argonThreads, argonKeyLen)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, m, t, argonThreads, b64.EncodeToString(salt), b64.EncodeToString(key))
}

// CheckDummy spends the time of one Check: a login naming no user takes as
// long as one with a wrong password, so timing does not tell which names exist.
func (h *Hasher) CheckDummy(password string) {
	h.dummy.Do(func() { h.dummyHash = h.Hash("majlis-no-such-user") })
	Check(h.dummyHash, password)
}

// Check says whether password matches encoded (from Hash). The parameters
// are read from encoded, so older hashes keep working after a change.
func Check(encoded, password string) (bool, error) {
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return false, ErrBadHash
	}
	var v int
	var m, t uint32
	var p uint8
	if _, err := fmt.Sscanf(parts[2], "v=%d", &v); err != nil || v != argon2.Version {
		return false, ErrBadHash
	}
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &m, &t, &p); err != nil || m == 0 || m > 1<<20 || t == 0 || t > 16 || p == 0 {
		return false, ErrBadHash
	}
	salt, err := b64.DecodeString(parts[4])
	if err != nil {
		return false, ErrBadHash
	}
	want, err := b64.DecodeString(parts[5])
	if err != nil || len(want) == 0 || len(want) > 128 {
		return false, ErrBadHash
	}
	got := argon2.IDKey([]byte(password), salt, t, m, p, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}

// ValidPassword says whether a password is acceptable.
func ValidPassword(p string) bool { return len(p) >= MinPassword && len(p) <= MaxPassword }
