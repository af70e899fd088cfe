package recording

import (
	"fmt"
	"strconv"
	"time"
)

// Trim cuts the start of a room's recording (the hold music before the
// conversation): the file is rewritten from the page holding d on, without
// re-encoding, and replaces the old one. Only a complete recording (not
// being written) can be trimmed.
func (m *Manager) Trim(id string, d time.Duration) (Meta, error) {
	e := m.entry(id, false)
	if e == nil {
		return Meta{}, ErrNotFound
	}
	e.mu.Lock()
	meta, busy := e.meta, e.w != nil
	e.mu.Unlock()
	switch {
	case meta.State == StateDeleted:
		return Meta{}, ErrDeleted
	case meta.File == "":
		return Meta{}, ErrNotFound
	case busy || meta.State == StateRecording:
		return Meta{}, ErrInProgress
	}
	src, err := m.st.Open(meta.File)
	if err != nil {
		return Meta{}, err
	}
	defer src.Close()
	var idx []indexEntry
	if io, err := m.st.Open(meta.Index); err == nil {
		idx, _ = readIndex(io)
		io.Close()
	}
	stamp := strconv.FormatInt(time.Now().UnixNano(), 36)
	file := "recordings/" + id + "/program-" + stamp + ".ogg"
	index := "recordings/" + id + "/program-" + stamp + ".idx"
	f, err := m.st.Create(file)
	if err != nil {
		return Meta{}, err
	}
	res, err := cut(f, src, min(src.Size(), meta.Bytes), idx, int64(d.Seconds()*samplesPerSecond), -1, meta.Serial)
	if err == nil {
		err = f.Sync()
	}
	f.Close()
	if err != nil {
		m.st.Delete(file)
		return Meta{}, fmt.Errorf("trim: %w", err)
	}
	var b []byte
	for _, x := range res.Index {
		b = appendIndex(b, x)
	}
	if err := m.st.Put(index, b); err != nil {
		m.st.Delete(file)
		return Meta{}, err
	}
	e.mu.Lock()
	if e.w != nil || e.meta.File != meta.File { // started again meanwhile
		e.mu.Unlock()
		m.st.Delete(file)
		m.st.Delete(index)
		return Meta{}, ErrInProgress
	}
	e.meta.File, e.meta.Index = file, index
	e.meta.Samples, e.meta.DataEnd, e.meta.Bytes, e.meta.Seq = res.Samples, res.DataEnd, res.Bytes, res.Seq
	cutS := float64(res.From) / samplesPerSecond
	e.meta.TrimmedS += cutS
	var ch []Chapter
	for _, c := range e.meta.Chapters {
		if c.AtS -= cutS; c.AtS >= 0 {
			ch = append(ch, c)
		}
	}
	e.meta.Chapters = ch
	e.flushed.Store(res.DataEnd)
	e.samples.Store(res.Samples)
	nm := e.meta
	err = m.putMeta(nm)
	e.mu.Unlock()
	if err != nil {
		return Meta{}, err
	}
	m.st.Delete(meta.File)
	m.st.Delete(meta.Index)
	m.met.storage.WithLabelValues(id).Set(float64(nm.Bytes))
	m.log.Info("recording trimmed", "room", id, "cut", time.Duration(res.From)*time.Second/samplesPerSecond)
	return nm, nil
}
