package program

import (
	"encoding/binary"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"

	"majlis/internal/wsframe"
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
	// MaxChunkFrames is the longest chunk: 1 s. A chunk is also cut early
	// when its packets would need more than the 255 lacing values of one
	// Ogg page (only with packets far above the program bitrate).
	MaxChunkFrames = 50
	maxChunkFrames = MaxChunkFrames

	DefaultChunkFrames = 2 // program frames per chunk when Config.ChunkFrames is 0
	defaultRingChunks  = 128
	minRingChunks      = 4
	defaultPreSkip     = 312 // libopus encoder lookahead at 48 kHz

	vendor = "majlis"
)

// Config describes a program. Zero values take the documented defaults.
type Config struct {
	Channels    int    // 1 or 2, for OpusHead; default 1
	ChunkFrames int    // frames per chunk at start, default 2 (40 ms), at most 50 (see SetChunkFrames)
	RingChunks  int    // chunks of history kept, default 128
	Serial      uint32 // Ogg stream serial; random if 0
	PreSkip     uint16 // OpusHead pre-skip, default 312
}

func (c Config) normalized() Config {
	if c.Channels != 2 {
		c.Channels = 1
	}
	if c.ChunkFrames <= 0 {
		c.ChunkFrames = DefaultChunkFrames
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
//
// The byte slices share one backing array: Ogg is the middle of OggHTTP
// and WS the tail of WSFrame, so the wire-ready forms cost no extra copy.
type Chunk struct {
	Index    uint64
	FirstSeq uint64   // program frame number of Frames[0]; frames are numbered from 0, consecutively
	Frames   [][]byte // the Opus packets
	Ogg      []byte   // one complete Ogg page: seq Index+2, granule = samples decoded at its end
	WS       []byte   // one WebSocket binary message payload (docs/listen-protocol.md)
	// OggHTTP is Ogg as one HTTP/1.1 chunked-encoding chunk (size line,
	// page, CRLF), and WSFrame is WS as one complete unmasked server-to-
	// client WebSocket binary frame (RFC 6455 header + payload): the bytes
	// a listener connection is written, built once for all.
	OggHTTP []byte
	WSFrame []byte
}

// Program is the mixed Opus stream of one room: a ring of recent chunks.
//
// WriteFrame must be called from one goroutine (the mixer). All other
// methods are safe for concurrent use; the read side (Head, Chunk, Wait,
// Closed) takes no lock at all.
type Program struct {
	cfg         Config
	headers     []byte
	headersHTTP []byte

	head atomic.Uint64
	ring []atomic.Pointer[Chunk]
	wait atomic.Pointer[chan struct{}]
	// notify are the channels told of every chunk and of Close (Notify);
	// copy on write under mu.
	notify atomic.Pointer[[]chan<- struct{}]
	closed atomic.Bool
	// mu orders publishing against Close so no chunk appears after Close
	// and the wait channel is closed exactly once. Only WriteFrame and Close
	// take it, never a reader.
	mu sync.Mutex

	chunkFrames atomic.Int32 // target frames per chunk, see SetChunkFrames

	// Owned by the WriteFrame goroutine.
	pending  [][]byte
	lacing   int // lacing values the pending packets need in an Ogg page
	nextSeq  uint64
	silence  []byte
	replaced atomic.Uint64
	lv       [MaxChunkLevels]Level // levels noted for the pending chunk (NoteLevel)
	nlv      int
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
	p.chunkFrames.Store(int32(cfg.ChunkFrames))
	p.pending = make([][]byte, 0, maxChunkFrames)
	// A CELT-only fullband 20 ms frame with no payload decodes as silence.
	toc := byte(0xF8)
	if cfg.Channels == 2 {
		toc |= 0x04
	}
	p.silence = []byte{toc, 0xFF, 0xFE}

	hdr := appendOggPage(nil, oggFlagBOS, 0, cfg.Serial, 0, [][]byte{opusHead(cfg.Channels, cfg.PreSkip)})
	p.headers = appendOggPage(hdr, 0, 0, cfg.Serial, 1, [][]byte{opusTags(vendor)})
	h := strconv.AppendInt(nil, int64(len(p.headers)), 16)
	h = append(h, "\r\n"...)
	h = append(h, p.headers...)
	p.headersHTTP = append(h, "\r\n"...)
	return p
}

// Config returns the program's configuration with defaults applied.
// Config().ChunkFrames is the initial chunk length; see ChunkFrames.
func (p *Program) Config() Config { return p.cfg }

// ChunkFrames is the current target number of frames per chunk.
func (p *Program) ChunkFrames() int { return int(p.chunkFrames.Load()) }

// SetChunkFrames changes the chunk length from the next chunk on (clamped
// to 1..MaxChunkFrames). Longer chunks mean fewer, larger writes per
// listener (cheaper fan-out) and up to one chunk more latency. Safe to call
// from any goroutine.
func (p *Program) SetChunkFrames(n int) {
	p.chunkFrames.Store(int32(max(1, min(n, maxChunkFrames))))
}

// OggHeaders returns the OpusHead page (seq 0, BOS) followed by the OpusTags
// page (seq 1). It is shared: do not modify it.
func (p *Program) OggHeaders() []byte { return p.headers }

// OggHeadersHTTP is OggHeaders as one HTTP/1.1 chunked-encoding chunk.
func (p *Program) OggHeadersHTTP() []byte { return p.headersHTTP }

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
// incomplete chunk are discarded (Finish publishes them first).
func (p *Program) Close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed.Load() {
		return
	}
	p.closed.Store(true)
	close(*p.wait.Load())
	p.tell()
}

// Finish publishes the frames gathered for an incomplete chunk as a
// shorter last chunk, then closes the program: a room that ends keeps
// its last words (up to MaxChunkFrames-1 frames at long chunk lengths)
// in every recording and listener. Only the WriteFrame goroutine may call
// it, or a goroutine that has made sure WriteFrame is no longer called
// (the live room calls it after its mixer left the clock).
func (p *Program) Finish() {
	if !p.closed.Load() {
		p.flush()
	}
	p.Close()
}

// Notify has a token sent to ch, without blocking, whenever a chunk is
// published and when the program closes (at once if it already has). A
// reader that serves many programs gives each its one channel of capacity
// 1: a burst of chunks from many programs then wakes it once, where Wait
// would need a goroutine per program. stop ends the notices.
func (p *Program) Notify(ch chan<- struct{}) (stop func()) {
	p.mu.Lock()
	var next []chan<- struct{}
	if old := p.notify.Load(); old != nil {
		next = append(next, *old...)
	}
	next = append(next, ch)
	p.notify.Store(&next)
	if p.closed.Load() {
		send(ch)
	}
	p.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			p.mu.Lock()
			defer p.mu.Unlock()
			old := *p.notify.Load()
			next := make([]chan<- struct{}, 0, len(old))
			removed := false
			for _, c := range old {
				if c == ch && !removed {
					removed = true
					continue
				}
				next = append(next, c)
			}
			p.notify.Store(&next)
		})
	}
}

// tell sends the Notify channels their token; p.mu is held.
func (p *Program) tell() {
	if ns := p.notify.Load(); ns != nil {
		for _, c := range *ns {
			send(c)
		}
	}
}

func send(ch chan<- struct{}) {
	select {
	case ch <- struct{}{}:
	default: // a token is already waiting
	}
}

// Replaced counts packets WriteFrame replaced by silence because they were
// empty or longer than MaxPacket.
func (p *Program) Replaced() uint64 { return p.replaced.Load() }

// FramesToChunkEnd is how many more frames WriteFrame needs before it
// publishes the current chunk (at least 1). Only the goroutine that calls
// WriteFrame may call it: a mixer asks it to wake once per chunk.
func (p *Program) FramesToChunkEnd() int {
	return max(int(p.chunkFrames.Load())-len(p.pending), 1)
}

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
	// A chunk is one Ogg page: publish early rather than overflow its
	// 255 lacing values.
	if p.lacing+lacingSegments(len(opus)) > oggMaxSegments {
		p.flush()
	}
	p.pending = append(p.pending, opus)
	p.lacing += lacingSegments(len(opus))
	p.nextSeq++
	if len(p.pending) >= int(p.chunkFrames.Load()) {
		p.flush()
	}
}

func (p *Program) flush() {
	if len(p.pending) == 0 {
		return
	}
	frames := p.pending
	// The chunk keeps frames; the next one gets a slice of its own, sized
	// for the current chunk length (not the longest: a pointer slice of 50
	// per 40 ms chunk was a quarter of an idle room's CPU, in the GC).
	p.pending = make([][]byte, 0, p.chunkFrames.Load())
	p.lacing = 0
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
	p.tell()
}

// wsHeaderLen is the fixed part of a WebSocket chunk message.
const wsHeaderLen = 1 + 8 + 8 + 2 + 1

// WSVersion is the framing version in byte 0 of every WebSocket message.
// Version 2 added the speakers' levels after the packets.
const WSVersion = 2

func (p *Program) buildChunk(idx, first uint64, frames [][]byte) *Chunk {
	oggLen := oggPageLen(frames)
	wsLen := wsHeaderLen
	for _, f := range frames {
		wsLen += 2 + len(f)
	}
	levels := p.lv[:p.nlv]
	p.nlv = 0
	if len(levels) > 0 {
		wsLen += 1 + wsLevelLen*len(levels)
	}
	// One backing array for all framings: one allocation per chunk.
	buf := make([]byte, 0, 8+oggLen+2+14+wsLen)
	buf = strconv.AppendInt(buf, int64(oggLen), 16)
	buf = append(buf, "\r\n"...)
	oggStart := len(buf)
	granule := int64((first + uint64(len(frames))) * FrameSamples)
	buf = appendOggPage(buf, 0, granule, p.cfg.Serial, uint32(idx+2), frames)
	ogg := buf[oggStart : oggStart+oggLen : oggStart+oggLen]
	buf = append(buf, "\r\n"...)
	oggHTTP := buf[:len(buf):len(buf)]

	frameStart := len(buf)
	buf = wsframe.AppendHeader(buf, wsframe.OpBinary, wsLen)
	wsStart := len(buf)
	ws := buf[wsStart:wsStart]
	ws = append(ws, WSVersion)
	ws = binary.BigEndian.AppendUint64(ws, first)
	ws = binary.BigEndian.AppendUint64(ws, first*FrameSamples)
	ws = binary.BigEndian.AppendUint16(ws, FrameSamples)
	ws = append(ws, byte(len(frames)))
	for _, f := range frames {
		ws = binary.BigEndian.AppendUint16(ws, uint16(len(f)))
		ws = append(ws, f...)
	}
	if len(levels) > 0 {
		ws = append(ws, byte(len(levels)))
		for _, l := range levels {
			ws = binary.BigEndian.AppendUint32(ws, l.Speaker)
			ws = append(ws, l.Level)
		}
	}
	wsFrame := buf[frameStart : wsStart+len(ws) : wsStart+len(ws)]
	return &Chunk{Index: idx, FirstSeq: first, Frames: frames, Ogg: ogg, WS: ws, OggHTTP: oggHTTP, WSFrame: wsFrame}
}

// ChunkStep is one step of an adaptive chunk length: from Listeners
// listeners on, chunks are Frames frames long.
type ChunkStep struct {
	Listeners int
	Frames    int
}

// DefaultChunkSteps trade latency for cheaper delivery as the audience
// grows: 40 ms chunks for small rooms, 1 s for the largest. Each step adds
// up to its chunk length (minus 20 ms) to the mouth-to-ear latency.
var DefaultChunkSteps = []ChunkStep{
	{0, 2},      // 40 ms
	{500, 5},    // 100 ms
	{2000, 10},  // 200 ms
	{10000, 25}, // 500 ms
	{30000, 50}, // 1 s
}

// ChunkFramesFor returns the chunk length for an audience of listeners
// under steps (sorted by Listeners), clamped to [minFrames, maxFrames].
func ChunkFramesFor(listeners int, steps []ChunkStep, minFrames, maxFrames int) int {
	f := minFrames
	for _, s := range steps {
		if listeners >= s.Listeners {
			f = s.Frames
		}
	}
	return max(minFrames, min(f, maxFrames, maxChunkFrames))
}
