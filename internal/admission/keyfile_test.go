package admission

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// TestKeyFileRotate: a rotation puts a new key first in the file and the
// signer, the previous key still verifies; a second rotation within a
// ticket lifetime is refused; once a lifetime has passed it drops the
// oldest key, whose tickets then fail.
func TestKeyFileRotate(t *testing.T) {
	dir := t.TempDir()
	keys, err := LoadKeys(dir)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "ticket.key")
	s, err := NewSignerKeys(keys, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	first := keys[0]
	before, _, _ := s.Issue("room1")
	kf := NewKeyFile(path, s)

	r, err := kf.Rotate()
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) != 2*KeyLen || !bytes.Equal(b[KeyLen:], first) || bytes.Equal(b[:KeyLen], first) {
		t.Fatalf("key file after rotation: %d bytes, old key second: %v", len(b), bytes.Equal(b[KeyLen:], first))
	}
	if KeyID(b[:KeyLen]) != r.KID || r.Keys != 2 {
		t.Fatalf("rotation %+v, file's first key id %x", r, KeyID(b[:KeyLen]))
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %v", fi.Mode().Perm())
	}
	if got := s.Keys(); len(got) != 2 || !bytes.Equal(got[0], b[:KeyLen]) || !bytes.Equal(got[1], first) {
		t.Fatal("signer's keys are not the file's")
	}
	if _, err := s.Verify(before, "room1"); err != nil {
		t.Fatalf("a ticket of the previous key: %v", err)
	}
	after, _, _ := s.Issue("room1")
	if old, _ := NewSigner(first, time.Minute); old != nil {
		if _, err := old.Verify(after, "room1"); err == nil {
			t.Fatal("a ticket minted after the rotation verifies with the old key alone")
		}
	}
	if leftovers, _ := filepath.Glob(filepath.Join(dir, ".ticket.key-*")); len(leftovers) != 0 {
		t.Fatalf("temporary files left: %v", leftovers)
	}

	_, err = kf.Rotate()
	var soon *RotationTooSoonError
	if !errors.As(err, &soon) || soon.Wait <= 0 || soon.Wait > time.Minute {
		t.Fatalf("second rotation within the ticket lifetime: %v", err)
	}
	if got := s.Keys(); !bytes.Equal(got[0], b[:KeyLen]) {
		t.Fatal("a refused rotation changed the keys")
	}

	// A lifetime later (the file says when the last rotation was).
	past := time.Now().Add(-2 * time.Minute)
	if err := os.Chtimes(path, past, past); err != nil {
		t.Fatal(err)
	}
	if _, err := kf.Rotate(); err != nil {
		t.Fatalf("rotation a lifetime later: %v", err)
	}
	if got := s.Keys(); len(got) != 2 || !bytes.Equal(got[1], b[:KeyLen]) {
		t.Fatal("the second rotation did not keep the previous current key second")
	}
	if _, err := s.Verify(before, "room1"); !errors.Is(err, ErrBadTicket) {
		t.Fatalf("a ticket of the dropped key: %v", err)
	}
	if _, err := s.Verify(after, "room1"); err != nil {
		t.Fatalf("a ticket of the previous key after the second rotation: %v", err)
	}
}

// TestSignerSetKeysConcurrent: keys swapped while tickets are minted and
// verified (run with -race): every ticket verifies with the set it was
// minted under or the next.
func TestSignerSetKeysConcurrent(t *testing.T) {
	a, b := bytes.Repeat([]byte{1}, 32), bytes.Repeat([]byte{2}, 32)
	s, _ := NewSignerKeys([][]byte{a}, time.Minute)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	errc := make(chan error, 1)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			tok, _, _ := s.Issue("room1")
			if _, err := s.Verify(tok, "room1"); err != nil {
				select {
				case errc <- err:
				default:
				}
				return
			}
		}
	}()
	for i := range 200 {
		if i%2 == 0 {
			s.SetKeys([][]byte{b, a})
		} else {
			s.SetKeys([][]byte{a, b})
		}
	}
	close(stop)
	wg.Wait()
	select {
	case err := <-errc:
		t.Fatalf("a ticket failed while keys were swapped: %v", err)
	default:
	}
	if err := s.SetKeys(nil); err == nil {
		t.Fatal("an empty key set was taken")
	}
	if err := s.SetKeys([][]byte{{1, 2}}); err == nil {
		t.Fatal("a short key was taken")
	}
}
