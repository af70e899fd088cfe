package recording

import (
	"bytes"
	"crypto/rand"
	"encoding/base32"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Clip limits.
const (
	MaxClip          = 60 * time.Second
	DefaultClip      = 30 * time.Second
	DefaultClipTTL   = 30 * 24 * time.Hour
	clipIDBytes      = 10
	samplesPerSecond = 48000
)

// Errors of clips.
var (
	ErrClipNotFound = errors.New("no such clip")
	ErrClipLength   = errors.New("clip length out of range")
)

// Clip is a short cut of a room's recording with its own page.
type Clip struct {
	ID       string        `json:"id"`
	Room     string        `json:"room"`
	By       string        `json:"by"`
	From     float64       `json:"from_s"` // where it starts in the room's recording, seconds
	Seconds  float64       `json:"seconds"`
	Bytes    int64         `json:"bytes"`
	Created  time.Time     `json:"created"`
	Expires  time.Time     `json:"expires"`
	File     string        `json:"-"`
	Duration time.Duration `json:"-"`
}

func clipMeta(id string) string { return "clips/" + id + ".json" }
func clipFile(id string) string { return "clips/" + id + ".ogg" }

// MakeClip cuts length of a room's recording starting at from (from < 0:
// the last length of it, as a listener of a live room asks) into a clip
// that expires after ttl. Cuts are page-aligned, never re-encoded. The
// recording may be being written: only its flushed pages are read.
func (m *Manager) MakeClip(id, by string, from, length, ttl time.Duration) (Clip, error) {
	if length <= 0 || length > MaxClip {
		return Clip{}, ErrClipLength
	}
	e := m.entry(id, false)
	if e == nil {
		return Clip{}, ErrNotFound
	}
	e.mu.Lock()
	meta := e.meta
	e.mu.Unlock()
	if meta.State == StateDeleted {
		return Clip{}, ErrDeleted
	}
	if meta.File == "" {
		return Clip{}, ErrNotFound
	}
	limit, total := e.flushed.Load(), e.samples.Load()
	a := int64(from.Seconds() * samplesPerSecond)
	n := int64(length.Seconds() * samplesPerSecond)
	if from < 0 {
		a = max(total-n, 0)
	}
	if a >= total {
		return Clip{}, ErrRange
	}
	src, err := m.st.Open(meta.File)
	if err != nil {
		return Clip{}, err
	}
	defer src.Close()
	var idx []indexEntry
	if io, err := m.st.Open(meta.Index); err == nil {
		idx, _ = readIndex(io)
		io.Close()
	}
	var out bytes.Buffer
	res, err := cut(&out, src, min(limit, src.Size()), idx, a, a+n, meta.Serial)
	if err != nil {
		return Clip{}, err
	}
	var rb [clipIDBytes]byte
	rand.Read(rb[:])
	cid := strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(rb[:]))
	now := time.Now().UTC()
	if ttl <= 0 {
		ttl = DefaultClipTTL
	}
	c := Clip{ID: cid, Room: id, By: by, From: float64(res.From) / samplesPerSecond, Seconds: float64(res.Samples) / samplesPerSecond,
		Bytes: int64(out.Len()), Created: now, Expires: now.Add(ttl), File: clipFile(cid)}
	f, err := m.st.Create(c.File)
	if err != nil {
		return Clip{}, err
	}
	_, err = f.Write(out.Bytes())
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		m.st.Delete(c.File)
		m.met.errors.Inc()
		return Clip{}, fmt.Errorf("clip: %w", err)
	}
	b, _ := json.Marshal(c)
	if err := m.st.Put(clipMeta(cid), b); err != nil {
		m.st.Delete(c.File)
		return Clip{}, err
	}
	return c, nil
}

// ClipInfo returns a clip that has not expired.
func (m *Manager) ClipInfo(id string) (Clip, error) {
	if !validRoom(id) {
		return Clip{}, ErrClipNotFound
	}
	b, err := m.st.Get(clipMeta(id))
	if err != nil {
		return Clip{}, ErrClipNotFound
	}
	var c Clip
	if err := json.Unmarshal(b, &c); err != nil {
		return Clip{}, ErrClipNotFound
	}
	c.File = clipFile(id)
	if time.Now().After(c.Expires) {
		return c, ErrDeleted
	}
	return c, nil
}

// OpenClip opens a clip's Ogg file.
func (m *Manager) OpenClip(id string) (Object, Clip, error) {
	c, err := m.ClipInfo(id)
	if err != nil {
		return nil, c, err
	}
	o, err := m.st.Open(c.File)
	if err != nil {
		return nil, c, ErrClipNotFound
	}
	return o, c, nil
}
