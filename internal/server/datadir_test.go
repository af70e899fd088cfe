package server

import (
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"testing"
)

// TestDataDirPrivate: a data dir that already exists with open modes (and
// an old database file readable by everyone) is made private on start:
// the dir 0700, every file in it 0600, the database's WAL included.
func TestDataDirPrivate(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	os.Chmod(dir, 0o755) // whatever the umask
	if err := os.WriteFile(filepath.Join(dir, "majlis.db"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	os.Chmod(filepath.Join(dir, "majlis.db"), 0o644)
	ts := startServerWith(t, dir, func(*Config) {})
	_, tok := ts.createUser(t, "amal") // a write: the WAL exists now
	if code := ts.call(t, "POST", "/api/v1/rooms", tok, map[string]string{"title": "private"}, nil); code != http.StatusCreated {
		t.Fatalf("create room: %d", code)
	}
	check := func(atLeast int) {
		t.Helper()
		fi, err := os.Stat(dir)
		if err != nil {
			t.Fatal(err)
		}
		if m := fi.Mode().Perm(); m != 0o700 {
			t.Errorf("data dir mode %o, want 700", m)
		}
		n := 0
		filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			n++
			fi, err := d.Info()
			if err != nil {
				return err
			}
			if m := fi.Mode().Perm(); m != 0o600 {
				t.Errorf("%s mode %o, want 600", filepath.Base(p), m)
			}
			return nil
		})
		if n < atLeast {
			t.Errorf("%d files in the data dir, want at least %d", n, atLeast)
		}
	}
	check(3) // running: the database, its WAL and shared memory, the ticket key
	ts.stop()
	check(2) // stopped: the WAL is checkpointed away

}
