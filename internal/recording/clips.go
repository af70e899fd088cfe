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
	ID      string    `json:"id"`
	Room    string    `json:"room"`
	By      string    `json:"by"`
	From    float64   `json:"from_s"`      // where it starts in the room's recording, seconds
	At      time.Time `json:"at,omitzero"` // a clip of a live room not being recorded: when its audio was live
	Seconds float64   `json:"seconds"`
	Bytes   int64     `json:"bytes"`
	Created time.Time `json:"created"`
	Expires time.Time `json:"expires"`
	// Withheld names the moderation decision that took the clip out of
	// reach until WithheldUntil (WithholdClip); "" when it is not.
	Withheld      string    `json:"withheld,omitempty"`
	WithheldUntil time.Time `json:"withheld_until,omitzero"`
	File          string    `json:"-"`
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
	live := e.prog != nil && !e.prog.Closed()
	recording := e.w != nil
	e.mu.Unlock()
	if from < 0 && live && !recording && m.cfg.Ring != nil {
		// Not being recorded: the last seconds of the live program come
		// from the evidence ring (the program the audience just heard).
		return m.clipRing(id, by, length, ttl)
	}
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
	return m.storeClip(Clip{Room: id, By: by, From: float64(res.From) / samplesPerSecond, Seconds: float64(res.Samples) / samplesPerSecond}, out.Bytes(), ttl)
}

// clipRing cuts the last length of a live room's program from the
// evidence ring's segments.
func (m *Manager) clipRing(id, by string, length, ttl time.Duration) (Clip, error) {
	n := int64(length.Seconds() * samplesPerSecond)
	segs := m.cfg.Ring.programTail(id, n)
	if len(segs) == 0 {
		return Clip{}, ErrNotFound
	}
	var total int64
	for _, s := range segs {
		total += s.Samples
	}
	skip := max(total-n, 0)
	var out bytes.Buffer
	c := &cutter{w: &out, serial: segs[0].Serial}
	var at time.Time
	before := int64(0)
	for _, s := range segs {
		if before+s.Samples <= skip {
			before += s.Samples
			continue
		}
		from := max(skip-before, 0)
		o, err := m.st.Open(s.File)
		if err != nil {
			return Clip{}, err
		}
		err = c.pages(o, min(s.Bytes, o.Size()), nil, from, -1)
		o.Close()
		if err != nil {
			return Clip{}, err
		}
		if at.IsZero() && c.started {
			at = s.Start.Add(time.Duration(c.res.From) * time.Second / samplesPerSecond)
		}
		before += s.Samples
	}
	res, err := c.finish()
	if err != nil {
		return Clip{}, err
	}
	return m.storeClip(Clip{Room: id, By: by, At: at, Seconds: float64(res.Samples) / samplesPerSecond}, out.Bytes(), ttl)
}

// storeClip gives a clip its id and stores it.
func (m *Manager) storeClip(c Clip, data []byte, ttl time.Duration) (Clip, error) {
	var rb [clipIDBytes]byte
	rand.Read(rb[:])
	cid := strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(rb[:]))
	now := time.Now().UTC()
	if ttl <= 0 {
		ttl = DefaultClipTTL
	}
	c.ID, c.Bytes, c.Created, c.Expires, c.File = cid, int64(len(data)), now, now.Add(ttl), clipFile(cid)
	f, err := m.st.Create(c.File)
	if err != nil {
		return Clip{}, err
	}
	_, err = f.Write(data)
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
	if c.Withheld != "" {
		return c, ErrWithheld
	}
	if time.Now().After(c.Expires) {
		return c, ErrDeleted
	}
	return c, nil
}

// WithholdClip takes a clip out of reach by a moderation decision (why)
// until until, when the retention job deletes it (even if it would have
// expired before); RestoreClip brings it back before then. It is kept
// past its own expiry so that a reversal can restore it.
func (m *Manager) WithholdClip(id, why string, until time.Time) error {
	return m.setClipHold(id, func(c *Clip) { c.Withheld, c.WithheldUntil = why, until.UTC() })
}

// RestoreClip lifts WithholdClip; a clip deleted meanwhile is ErrClipNotFound.
func (m *Manager) RestoreClip(id string) error {
	return m.setClipHold(id, func(c *Clip) { c.Withheld, c.WithheldUntil = "", time.Time{} })
}

func (m *Manager) setClipHold(id string, set func(*Clip)) error {
	m.clipMu.Lock()
	defer m.clipMu.Unlock()
	c, err := m.ClipInfo(id)
	if err != nil && !errors.Is(err, ErrWithheld) && !errors.Is(err, ErrDeleted) {
		return err
	}
	set(&c)
	b, err := json.Marshal(c)
	if err != nil {
		return err
	}
	if err := m.st.Put(clipMeta(id), b); err != nil {
		return fmt.Errorf("clip %s: %w", id, err)
	}
	m.log.Info("clip hold changed", "clip", id, "room", c.Room, "withheld", c.Withheld, "until", c.WithheldUntil)
	return nil
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

// DeleteClip deletes a clip before its time (a moderation decision): its
// audio and its meta; a clip already gone is ErrClipNotFound.
func (m *Manager) DeleteClip(id, why string) error {
	c, err := m.ClipInfo(id)
	if err != nil && !errors.Is(err, ErrDeleted) {
		return err
	}
	if err := m.st.Delete(c.File); err != nil {
		return fmt.Errorf("delete clip %s: %w", id, err)
	}
	if err := m.st.Delete(clipMeta(id)); err != nil {
		return fmt.Errorf("delete clip %s: %w", id, err)
	}
	m.log.Info("clip deleted", "clip", id, "room", c.Room, "why", why)
	return nil
}
