package admission

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"math/bits"
	"strconv"
	"strings"
	"time"
)

// Proof-of-work errors.
var (
	ErrPoWRequired = errors.New("proof of work required")
	ErrBadPoW      = errors.New("proof of work is malformed, expired, already used or insufficient")
)

// Puzzle format (documented for clients in docs/api.md, "Admission"):
//
//	challenge = base64url(no padding) of
//	    version(1)=1 | difficulty(1) | expires(8, unix seconds, big endian) | id(8) | mac(16)
//	solution  = a decimal counter, 1..20 digits
//	valid     when SHA-256(ASCII(challenge + ":" + solution)) starts with `difficulty` zero bits
//
// The client sends "Majlis-PoW: <challenge>:<solution>". The mac (HMAC-SHA256,
// truncated) makes challenges unforgeable; the id makes each one single-use.
const (
	powVersion    = 1
	powBodyLen    = 18
	powTokenLen   = powBodyLen + macLen
	powTTL        = 2 * time.Minute
	maxSolutionLn = 20
	// MaxPoWHeaderLen bounds what VerifyPoW reads.
	MaxPoWHeaderLen = 128
)

// PoW issues and checks hashcash-style puzzles.
type PoW struct {
	mac  *macPool
	now  func() time.Time
	used *onceSet
}

// NewPoW returns a puzzle issuer keyed with key (any length ≥ 32; derive it from the ticket key).
func NewPoW(key []byte) *PoW {
	return &PoW{mac: newMacPool(deriveKey(key, "majlis pow v1")), now: time.Now, used: newOnceSet(1<<20, powTTL)}
}

func deriveKey(key []byte, label string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(label))
	return m.Sum(nil)
}

// Challenge returns a fresh puzzle of difficulty leading zero bits.
func (p *PoW) Challenge(difficulty int) string {
	var b [powTokenLen]byte
	b[0] = powVersion
	b[1] = byte(difficulty)
	binary.BigEndian.PutUint64(b[2:], uint64(p.now().Add(powTTL).Unix()))
	rand.Read(b[10:18])
	p.mac.sum(b[:powBodyLen], b[:powBodyLen])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// Verify checks a "challenge:solution" header value: our mac, not expired,
// enough zero bits, at least minDifficulty, and never used before. About a
// microsecond: one HMAC and one SHA-256 over ~60 bytes.
func (p *PoW) Verify(header string, minDifficulty int) error {
	if len(header) == 0 || len(header) > MaxPoWHeaderLen {
		return ErrBadPoW
	}
	i := strings.LastIndexByte(header, ':')
	if i < 0 {
		return ErrBadPoW
	}
	ch, sol := header[:i], header[i+1:]
	if len(sol) == 0 || len(sol) > maxSolutionLn {
		return ErrBadPoW
	}
	if _, err := strconv.ParseUint(sol, 10, 64); err != nil {
		return ErrBadPoW
	}
	var b [powTokenLen + 3]byte
	n, err := base64.RawURLEncoding.Decode(b[:], []byte(ch))
	if err != nil || n != powTokenLen || b[0] != powVersion {
		return ErrBadPoW
	}
	var sum [macLen]byte
	if !hmac.Equal(p.mac.sum(sum[:0], b[:powBodyLen]), b[powBodyLen:powTokenLen]) {
		return ErrBadPoW
	}
	diff := int(b[1])
	now := p.now()
	exp := int64(binary.BigEndian.Uint64(b[2:10]))
	if diff < minDifficulty || now.Unix() >= exp {
		return ErrBadPoW
	}
	if leadingZeroBits([]byte(header)) < diff {
		return ErrBadPoW
	}
	if !p.used.use(binary.BigEndian.Uint64(b[10:18]), now.UnixNano()) {
		return ErrBadPoW
	}
	return nil
}

func leadingZeroBits(s []byte) int {
	h := sha256.Sum256(s)
	n := 0
	for i := 0; i < len(h); i += 8 {
		v := binary.BigEndian.Uint64(h[i:])
		z := bits.LeadingZeros64(v)
		n += z
		if z < 64 {
			break
		}
	}
	return n
}

// Solve finds a solution to challenge by brute force (tests, tools, the load
// generator): it returns the full header value "challenge:solution".
func Solve(challenge string) string {
	b, err := base64.RawURLEncoding.DecodeString(challenge)
	if err != nil || len(b) < 2 {
		return challenge + ":0"
	}
	diff := int(b[1])
	buf := make([]byte, 0, len(challenge)+24)
	buf = append(buf, challenge...)
	buf = append(buf, ':')
	base := len(buf)
	for c := uint64(0); ; c++ {
		buf = strconv.AppendUint(buf[:base], c, 10)
		if leadingZeroBits(buf) >= diff {
			return string(buf)
		}
	}
}
