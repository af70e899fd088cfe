package cluster

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"majlis/internal/admission"
)

// The origin's ticket keys reach its edges on subjectKeys: at each
// rotation and every DefaultKeysInterval (delivery is at most once, so an
// edge that missed one message takes the next). A key never travels in
// clear: the message holds the whole key set sealed (AES-256-GCM) under a
// key derived from each key of the set, tagged with that key's id, so an
// edge holding any one of them opens it, and a listener on the cluster
// holding none learns nothing and can forge nothing.
//
// Message: version(1) wraps(1), then per wrap: kid(1) nonce(12)
// sealedlen(2) sealed, where sealed opens to keys(1) and keys×32 bytes,
// current first, and is bound to the version and kid (additional data).
const (
	subjectKeys = "majlis.keys"
	// DefaultKeysInterval is how often an origin repeats its key set.
	DefaultKeysInterval = 10 * time.Second
	// maxKeyWraps bounds the wraps of a message and the keys of a set (an
	// origin holds admission.MaxKeys).
	maxKeyWraps  = 4
	keyLen       = admission.KeyLen
	keyNonceLen  = 12
	keyTagLen    = 16
	keyWrapLabel = "majlis ticket key wrap"
)

// ErrKeysUnknown: no wrap of a key-set message is under a key this
// process holds (it missed more than one rotation, or the message is not
// its origin's).
var ErrKeysUnknown = errors.New("cluster: key set sealed under no key held here")

// KeysMsg is a key-set message: one set sealed under each of its keys.
type KeysMsg struct {
	Wraps []KeyWrap
}

// KeyWrap is the key set sealed under one key of it.
type KeyWrap struct {
	KID    byte // admission.KeyID of the key it is sealed under
	Nonce  [keyNonceLen]byte
	Sealed []byte // aliases the message's bytes when parsed
}

// wrapAEAD is the AEAD of the wrap under key.
func wrapAEAD(key []byte) cipher.AEAD {
	k := sha256.Sum256(append([]byte(keyWrapLabel), key...))
	block, err := aes.NewCipher(k[:])
	if err != nil {
		panic(err) // a 32-byte key always makes a cipher
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		panic(err)
	}
	return aead
}

func wrapAD(kid byte) []byte { return []byte{'k', 'e', 'y', 's', Version, kid} }

// SealKeys seals keys (current first) under each of them, with random nonces.
func SealKeys(keys [][]byte) (KeysMsg, error) {
	if len(keys) == 0 || len(keys) > maxKeyWraps {
		return KeysMsg{}, errors.New("cluster: seal keys: 1 to 4 keys")
	}
	plain := []byte{byte(len(keys))}
	for _, k := range keys {
		if len(k) != keyLen {
			return KeysMsg{}, errors.New("cluster: seal keys: a key is not 32 bytes")
		}
		plain = append(plain, k...)
	}
	m := KeysMsg{Wraps: make([]KeyWrap, len(keys))}
	for i, k := range keys {
		w := &m.Wraps[i]
		w.KID = admission.KeyID(k)
		rand.Read(w.Nonce[:])
		w.Sealed = wrapAEAD(k).Seal(nil, w.Nonce[:], plain, wrapAD(w.KID))
	}
	return m, nil
}

// Open returns the key set of the first wrap that opens under one of
// have: ErrKeysUnknown when no wrap names a key of have, ErrBadMessage
// when those that do fail to open (altered, or sealed by another) or
// hold a malformed set.
func (m KeysMsg) Open(have [][]byte) ([][]byte, error) {
	tried := false
	for _, w := range m.Wraps {
		for _, k := range have {
			if len(k) != keyLen || admission.KeyID(k) != w.KID {
				continue
			}
			tried = true
			plain, err := wrapAEAD(k).Open(nil, w.Nonce[:], w.Sealed, wrapAD(w.KID))
			if err != nil {
				continue // a kid is one byte: another key may share it
			}
			if len(plain) == 0 {
				return nil, bad("keys: key set")
			}
			n := int(plain[0])
			if n == 0 || n > maxKeyWraps || len(plain) != 1+n*keyLen {
				return nil, bad("keys: key set")
			}
			keys := make([][]byte, n)
			for i := range keys {
				keys[i] = plain[1+i*keyLen : 1+(i+1)*keyLen : 1+(i+1)*keyLen]
			}
			return keys, nil
		}
	}
	if !tried {
		return nil, ErrKeysUnknown
	}
	return nil, bad("keys: no wrap opens")
}

// AppendKeys appends the encoding of m.
func AppendKeys(b []byte, m KeysMsg) []byte {
	b = append(b, Version, byte(len(m.Wraps)))
	for _, w := range m.Wraps {
		b = append(b, w.KID)
		b = append(b, w.Nonce[:]...)
		b = binary.BigEndian.AppendUint16(b, uint16(len(w.Sealed)))
		b = append(b, w.Sealed...)
	}
	return b
}

// ParseKeys decodes a key-set message (without opening it); its sealed
// sets alias b.
func ParseKeys(b []byte) (KeysMsg, error) {
	if len(b) < 2 {
		return KeysMsg{}, bad("keys: short")
	}
	if b[0] != Version {
		return KeysMsg{}, bad("keys: version")
	}
	n := int(b[1])
	if n == 0 || n > maxKeyWraps {
		return KeysMsg{}, bad("keys: wrap count")
	}
	b = b[2:]
	m := KeysMsg{Wraps: make([]KeyWrap, n)}
	for i := range m.Wraps {
		if len(b) < 1+keyNonceLen+2 {
			return KeysMsg{}, bad("keys: truncated")
		}
		w := &m.Wraps[i]
		w.KID = b[0]
		copy(w.Nonce[:], b[1:1+keyNonceLen])
		l := int(binary.BigEndian.Uint16(b[1+keyNonceLen:]))
		b = b[1+keyNonceLen+2:]
		// A set of 1 to maxKeyWraps keys, its count and the tag.
		if l < 1+keyLen+keyTagLen || l > 1+maxKeyWraps*keyLen+keyTagLen || (l-1-keyTagLen)%keyLen != 0 || len(b) < l {
			return KeysMsg{}, bad("keys: sealed length")
		}
		w.Sealed = b[:l:l]
		b = b[l:]
	}
	if len(b) != 0 {
		return KeysMsg{}, bad("keys: trailing bytes")
	}
	return m, nil
}

// KeyBroadcast publishes an origin's ticket keys to its edges: at once
// when told (Send, after a rotation) and every interval.
type KeyBroadcast struct {
	c     *Conn
	keys  func() [][]byte
	every time.Duration
	kick  chan struct{} // 1: a Send while one is pending is the same send
	stop  chan struct{}
	wg    sync.WaitGroup
}

// NewKeyBroadcast starts publishing keys() (current first) on c every
// interval (0: DefaultKeysInterval), the first time at once.
func NewKeyBroadcast(c *Conn, keys func() [][]byte, every time.Duration) *KeyBroadcast {
	if every <= 0 {
		every = DefaultKeysInterval
	}
	k := &KeyBroadcast{c: c, keys: keys, every: every, kick: make(chan struct{}, 1), stop: make(chan struct{})}
	k.wg.Add(1)
	go k.run()
	return k
}

// Send publishes the keys now (without waiting for it).
func (k *KeyBroadcast) Send() {
	select {
	case k.kick <- struct{}{}:
	default: // one is pending: it reads the keys when it runs
	}
}

// Close stops the broadcast and waits for it.
func (k *KeyBroadcast) Close() {
	close(k.stop)
	k.wg.Wait()
}

func (k *KeyBroadcast) run() {
	defer k.wg.Done()
	t := time.NewTicker(k.every)
	defer t.Stop()
	var buf []byte
	for {
		m, err := SealKeys(k.keys())
		if err != nil {
			k.c.log.Error("cluster: ticket keys not sent", "err", err)
		} else {
			buf = AppendKeys(buf[:0], m)
			// A publish while disconnected fails at once; the next tick repeats it.
			_ = k.c.nc.Publish(subjectKeys, buf)
		}
		select {
		case <-k.stop:
			return
		case <-t.C:
		case <-k.kick:
		}
	}
}

// KeysFeed is an edge's subscription to its origin's key sets.
type KeysFeed struct{ sub *nats.Subscription }

// FollowKeys calls fn with every key-set message that decodes (on the
// client's goroutine, one at a time); those that do not are counted bad.
func (c *Conn) FollowKeys(fn func(KeysMsg)) (*KeysFeed, error) {
	sub, err := c.nc.Subscribe(subjectKeys, func(m *nats.Msg) {
		km, err := ParseKeys(m.Data)
		if err != nil {
			c.bad.Add(1)
			return
		}
		fn(km)
	})
	if err != nil {
		return nil, err
	}
	return &KeysFeed{sub: sub}, nil
}

// Close drops the subscription.
func (f *KeysFeed) Close() { _ = f.sub.Unsubscribe() }
