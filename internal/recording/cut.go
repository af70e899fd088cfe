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
	From    int64 // granule position in the (first) source where the output starts (a page boundary)
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
	c := &cutter{w: w, serial: serial}
	if err := c.pages(src, limit, idx, from, to); err != nil {
		return c.res, err
	}
	return c.finish()
}

// cutter writes one output stream from the pages of one or more sources
// (the segments of an evidence track, oldest first), one after the other.
type cutter struct {
	w       io.Writer
	serial  uint32
	out     []byte
	buf     []byte
	seq     uint32
	res     cutResult
	started bool
	written int64
	nextIdx int64
}

func (c *cutter) flush() error {
	n, err := c.w.Write(c.out)
	c.written += int64(n)
	c.out = c.out[:0]
	return err
}

// pages appends the pages of src holding [from, to) (the source's own
// granule positions); the first call also copies the source's headers.
func (c *cutter) pages(src Object, limit int64, idx []indexEntry, from, to int64) error {
	var off int64
	var pg pageAt
	var err error
	for i := range 2 {
		pg, c.buf, err = readPage(src, off, limit, c.buf)
		if err != nil {
			return err
		}
		if c.seq < 2 {
			c.out = appendPage(c.out, c.buf, c.buf[5], 0, c.serial, uint32(i))
			c.seq = uint32(i) + 1
		}
		off += int64(pg.n)
	}
	c.seq = max(c.seq, 2)
	g := int64(0) // granule at the start of the page at off
	if e, ok := seek(idx, from); ok && e.Offset < limit {
		off, g = e.Offset, e.Granule
	}
	for {
		pg, c.buf, err = readPage(src, off, limit, c.buf)
		if err != nil || pg.segs == 0 && pg.flags&ogg.FlagEOS != 0 {
			return nil
		}
		start, end := g, pg.granule
		g = end
		off += int64(pg.n)
		if end <= from {
			continue
		}
		if to >= 0 && start >= to {
			return nil
		}
		if !c.started {
			c.started, c.res.From = true, start
		}
		if c.res.Samples >= c.nextIdx {
			c.res.Index = append(c.res.Index, indexEntry{Granule: c.res.Samples, Offset: c.written + int64(len(c.out))})
			c.nextIdx = c.res.Samples - c.res.Samples%indexEvery + indexEvery
		}
		c.res.Samples += end - start
		c.out = appendPage(c.out, c.buf, 0, c.res.Samples, c.serial, c.seq)
		c.seq++
		if len(c.out) >= 64<<10 {
			if err := c.flush(); err != nil {
				return err
			}
		}
		if pg.flags&ogg.FlagEOS != 0 {
			return nil
		}
	}
}

// finish ends the stream.
func (c *cutter) finish() (cutResult, error) {
	if !c.started {
		return c.res, ErrRange
	}
	c.res.DataEnd = c.written + int64(len(c.out))
	c.res.Seq = c.seq
	c.out = appendEOS(c.out, c.res.Samples, c.serial, c.seq)
	if err := c.flush(); err != nil {
		return c.res, err
	}
	c.res.Bytes = c.written
	return c.res, nil
}
