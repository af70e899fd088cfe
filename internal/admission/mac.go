package admission

import (
	"crypto/hmac"
	"crypto/sha256"
	"hash"
	"sync"
)

// macPool reuses keyed HMAC-SHA256 states: hmac.New costs two allocations
// and two key schedules, which dominated verifying tickets and puzzles.
type macPool struct{ p sync.Pool }

func newMacPool(key []byte) *macPool {
	k := append([]byte(nil), key...)
	return &macPool{p: sync.Pool{New: func() any { return hmac.New(sha256.New, k) }}}
}

// sum appends the truncated MAC of b to dst.
func (m *macPool) sum(dst, b []byte) []byte { return m.sumWith(dst, b, nil) }

// sumWith appends the truncated MAC of b followed by extra (bound to the
// token without being carried in it) to dst.
func (m *macPool) sumWith(dst, b, extra []byte) []byte {
	h := m.p.Get().(hash.Hash)
	h.Reset()
	h.Write(b)
	h.Write(extra)
	var out [sha256.Size]byte
	s := h.Sum(out[:0])
	m.p.Put(h)
	return append(dst, s[:macLen]...)
}
