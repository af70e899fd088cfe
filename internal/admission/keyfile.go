package admission

import (
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// MaxKeys is how many keys a rotation keeps: the new one and the one it
// replaces, which still verifies the tickets it signed.
const MaxKeys = 2

// RotationTooSoonError refuses a rotation within a ticket lifetime of the
// previous one: it would drop the key that signed tickets still valid.
type RotationTooSoonError struct {
	Wait time.Duration // until a rotation is allowed
}

func (e *RotationTooSoonError) Error() string {
	return fmt.Sprintf("ticket key rotation: the previous key may still sign valid tickets for %s", e.Wait.Round(time.Second))
}

// Rotation is what a rotation did.
type Rotation struct {
	KID  byte      // the new current key's id
	At   time.Time // when it took effect
	Keys int       // keys now held (new, previous)
}

// KeyFile rotates a signer's keys live, keeping the key file in step: the
// file is the rotation's record (its modification time is when the
// previous rotation happened, across restarts).
type KeyFile struct {
	path   string
	signer *Signer
	mu     sync.Mutex // one rotation at a time
}

// NewKeyFile returns the rotator of signer's keys, stored at path.
func NewKeyFile(path string, signer *Signer) *KeyFile {
	return &KeyFile{path: path, signer: signer}
}

// Rotate makes a new random key current, keeps the current one to verify
// (dropping any older one), writes them to the key file and installs them
// in the signer, in that order: a crash in between leaves the file ahead,
// which a restart takes. It fails with *RotationTooSoonError when the key
// it would drop may still have signed an unexpired ticket.
func (k *KeyFile) Rotate() (Rotation, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	now := k.signer.now()
	cur := k.signer.Keys()
	if len(cur) > 1 {
		// Tickets signed with cur[1] were issued before cur[0] became
		// current, the last rotation (the file's last write).
		fi, err := os.Stat(k.path)
		if err != nil {
			return Rotation{}, fmt.Errorf("ticket key rotation: %w", err)
		}
		if wait := fi.ModTime().Add(k.signer.ttl).Sub(now); wait > 0 {
			return Rotation{}, &RotationTooSoonError{Wait: wait}
		}
	}
	key := make([]byte, keyLen)
	rand.Read(key)
	keys := [][]byte{key, cur[0]}
	if err := WriteKeys(k.path, keys); err != nil {
		return Rotation{}, fmt.Errorf("ticket key rotation: %w", err)
	}
	if err := k.signer.SetKeys(keys); err != nil {
		return Rotation{}, err
	}
	return Rotation{KID: KeyID(key), At: now, Keys: len(keys)}, nil
}

// WriteKeys replaces the key file at path with keys (current first),
// atomically: a temporary file of mode 0600 in the same directory, synced,
// then renamed over it, so a reader never sees half a key set.
func WriteKeys(path string, keys [][]byte) error {
	if len(keys) == 0 {
		return errors.New("ticket key: none")
	}
	var b []byte
	for _, k := range keys {
		if len(k) != keyLen {
			return fmt.Errorf("ticket key: need %d bytes, have %d", keyLen, len(k))
		}
		b = append(b, k...)
	}
	f, err := os.CreateTemp(filepath.Dir(path), ".ticket.key-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp) // after the rename: nothing
	// CreateTemp makes the file 0600 already; Chmod says so to a reader.
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	// The rename is durable once the directory is synced.
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}
