package cluster

import (
	"bytes"
	"errors"
	"sync"
	"testing"
	"time"

	"majlis/internal/admission"
)

func testKey(b byte) []byte { return bytes.Repeat([]byte{b}, keyLen) }

// TestKeysRoundTrip: a key set sealed under each of its keys opens, after
// encoding and decoding, under any one of them, with the current key first;
// each wrap is tagged with its key's id and its nonce differs; no key's
// bytes appear in the message.
func TestKeysRoundTrip(t *testing.T) {
	newKey, oldKey := testKey(1), testKey(2)
	m, err := SealKeys([][]byte{newKey, oldKey})
	if err != nil {
		t.Fatal(err)
	}
	b := AppendKeys(nil, m)
	if bytes.Contains(b, newKey[:8]) || bytes.Contains(b, oldKey[:8]) {
		t.Fatal("a key appears in clear")
	}
	got, err := ParseKeys(b)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Wraps) != 2 || got.Wraps[0].KID != admission.KeyID(newKey) || got.Wraps[1].KID != admission.KeyID(oldKey) {
		t.Fatalf("wraps %+v", got.Wraps)
	}
	if got.Wraps[0].Nonce == got.Wraps[1].Nonce {
		t.Fatal("two wraps share a nonce")
	}
	if again := AppendKeys(nil, got); !bytes.Equal(again, b) {
		t.Fatal("re-encoding differs")
	}
	for _, have := range [][][]byte{{oldKey}, {newKey}, {testKey(9), oldKey}} {
		keys, err := got.Open(have)
		if err != nil {
			t.Fatalf("open with %d keys: %v", len(have), err)
		}
		if len(keys) != 2 || !bytes.Equal(keys[0], newKey) || !bytes.Equal(keys[1], oldKey) {
			t.Fatalf("opened %x", keys)
		}
	}
}

// TestKeysRefused: a set sealed under keys this process does not hold is
// ErrKeysUnknown; any altered byte of the sealed part, the nonce or the
// kid, and a wrap re-tagged with another key's id, do not open; bad
// framing does not decode.
func TestKeysRefused(t *testing.T) {
	held := testKey(2)
	m, err := SealKeys([][]byte{testKey(1), held})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Open([][]byte{testKey(3)}); !errors.Is(err, ErrKeysUnknown) {
		t.Fatalf("open with a stranger's key: %v", err)
	}
	// A stranger seals its own set under its own key, tagged with the
	// held key's id: the tag matches, the seal does not open.
	forged, _ := SealKeys([][]byte{testKey(3)})
	forged.Wraps[0].KID = admission.KeyID(held)
	if _, err := forged.Open([][]byte{held}); !errors.Is(err, ErrBadMessage) {
		t.Fatalf("a forged wrap: %v", err)
	}
	b := AppendKeys(nil, m)
	// Every byte after the header, flipped: parses (the lengths stay) or
	// not, and never opens to a set.
	for i := 2; i < len(b); i++ {
		c := bytes.Clone(b)
		c[i] ^= 0x40
		km, err := ParseKeys(c)
		if err != nil {
			if !errors.Is(err, ErrBadMessage) {
				t.Fatalf("byte %d: %v", i, err)
			}
			continue
		}
		if keys, err := km.Open([][]byte{held}); err == nil {
			// The first wrap (under a key not held) may be altered: the
			// second still opens, to the true set.
			if !bytes.Equal(keys[1], held) || !bytes.Equal(keys[0], testKey(1)) {
				t.Fatalf("byte %d altered: opened to another set", i)
			}
			if i >= 2+(len(b)-2)/2 { // the second wrap's bytes
				t.Fatalf("byte %d altered in the held key's wrap, still opened", i)
			}
		}
	}
	for name, c := range map[string][]byte{
		"empty":     nil,
		"version":   append([]byte{Version + 1}, b[1:]...),
		"no wraps":  {Version, 0},
		"5 wraps":   {Version, 5},
		"truncated": b[:len(b)-1],
		"trailing":  append(bytes.Clone(b), 0),
	} {
		if _, err := ParseKeys(c); !errors.Is(err, ErrBadMessage) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := SealKeys(nil); err == nil {
		t.Error("sealed an empty set")
	}
	if _, err := SealKeys([][]byte{testKey(1), testKey(2), testKey(3), testKey(4), testKey(5)}); err == nil {
		t.Error("sealed 5 keys")
	}
}

// TestKeysOverEmbedded: an origin's broadcast reaches an edge's feed at
// once, again at each Send (with the keys of the moment), and every
// interval; a message that does not decode is dropped and counted bad.
func TestKeysOverEmbedded(t *testing.T) {
	o, e := embedded(t)
	var mu sync.Mutex
	keys := [][]byte{testKey(1)}
	got := make(chan [][]byte, 16)
	feed, err := e.FollowKeys(func(m KeysMsg) {
		ks, err := m.Open([][]byte{testKey(1)})
		if err != nil {
			t.Errorf("open: %v", err)
			return
		}
		got <- ks
	})
	if err != nil {
		t.Fatal(err)
	}
	defer feed.Close()
	if err := e.Flush(time.Second); err != nil {
		t.Fatal(err)
	}
	next := func() [][]byte {
		t.Helper()
		select {
		case ks := <-got:
			return ks
		case <-time.After(5 * time.Second):
			t.Fatal("no key set in 5 s")
			return nil
		}
	}
	kb := NewKeyBroadcast(o, func() [][]byte {
		mu.Lock()
		defer mu.Unlock()
		return keys
	}, 200*time.Millisecond)
	defer kb.Close()
	if ks := next(); len(ks) != 1 || !bytes.Equal(ks[0], testKey(1)) {
		t.Fatalf("first set %x", ks)
	}
	mu.Lock()
	keys = [][]byte{testKey(2), testKey(1)}
	mu.Unlock()
	kb.Send()
	deadline := time.After(5 * time.Second)
	for {
		ks := next()
		if len(ks) == 2 && bytes.Equal(ks[0], testKey(2)) {
			break
		}
		select {
		case <-deadline:
			t.Fatal("the rotated set never arrived")
		default:
		}
	}
	// Repeated every interval without a Send.
	for range 2 {
		if ks := next(); len(ks) != 2 {
			t.Fatalf("repeat %x", ks)
		}
	}
	badBefore := e.Stats().Bad
	if err := o.nc.Publish(subjectKeys, []byte{Version, 9}); err != nil {
		t.Fatal(err)
	}
	o.Flush(time.Second)
	waitFor(t, func() bool { return e.Stats().Bad > badBefore })
}

// FuzzParseKeys: as the other decoders (fuzz_test.go), never a panic,
// and what decodes encodes back to the same bytes.
func FuzzParseKeys(f *testing.F) {
	k1, k2 := make([]byte, 32), make([]byte, 32)
	k2[0] = 1
	m, _ := SealKeys([][]byte{k1, k2})
	f.Add(AppendKeys(nil, m))
	f.Add([]byte{Version, 1})
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := ParseKeys(b)
		if err != nil {
			if !errors.Is(err, ErrBadMessage) {
				t.Fatalf("error %v is not ErrBadMessage", err)
			}
			return
		}
		if got := AppendKeys(nil, m); string(got) != string(b) {
			t.Fatalf("re-encoded %x, want %x", got, b)
		}
		// Opening what decoded fails cleanly unless it was sealed under k1 or k2.
		if _, err := m.Open([][]byte{k1, k2}); err != nil && !errors.Is(err, ErrBadMessage) && !errors.Is(err, ErrKeysUnknown) {
			t.Fatalf("open: %v", err)
		}
	})
}
