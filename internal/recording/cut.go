package recording

import (
	"errors"
	"io"

	"majlis/internal/ogg"
)

// ErrRange: the asked time range holds no recorded audio.
var ErrRange = errors.New("recording: nothing recorded in this range")

// cutResult describes what cut wrote.
type cutResult struct {
	From    int64 // granule position in the source where the output starts (a page boundary)
	Samples int64 // granule position at the output's end
	Bytes   int64
	Index   []indexEntry // of the output
	Seq     uint32       // sequence number of the output's end-of-stream page
	DataEnd int64        // output bytes before that page
}

// cut copies the pages of the source (readable up to limit) that hold
// audio of [from, to) in 48 kHz samples to w as a new Ogg stream: the same
// header pages, then those pages with granule positions starting at 0,
// sequence numbers from 2 and checksums recomputed, and an end-of-stream
// page. Cuts fall on page boundaries (a page is 40 ms to 1 s): the output
// starts with the page holding from and ends with the page holding to−1.
// Nothing is decoded. to < 0 means to the end.
func cut(w io.Writer, src Object, limit int64, idx []indexEntry, from, to int64, serial uint32) (cutResult, error) {
	var res cutResult
	var buf, out []byte
	var off int64
	var pg pageAt
	var err error
	for i := range 2 {
		pg, buf, err = readPage(src, off, limit, buf)
		if err != nil {
			return res, err
		}
		out = appendPage(out, buf, buf[5], 0, serial, uint32(i))
		off += int64(pg.n)
	}
	g := int64(0) // granule at the start of the page at off
	if e, ok := seek(idx, from); ok && e.Offset < limit {
		off, g = e.Offset, e.Granule
	}
	seq := uint32(2)
	started := false
	var written int64
	nextIdx := int64(0)
	flush := func() error {
		n, err := w.Write(out)
		written += int64(n)
		out = out[:0]
		return err
	}
	for {
		pg, buf, err = readPage(src, off, limit, buf)
		if err != nil || pg.segs == 0 && pg.flags&ogg.FlagEOS != 0 {
			break
		}
		start, end := g, pg.granule
		g = end
		off += int64(pg.n)
		if end <= from {
			continue
		}
		if to >= 0 && start >= to {
			break
		}
		if !started {
			started, res.From = true, start
		}
		if res.Samples >= nextIdx {
			res.Index = append(res.Index, indexEntry{Granule: res.Samples, Offset: written + int64(len(out))})
			nextIdx = res.Samples - res.Samples%indexEvery + indexEvery
		}
		res.Samples += end - start
		out = appendPage(out, buf, 0, res.Samples, serial, seq)
		seq++
		if len(out) >= 64<<10 {
			if err := flush(); err != nil {
				return res, err
			}
		}
		if pg.flags&ogg.FlagEOS != 0 {
			break
		}
	}
	if !started {
		return res, ErrRange
	}
	res.DataEnd = written + int64(len(out))
	res.Seq = seq
	out = appendEOS(out, res.Samples, serial, seq)
	if err := flush(); err != nil {
		return res, err
	}
	res.Bytes = written
	return res, nil
}
