package program

import (
	"encoding/binary"
	"math/rand/v2"
	"sync"
	"sync/atomic"
)

// Timing of the program: every frame is one 20 ms Opus packet, counted in
// 48 kHz samples as Opus and Ogg do regardless of the encoder's real rate.
const (
	SampleRate   = 48000
	FrameSamples = 960 // 20 ms at 48 kHz
)

// Limits that keep every chunk inside one Ogg page (255 lacing values).
const (
	// MaxPacket is the largest Opus packet accepted by WriteFrame: the
	// RFC 6716 limit for one frame. Larger (or empty) packets are replaced
	// by a silence frame so frame numbering and timing stay intact.
	MaxPacket = 1275
	// maxChunkFrames keeps ChunkFrames*lacingSegments(MaxPacket) <= 255.
	maxChunkFrames = 32

	defaultChunkFrames = 2
	defaultRingChunks  = 128
	minRingChunks      = 4
	defaultPreSkip     = 312 // libopus encoder lookahead at 48 kHz

	vendor = "majlis"
)

// Config describes a program. Zero values take the documented defaults.
type Config struct {
	Channels    int    // 1 or 2, for OpusHead; default 1
	ChunkFrames int    // frames per chunk, default 2 (40 ms), at most 32
	RingChunks  int    // chunks of history kept, default 128
	Serial      uint32 // Ogg stream serial; random if 0
	PreSkip     uint16 // OpusHead pre-skip, default 312
}

func (c Config) normalized() Config {
	if c.Channels != 2 {
		c.Channels = 1
	}
	if c.ChunkFrames <= 0 {
		c.ChunkFrames = defaultChunkFrames
	}
	c.ChunkFrames = min(c.ChunkFrames, maxChunkFrames)
	if c.RingChunks <= 0 {
		c.RingChunks = defaultRingChunks
	}
	c.RingChunks = max(c.RingChunks, minRingChunks)
	for c.Serial == 0 {
		c.Serial = rand.Uint32()
	}
	if c.PreSkip == 0 {
		c.PreSkip = defaultPreSkip
	}
	return c
}

// Chunk is ChunkFrames consecutive program frames, framed once per protocol.
// A published Chunk is immutable and shared by all readers: never modify it.
type Chunk struct {
	Index    uint64
	FirstSeq uint64   // program frame number of Frames[0]; frames are numbered from 0, consecutively
	Frames   [][]byte // the Opus packets
	Ogg      []byte   // one complete Ogg page: seq Index+2, granule = samples decoded at its end
	WS       []byte   // one WebSocket binary message payload (docs/listen-protocol.md)
}

// Program is the mixed Opus stream of one room: a ring of recent chunks.
//
// WriteFrame must be called from one goroutine (the mixer). All other
// methods are safe for concurrent use; the read side (Head, Chunk, Wait,
// Closed) takes no lock at all.
type Program struct {
	cfg     Config
	headers []byte

	head   atomic.Uint64
	ring   []atomic.Pointer[Chunk]
	wait   atomic.Pointer[chan struct{}]
	closed atomic.Bool
	// mu orders publishing against Close so no chunk appears after Close
	// and the wait channel is closed exactly once. Only WriteFrame and Close
	// take it, never a reader.
	mu sync.Mutex

	// Owned by the WriteFrame goroutine.
	pending  [][]byte
	nextSeq  uint64
	silence  []byte
	replaced atomic.Uint64
}

// New makes a program with no chunks yet.
func New(cfg Config) *Program {
	cfg = cfg.normalized()
	p := &Program{
		cfg:  cfg,
		ring: make([]atomic.Pointer[Chunk], cfg.RingChunks),
	}
	ch := make(chan struct{})
	p.wait.Store(&ch)
	p.pending = make([][]byte, 0, cfg.ChunkFrames)
	// A CELT-only fullband 20 ms frame with no payload decodes as silence.
	toc := byte(0xF8)
	if cfg.Channels == 2 {
		toc |= 0x04
	}
	p.silence = []byte{toc, 0xFF, 0xFE}

	hdr := appendOggPage(nil, oggFlagBOS, 0, cfg.Serial, 0, [][]byte{opusHead(cfg.Channels, cfg.PreSkip)})
	p.headers = appendOggPage(hdr, 0, 0, cfg.Serial, 1, [][]byte{opusTags(vendor)})
	return p
}

// Config returns the program's configuration with defaults applied.
func (p *Program) Config() Config { return p.cfg }

// OggHeaders returns the OpusHead page (seq 0, BOS) followed by the OpusTags
// page (seq 1). It is shared: do not modify it.
func (p *Program) OggHeaders() []byte { return p.headers }

// Head is the index of the next chunk to be published.
func (p *Program) Head() uint64 { return p.head.Load() }

// Chunk returns chunk i, or nil if it is not yet published or was already
// overwritten in the ring.
func (p *Program) Chunk(i uint64) *Chunk {
	if i >= p.head.Load() {
		return nil
	}
	c := p.ring[i%uint64(len(p.ring))].Load()
	if c == nil || c.Index != i {
		return nil
	}
	return c
}

// Wait returns a channel closed when the next chunk is published or the
// program closes. Get a new one after it fires. To avoid missing a wakeup,
// call Wait before the final check of Head.
func (p *Program) Wait() <-chan struct{} { return *p.wait.Load() }

// Closed reports whether Close was called. Once it reports true, Head no
// longer changes.
func (p *Program) Closed() bool { return p.closed.Load() }

// Close ends the program and wakes all waiters. Frames gathered for an
// incomplete chunk are discarded.
func (p *Program) Close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed.Load() {
		return
	}
	p.closed.Store(true)
	close(*p.wait.Load())
}

// Replaced counts packets WriteFrame replaced by silence because they were
// empty or longer than MaxPacket.
func (p *Program) Replaced() uint64 { return p.replaced.Load() }

// WriteFrame appends the next 20 ms Opus packet and publishes a chunk every
// ChunkFrames frames. It takes ownership of opus. It never blocks on
// readers; after Close it does nothing.
func (p *Program) WriteFrame(opus []byte) {
	if p.closed.Load() {
		return
	}
	if len(opus) == 0 || len(opus) > MaxPacket {
		opus = p.silence
		p.replaced.Add(1)
	}
	p.pending = append(p.pending, opus)
	p.nextSeq++
	if len(p.pending) < p.cfg.ChunkFrames {
		return
	}
	frames := p.pending
	p.pending = make([][]byte, 0, p.cfg.ChunkFrames)
	p.publish(frames)
}

func (p *Program) publish(frames [][]byte) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed.Load() {
		return
	}
	idx := p.head.Load()
	first := p.nextSeq - uint64(len(frames))
	c := p.buildChunk(idx, first, frames)
	p.ring[idx%uint64(len(p.ring))].Store(c)
	p.head.Store(idx + 1)
	ch := make(chan struct{})
	old := p.wait.Swap(&ch)
	close(*old)
}

// wsHeaderLen is the fixed part of a WebSocket chunk message.
const wsHeaderLen = 1 + 8 + 8 + 2 + 1

// WSVersion is the framing version in byte 0 of every WebSocket message.
const WSVersion = 1

func (p *Program) buildChunk(idx, first uint64, frames [][]byte) *Chunk {
	oggLen := oggPageLen(frames)
	wsLen := wsHeaderLen
	for _, f := range frames {
		wsLen += 2 + len(f)
	}
	// One backing array for both framings: one allocation per chunk.
	buf := make([]byte, 0, oggLen+wsLen)
	granule := int64((first + uint64(len(frames))) * FrameSamples)
	buf = appendOggPage(buf, 0, granule, p.cfg.Serial, uint32(idx+2), frames)
	ogg := buf[:oggLen:oggLen]

	ws := buf[oggLen:oggLen]
	ws = append(ws, WSVersion)
	ws = binary.BigEndian.AppendUint64(ws, first)
	ws = binary.BigEndian.AppendUint64(ws, first*FrameSamples)
	ws = binary.BigEndian.AppendUint16(ws, FrameSamples)
	ws = append(ws, byte(len(frames)))
	for _, f := range frames {
		ws = binary.BigEndian.AppendUint16(ws, uint16(len(f)))
		ws = append(ws, f...)
	}
	return &Chunk{Index: idx, FirstSeq: first, Frames: frames, Ogg: ogg, WS: ws}
}
