package recording

import (
	"errors"
	"fmt"

	"majlis/internal/ogg"
)

// scan reads the pages of a recording's file from the start: the two
// header pages, then audio pages up to the first torn or invalid page or
// an end-of-stream page. It returns the offset where valid audio ends, the
// last granule position and sequence number, and a fresh index.
func scan(o Object) (end int64, granule int64, nextSeq uint32, idx []indexEntry, err error) {
	limit := o.Size()
	var buf []byte
	var off int64
	var pg pageAt
	for i := 0; i < 2; i++ {
		pg, buf, err = readPage(o, off, limit, buf)
		if err != nil {
			return 0, 0, 0, nil, fmt.Errorf("header page %d: %w", i, err)
		}
		off += int64(pg.n)
	}
	nextSeq = 2
	next := int64(0)
	for {
		pg, buf, err = readPage(o, off, limit, buf)
		if err != nil || pg.flags&ogg.FlagEOS != 0 && pg.segs == 0 {
			return off, granule, nextSeq, idx, nil
		}
		if granule >= next {
			idx = append(idx, indexEntry{Granule: granule, Offset: off})
			next = granule - granule%indexEvery + indexEvery
		}
		granule, nextSeq = pg.granule, pg.seq+1
		off += int64(pg.n)
		if pg.flags&ogg.FlagEOS != 0 {
			return off, granule, nextSeq, idx, nil
		}
	}
}

// repair finishes a file a crash (or a write error) left open: the torn
// tail is cut, the end-of-stream page written and the index rebuilt from
// the pages. The returned meta says "paused": the room may resume it.
func (m *Manager) repair(meta Meta) (Meta, error) {
	if meta.File == "" {
		meta.State = StatePaused
		return meta, nil
	}
	o, err := m.st.Open(meta.File)
	if errors.Is(err, ErrNotExist) {
		// The process stopped between the meta and the file's first
		// bytes: nothing was recorded.
		meta.File, meta.Index, meta.State, meta.Bytes, meta.DataEnd, meta.Samples = "", "", StatePaused, 0, 0, 0
		return meta, nil
	}
	if err != nil {
		return meta, err
	}
	end, granule, seq, idx, err := scan(o)
	o.Close()
	if err != nil {
		return meta, err
	}
	f, err := m.st.Append(meta.File)
	if err != nil {
		return meta, err
	}
	defer f.Close()
	if err := f.Truncate(end); err != nil {
		return meta, err
	}
	eos := appendEOS(nil, granule, meta.Serial, seq)
	if _, err := f.Write(eos); err != nil {
		return meta, err
	}
	if err := f.Sync(); err != nil {
		return meta, err
	}
	ix, err := m.st.Create(meta.Index)
	if err != nil {
		return meta, err
	}
	defer ix.Close()
	var b []byte
	for _, e := range idx {
		b = appendIndex(b, e)
	}
	if _, err := ix.Write(b); err != nil {
		return meta, err
	}
	if err := ix.Sync(); err != nil {
		return meta, err
	}
	meta.State, meta.DataEnd, meta.Bytes, meta.Samples, meta.Seq = StatePaused, end, end+int64(len(eos)), granule, seq
	return meta, nil
}
