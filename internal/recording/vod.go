package recording

import (
	"encoding/binary"
	"errors"
	"fmt"

	"majlis/internal/ogg"
)

// VODSegment is the length of one segment of a replay's HLS VOD rendition
// (internal/hls.VODPlaylist): 4 s, 200 frames of 20 ms.
const VODSegment = 4 * samplesPerSecond

// Span is the audio of a stretch of a complete recording as Opus packets,
// never re-encoded: what one HLS VOD segment carries.
type Span struct {
	Start    int64    // the first packet's start, in 48 kHz samples from the recording's start
	Packets  [][]byte // consecutive packets
	Samples  []int64  // each packet's duration in samples
	Channels int      // from the stream's OpusHead
	PreSkip  uint16   // from the stream's OpusHead
	Meta     Meta     // the recording's (its visibility: Public)
}

// maxSpanSamples bounds one Span (a minute): a segment request cannot make
// the server read a whole recording into memory.
const maxSpanSamples = 60 * samplesPerSecond

// ReplayFormat is a complete recording's stream format: a Span with no
// packets, what the VOD init section needs. It reads the header pages only.
func (m *Manager) ReplayFormat(id string) (Span, error) {
	rp, err := m.OpenReplay(id)
	if err != nil {
		return Span{}, err
	}
	defer rp.Close()
	st, err := m.replayStart(rp.Meta, rp.obj, min(rp.obj.Size(), rp.Meta.Bytes), 0)
	if err != nil {
		return Span{}, err
	}
	return st.span(rp.Meta)
}

// ReplaySpan reads the packets of a complete recording that start in
// [from, to) (48 kHz samples, to−from at most a minute) with the side
// index: it reads about a second of pages before from and the pages of the
// span itself. A span past the end answers ErrRange.
func (m *Manager) ReplaySpan(id string, from, to int64) (Span, error) {
	if from < 0 || to <= from || to-from > maxSpanSamples {
		return Span{}, fmt.Errorf("recording: bad span [%d, %d)", from, to)
	}
	rp, err := m.OpenReplay(id)
	if err != nil {
		return Span{}, err
	}
	defer rp.Close()
	if from >= rp.Meta.Samples {
		return Span{}, ErrRange
	}
	limit := min(rp.obj.Size(), rp.Meta.Bytes)
	st, err := m.replayStart(rp.Meta, rp.obj, limit, from)
	if err != nil {
		return Span{}, err
	}
	sp, err := st.span(rp.Meta)
	if err != nil {
		return Span{}, err
	}
	off, g := st.off, st.granule // g: the granule at the start of the page at off
	var buf []byte
	var partial []byte // a packet continued on the next page
	for {
		pg, b, err := readPage(rp.obj, off, limit, buf)
		if errors.Is(err, errTorn) {
			break // the end of what was written
		}
		if err != nil {
			return Span{}, err
		}
		buf = b
		off += int64(pg.n)
		lacing := b[pageHeaderLen : pageHeaderLen+pg.segs]
		body := b[pageHeaderLen+pg.segs:]
		if pg.flags&ogg.FlagContinued == 0 {
			partial = partial[:0]
		}
		at := g
		for _, l := range lacing {
			partial = append(partial, body[:l]...)
			body = body[l:]
			if l == 255 {
				continue
			}
			n := opusSamples(partial)
			if at >= to {
				return sp, nil
			}
			if at >= from {
				if len(sp.Packets) == 0 {
					sp.Start = at
				}
				sp.Packets = append(sp.Packets, append([]byte(nil), partial...))
				sp.Samples = append(sp.Samples, n)
			}
			at += n
			partial = partial[:0]
		}
		if pg.granule > 0 {
			g = pg.granule
		} else {
			g = at
		}
		if pg.flags&ogg.FlagEOS != 0 {
			break
		}
	}
	if len(sp.Packets) == 0 {
		return Span{}, ErrRange
	}
	return sp, nil
}

// replayStart is where reading a complete recording for a granule starts.
type replayStart struct {
	headerEnd    int64  // the header pages (OpusHead, OpusTags) are bytes 0 to headerEnd−1
	off, granule int64  // the page to read from (the side index's, at or before the granule) and the granule it starts at
	head         []byte // the OpusHead packet
}

// replayStart reads the header pages of a complete recording's object o
// (readable up to limit) and finds in its side index where the pages
// holding granule g start; without an index, the first audio page.
func (m *Manager) replayStart(meta Meta, o Object, limit, g int64) (replayStart, error) {
	var st replayStart
	var buf []byte
	for i := range 2 {
		pg, b, err := readPage(o, st.headerEnd, limit, buf)
		if err != nil {
			return replayStart{}, err
		}
		buf = b
		if i == 0 {
			st.head = append([]byte(nil), b[pageHeaderLen+pg.segs:]...)
		}
		st.headerEnd += int64(pg.n)
	}
	st.off = st.headerEnd
	if ix, err := m.st.Open(meta.Index); err == nil {
		idx, _ := readIndex(ix)
		ix.Close()
		if e, ok := seek(idx, g); ok && e.Offset < limit {
			st.off, st.granule = e.Offset, e.Granule
		}
	}
	return st, nil
}

// span is a Span of the stream's format, with no packets yet.
func (st replayStart) span(meta Meta) (Span, error) {
	ch, pre, err := opusHead(st.head)
	return Span{Channels: ch, PreSkip: pre, Meta: meta}, err
}

// opusHead reads the channel count and pre-skip of an OpusHead packet
// (RFC 7845 section 5.1).
func opusHead(p []byte) (channels int, preSkip uint16, err error) {
	if len(p) < 19 || string(p[:8]) != "OpusHead" || p[9] == 0 {
		return 0, 0, fmt.Errorf("%w: no OpusHead", errTorn)
	}
	return int(p[9]), binary.LittleEndian.Uint16(p[10:]), nil
}
