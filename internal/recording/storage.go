package recording

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// Storage holds the files of recordings, clips and evidence under names
// like "recordings/ROOM/program.ogg". Everything this package writes goes
// through it, so a second backend only has to implement it: the file
// system of the data dir (Dir) is the default; docs/operations.md says
// what an S3-compatible object store would take.
//
// The writing side is append-only (Create, Append, Sync), with Truncate
// used only to cut a torn page at the very end after a crash; metadata is
// replaced whole (Put). Readers read at offsets (Open), which is what
// HTTP Range requests and the page cutter need.
type Storage interface {
	// Create makes (or empties) an object open for appending.
	Create(name string) (Appender, error)
	// Append opens an existing object for appending at its end.
	Append(name string) (Appender, error)
	// Open opens an object for reading at offsets.
	Open(name string) (Object, error)
	// Stat describes an object; ErrNotExist when there is none.
	Stat(name string) (ObjectInfo, error)
	// Put replaces a small object atomically (metadata).
	Put(name string, data []byte) error
	// Get reads a small object whole.
	Get(name string) ([]byte, error)
	// Delete removes an object (no error when it does not exist).
	Delete(name string) error
	// List returns the names of the objects under prefix, sorted.
	List(prefix string) ([]string, error)
}

// Appender writes at the end of an object.
type Appender interface {
	io.Writer
	// Sync makes everything written so far durable.
	Sync() error
	// Truncate cuts the object to size bytes (size ≤ Size()).
	Truncate(size int64) error
	// Size is the object's length, including unsynced writes.
	Size() int64
	Close() error
}

// Object is an object open for reading.
type Object interface {
	io.ReaderAt
	Size() int64
	ModTime() time.Time
	Close() error
}

// ObjectInfo describes an object.
type ObjectInfo struct {
	Size    int64
	ModTime time.Time
}

// ErrNotExist: no object has this name.
var ErrNotExist = fs.ErrNotExist

// ErrBadName: an object name that would leave the store.
var ErrBadName = errors.New("recording: bad object name")

// Dir is Storage on the local file system under Root: directories 0700,
// files 0600 (recordings are personal data until the host publishes them).
type Dir struct{ Root string }

var _ Storage = Dir{}

func (d Dir) path(name string) (string, error) {
	if name == "" || path.IsAbs(name) || path.Clean(name) != name || strings.HasPrefix(name, "../") || name == ".." {
		return "", fmt.Errorf("%w: %q", ErrBadName, name)
	}
	return filepath.Join(d.Root, filepath.FromSlash(name)), nil
}

func (d Dir) openFile(name string, flag int) (Appender, error) {
	p, err := d.path(name)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(p, flag|os.O_WRONLY, 0o600)
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if _, err := f.Seek(0, io.SeekEnd); err != nil {
		f.Close()
		return nil, err
	}
	return &fileAppender{f: f, size: st.Size()}, nil
}

// Create implements Storage.
func (d Dir) Create(name string) (Appender, error) {
	return d.openFile(name, os.O_CREATE|os.O_TRUNC)
}

// Append implements Storage.
func (d Dir) Append(name string) (Appender, error) { return d.openFile(name, 0) }

// Open implements Storage.
func (d Dir) Open(name string) (Object, error) {
	p, err := d.path(name)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	return &fileObject{File: f, size: st.Size(), mod: st.ModTime()}, nil
}

// Stat implements Storage.
func (d Dir) Stat(name string) (ObjectInfo, error) {
	p, err := d.path(name)
	if err != nil {
		return ObjectInfo{}, err
	}
	st, err := os.Stat(p)
	if err != nil {
		return ObjectInfo{}, err
	}
	return ObjectInfo{Size: st.Size(), ModTime: st.ModTime()}, nil
}

// Put implements Storage: write a temporary file, sync it, rename it over
// the old one and sync the directory.
func (d Dir) Put(name string, data []byte) error {
	p, err := d.path(name)
	if err != nil {
		return err
	}
	dir := filepath.Dir(p)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, ".put-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, p)
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	if df, err := os.Open(dir); err == nil {
		df.Sync()
		df.Close()
	}
	return nil
}

// Get implements Storage.
func (d Dir) Get(name string) ([]byte, error) {
	p, err := d.path(name)
	if err != nil {
		return nil, err
	}
	return os.ReadFile(p)
}

// Delete implements Storage; emptied directories are removed too.
func (d Dir) Delete(name string) error {
	p, err := d.path(name)
	if err != nil {
		return err
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	for dir := filepath.Dir(p); dir != filepath.Clean(d.Root) && strings.HasPrefix(dir, filepath.Clean(d.Root)); dir = filepath.Dir(dir) {
		if os.Remove(dir) != nil { // not empty
			break
		}
	}
	return nil
}

// List implements Storage.
func (d Dir) List(prefix string) ([]string, error) {
	var out []string
	root := filepath.Clean(d.Root)
	err := filepath.WalkDir(root, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if e.IsDir() || strings.HasPrefix(e.Name(), ".put-") {
			return nil
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		if name := filepath.ToSlash(rel); strings.HasPrefix(name, prefix) {
			out = append(out, name)
		}
		return nil
	})
	sort.Strings(out)
	return out, err
}

type fileAppender struct {
	f    *os.File
	size int64
}

func (a *fileAppender) Write(b []byte) (int, error) {
	n, err := a.f.Write(b)
	a.size += int64(n)
	return n, err
}
func (a *fileAppender) Sync() error { return a.f.Sync() }
func (a *fileAppender) Size() int64 { return a.size }
func (a *fileAppender) Close() error {
	return a.f.Close()
}
func (a *fileAppender) Truncate(size int64) error {
	if err := a.f.Truncate(size); err != nil {
		return err
	}
	a.size = size
	_, err := a.f.Seek(size, io.SeekStart)
	return err
}

type fileObject struct {
	*os.File
	size int64
	mod  time.Time
}

func (o *fileObject) Size() int64        { return o.size }
func (o *fileObject) ModTime() time.Time { return o.mod }
