package edge

import (
	"bytes"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"majlis/internal/admission"
	"majlis/internal/cluster"
)

// TestKeysFollowOrigin: over an embedded NATS server, an origin's rotated
// key set reaches an edge's signer (a ticket of the new key verifies there)
// and its key file; a replayed older set that still opens, and a set
// sealed under keys the edge lacks, are refused and counted; a key file
// that cannot be written leaves the keys in memory, the edge going on.
func TestKeysFollowOrigin(t *testing.T) {
	oc, err := cluster.Connect(cluster.Config{URL: cluster.Embedded, Listen: "127.0.0.1:0", Logger: quiet}, true)
	if err != nil {
		t.Fatal(err)
	}
	defer oc.Close()
	a, b, z := bytes.Repeat([]byte{1}, 32), bytes.Repeat([]byte{2}, 32), bytes.Repeat([]byte{3}, 32)
	var mu sync.Mutex
	originKeys := [][]byte{a, z} // a set older than the edge's, below
	kb := cluster.NewKeyBroadcast(oc, func() [][]byte {
		mu.Lock()
		defer mu.Unlock()
		return originKeys
	}, time.Hour) // only Send publishes, besides the first
	defer kb.Close()
	setOrigin := func(keys ...[]byte) {
		mu.Lock()
		originKeys = keys
		mu.Unlock()
		kb.Send()
	}

	for _, tc := range []struct {
		name     string
		path     func(dir string) string
		writable bool
	}{
		{"writable", func(dir string) string { return filepath.Join(dir, "ticket.key") }, true},
		{"no such dir", func(dir string) string { return filepath.Join(dir, "gone", "ticket.key") }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := tc.path(dir)
			if tc.writable {
				if err := admission.WriteKeys(path, [][]byte{a}); err != nil {
					t.Fatal(err)
				}
			}
			ec, err := cluster.Connect(cluster.Config{URL: oc.ServerURL(), Logger: quiet}, false)
			if err != nil {
				t.Fatal(err)
			}
			defer ec.Close()
			signer, _ := admission.NewSigner(a, time.Minute)
			k, err := FollowKeys(KeysConfig{Cluster: ec, Tickets: signer, Path: path, Logger: quiet})
			if err != nil {
				t.Fatal(err)
			}
			defer k.Close()
			if err := ec.Flush(time.Second); err != nil {
				t.Fatal(err)
			}

			setOrigin(b, a)
			waitFor(t, "the new set installed", func() bool { return k.Updates() == 1 })
			origin, _ := admission.NewSigner(b, time.Minute)
			tok, _, _ := origin.Issue("room1")
			if _, err := signer.Verify(tok, "room1"); err != nil {
				t.Fatalf("a ticket of the origin's new key on the edge: %v", err)
			}
			onDisk, err := os.ReadFile(path)
			if tc.writable && (err != nil || !bytes.Equal(onDisk, append(bytes.Clone(b), a...))) {
				t.Fatalf("key file %x, %v: want new||old", onDisk, err)
			}
			if !tc.writable && err == nil {
				t.Fatal("a key file appeared where none can be written")
			}

			// An older set, replayed: it opens under a (held), but would
			// make a current again.
			refused := k.Refused()
			setOrigin(a, z)
			waitFor(t, "the replayed set refused", func() bool { return k.Refused() == refused+1 })
			// Sealed under keys the edge lacks.
			setOrigin(z)
			waitFor(t, "the stranger's set refused", func() bool { return k.Refused() == refused+2 })
			if got := signer.Keys(); len(got) != 2 || !bytes.Equal(got[0], b) || !bytes.Equal(got[1], a) {
				t.Fatalf("edge keys after refused sets: %x", got)
			}
			if k.Updates() != 1 {
				t.Fatalf("updates %d", k.Updates())
			}
		})
	}
}
