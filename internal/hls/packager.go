package hls

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"majlis/internal/program"
)

const (
	frameSamples = program.FrameSamples
	frameDur     = 20 * time.Millisecond
)

// part is one LL-HLS partial segment: a moof + mdat of consecutive program
// frames. Published parts are immutable and shared by every request.
type part struct {
	k      uint64    // global part number: segment k/perSeg, part k%perSeg
	frames int       // ≤ the part target's frames; fewer only for the room's last part
	pdt    time.Time // wall time of its first frame
	data   []byte
}

// segment is a finished media segment: its parts' fragments end to end.
type segment struct {
	msn    uint64
	frames int
	data   []byte
}

// Packager is the LL-HLS rendition of one program. One goroutine (run,
// owned by the Origin) reads the program like any other reader and cuts
// parts and segments; HTTP requests read its rings without waiting on it
// (atomics), sleeping on Wait for a future part, and share rendered
// playlists through a cache keyed by (part, skip, final).
type Packager struct {
	prog    *program.Program
	timing  Timing
	serial  string // names the program in every URL: a restarted room gets new URLs
	init    []byte
	silence []byte

	// Published state. first is the first part cut (set once before the
	// first publication), head the next part to publish.
	first  atomic.Uint64
	head   atomic.Uint64
	parts  []atomic.Pointer[part]
	segs   []atomic.Pointer[segment]
	wait   atomic.Pointer[chan struct{}]
	ended  atomic.Bool
	endAt  atomic.Int64 // unix ns when ended
	done   chan struct{}
	pubMu  sync.Mutex // orders publish against end; writer only
	render renderCache

	// Owned by run.
	started  bool
	nextSeq  uint64
	pending  [][]byte
	pendPDT  time.Time
	segBuf   []byte
	segFrame int
	anchorT  time.Time
	anchorS  uint64
}

func newPackager(prog *program.Program, t Timing) *Packager {
	cfg := prog.Config()
	p := &Packager{
		prog:   prog,
		timing: t,
		serial: serialName(cfg.Serial),
		init:   initSection(cfg.Channels, cfg.PreSkip),
		parts:  make([]atomic.Pointer[part], (t.Window+4)*t.PartsPerSegment()),
		segs:   make([]atomic.Pointer[segment], t.Window+4),
		done:   make(chan struct{}),
	}
	toc := byte(0xF8) // CELT-only fullband 20 ms, no payload: silence (as program fills)
	if cfg.Channels == 2 {
		toc |= 0x04
	}
	p.silence = []byte{toc, 0xFF, 0xFE}
	ch := make(chan struct{})
	p.wait.Store(&ch)
	return p
}

func serialName(s uint32) string {
	const hex = "0123456789abcdef"
	var b [8]byte
	for i := 7; i >= 0; i-- {
		b[i] = hex[s&15]
		s >>= 4
	}
	return string(b[:])
}

// run reads the program from the oldest chunk it still holds until the
// program closes or ctx ends.
func (p *Packager) run(ctx context.Context, now func() time.Time) {
	defer close(p.done)
	defer p.finish(now)
	pos := uint64(0)
	if h, n := p.prog.Head(), uint64(p.prog.Config().RingChunks); h > n {
		pos = h - n
	}
	for {
		wait := p.prog.Wait()
		h := p.prog.Head()
		if p.anchorT.IsZero() && h > 0 {
			if c := p.prog.Chunk(h - 1); c != nil {
				p.anchor(c, now) // the history replayed below ends about now
			}
		}
		for ; pos < h; pos++ {
			c := p.prog.Chunk(pos)
			if c == nil { // overwritten: the gap is filled with silence
				continue
			}
			if pos+1 == h {
				p.anchor(c, now)
			}
			for i, f := range c.Frames {
				p.addFrame(c.FirstSeq+uint64(i), f)
			}
		}
		if p.prog.Closed() {
			return
		}
		select {
		case <-wait:
		case <-ctx.Done():
			return
		}
	}
}

// anchor maps frame numbers to wall time: the newest chunk, read as soon
// as it is published, ends about now. The mapping is kept while it stays
// within half a second of that (the mixer runs on the same clock).
func (p *Packager) anchor(c *program.Chunk, now func() time.Time) {
	end := c.FirstSeq + uint64(len(c.Frames))
	t := now()
	if p.anchorT.IsZero() {
		p.anchorT, p.anchorS = t, end
		return
	}
	if d := t.Sub(p.wall(end)); d > 500*time.Millisecond || d < -500*time.Millisecond {
		p.anchorT, p.anchorS = t, end
	}
}

func (p *Packager) wall(seq uint64) time.Time {
	return p.anchorT.Add(time.Duration(int64(seq)-int64(p.anchorS)) * frameDur)
}

func (p *Packager) addFrame(seq uint64, f []byte) {
	perPart := uint64(p.timing.PartFrames())
	if !p.started {
		// Parts are numbered from the program's frame 0: the same program
		// always yields the same part names and bytes.
		if seq%perPart != 0 || (seq/perPart)%uint64(p.timing.PartsPerSegment()) != 0 {
			return
		}
		p.started = true
		p.nextSeq = seq
		p.first.Store(seq / perPart)
		p.head.Store(seq / perPart)
	}
	if seq < p.nextSeq {
		return
	}
	for p.nextSeq < seq { // frames the packager missed: silence keeps the timeline whole
		p.push(p.silence)
	}
	p.push(f)
}

func (p *Packager) push(f []byte) {
	if len(p.pending) == 0 {
		p.pendPDT = p.wall(p.nextSeq)
	}
	p.pending = append(p.pending, f)
	p.nextSeq++
	if len(p.pending) == p.timing.PartFrames() {
		p.cut()
	}
}

// cut publishes the pending frames as the next part, and the segment when
// the part is its last.
func (p *Packager) cut() {
	if len(p.pending) == 0 {
		return
	}
	k := p.head.Load()
	firstSeq := p.nextSeq - uint64(len(p.pending))
	data := appendFragment(make([]byte, 0, fragmentLen(p.pending)), uint32(k+1), firstSeq*frameSamples, p.pending)
	pt := &part{k: k, frames: len(p.pending), pdt: p.pendPDT, data: data}
	p.pending = p.pending[:0]
	p.segBuf = append(p.segBuf, data...)
	p.segFrame += pt.frames
	per := uint64(p.timing.PartsPerSegment())
	var seg *segment
	if (k+1)%per == 0 {
		seg = &segment{msn: k / per, frames: p.segFrame, data: p.segBuf}
		p.segBuf, p.segFrame = nil, 0
	}
	p.publish(pt, seg)
}

func (p *Packager) publish(pt *part, seg *segment) {
	p.pubMu.Lock()
	defer p.pubMu.Unlock()
	if p.ended.Load() {
		return
	}
	p.parts[pt.k%uint64(len(p.parts))].Store(pt)
	if seg != nil {
		p.segs[seg.msn%uint64(len(p.segs))].Store(seg)
	}
	p.head.Store(pt.k + 1)
	ch := make(chan struct{})
	close(*p.wait.Swap(&ch))
}

// finish publishes what is pending as the last (short) part, the
// unfinished segment as a short last segment, and marks the rendition
// ended (EXT-X-ENDLIST).
func (p *Packager) finish(now func() time.Time) {
	if p.started {
		p.cut()
	}
	p.pubMu.Lock()
	defer p.pubMu.Unlock()
	if len(p.segBuf) > 0 && p.head.Load() > 0 {
		msn := (p.head.Load() - 1) / uint64(p.timing.PartsPerSegment())
		p.segs[msn%uint64(len(p.segs))].Store(&segment{msn: msn, frames: p.segFrame, data: p.segBuf})
		p.segBuf = nil
	}
	p.endAt.Store(now().UnixNano())
	p.ended.Store(true)
	close(*p.wait.Load())
}

// Ended reports whether the room's program ended (the playlist has EXT-X-ENDLIST).
func (p *Packager) Ended() bool { return p.ended.Load() }

// Init is the init section (ftyp + moov), shared: do not modify it.
func (p *Packager) Init() []byte { return p.init }

// Serial names this program in the media URLs.
func (p *Packager) Serial() string { return p.serial }

// Timing is the packager's part and segment lengths.
func (p *Packager) Timing() Timing { return p.timing }

// part returns part k if it is published and still held.
func (p *Packager) part(k uint64) *part {
	if k >= p.head.Load() || k < p.first.Load() {
		return nil
	}
	pt := p.parts[k%uint64(len(p.parts))].Load()
	if pt == nil || pt.k != k {
		return nil
	}
	return pt
}

// segment returns segment msn if it is complete and still held.
func (p *Packager) segment(msn uint64) *segment {
	s := p.segs[msn%uint64(len(p.segs))].Load()
	if s == nil || s.msn != msn {
		return nil
	}
	return s
}

// waitPart blocks until part k is published, the rendition ends, ctx ends
// or limit passes; it reports whether part k exists.
func (p *Packager) waitPart(ctx context.Context, k uint64, limit time.Duration) bool {
	return p.waitUntil(ctx, func() bool { return k < p.head.Load() && p.started0() }, limit)
}

// waitUntil blocks until ok holds, the rendition ends, ctx ends or limit
// passes, and returns ok's last answer. The request's own goroutine is the
// only one waiting: there is no goroutine per waiter.
func (p *Packager) waitUntil(ctx context.Context, ok func() bool, limit time.Duration) bool {
	var timer *time.Timer
	for {
		w := p.wait.Load()
		if ok() {
			return true
		}
		if p.ended.Load() {
			return ok()
		}
		if timer == nil {
			timer = time.NewTimer(limit)
			defer timer.Stop()
		}
		select {
		case <-*w:
		case <-timer.C:
			return ok()
		case <-ctx.Done():
			return false
		}
	}
}
