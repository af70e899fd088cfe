package audio

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

const (
	// MaxJitterDelay bounds MixerConfig.JitterDelay: the jitter ring holds
	// ringSize packets, and more than half a second of delay is not live.
	MaxJitterDelay = 500 * time.Millisecond
	// DefaultJitterDelay is the per-speaker buffer depth when
	// MixerConfig.JitterDelay is 0.
	DefaultJitterDelay = 60 * time.Millisecond
	// maxBehind is how far Run may fall behind its schedule before it skips
	// the missed ticks instead of catching up in a burst.
	maxBehind = 5 * FrameDuration
	// MaxBatchFrames bounds the frames Run produces per wake-up (see
	// MixerConfig.Batch). The jitter ring must hold JitterDelay plus a
	// batch of the shortest packets, and a batch is a burst of libopus work.
	MaxBatchFrames = 5
	// IdleBatch, returned by MixerConfig.Batch, says that nothing waits on
	// the mixer's timing (a room with no speaker: its program is silence).
	// The mixer then produces MaxBatchFrames per wake-up, and on a Clock
	// those batches end on the clock's common grid of MaxBatchFrames, so
	// every idle mixer of the process wakes at the same instants.
	IdleBatch = -1
)

// MixerConfig configures a Mixer. Out is required.
type MixerConfig struct {
	Channels    int           // program channels, 1 (default) or 2
	Bitrate     int           // program bitrate in bit/s, default DefaultBitrate
	JitterDelay time.Duration // target jitter buffer depth per speaker, default DefaultJitterDelay

	// Out receives each encoded program frame, once per tick, on the mixer
	// goroutine. The mixer never modifies a slice once passed, and neither
	// may the callee: a silent mix passes the same kept frame every tick.
	// Out must not block: it delays every speaker in the room.
	Out func(opus []byte)
	// OnLevels, if set, is called every tick, before Out, with the level of
	// each source at or above the voice gate (none while nobody talks),
	// forwarded speakers included (measured at a low rate, see
	// Source.forwardLevel). The slice is reused: it is valid only during
	// the call. Like Out, it must not block.
	OnLevels func([]SpeakerLevel)
	// OnTick, if set, is called after every tick with how long the tick
	// took and whether it started more than a frame behind schedule.
	OnTick func(took time.Duration, late bool)
	// OnConceal, if set, is called once per speaker frame concealed by
	// libopus PLC because its packet was lost or late.
	OnConceal func()
	// Clock is the time source for Run's schedule, default time.Now.
	Clock func() time.Time
	// Batch, if set, is asked before each of Run's wake-ups how many frames
	// to produce at it (clamped to 1..MaxBatchFrames). Run then sleeps until
	// the last of them is due and produces them back to back. A wake-up of
	// the mixer goroutine costs the Go runtime and the kernel several times
	// what encoding a frame does, so a program delivered in chunks should
	// wake once per chunk, or every MaxBatchFrames: no listener can tell,
	// since a chunk leaves only with its last frame. The earlier frames of a
	// batch are mixed later than their time, from packets that arrived
	// meanwhile; the jitter buffer counts them in (Source.prepare). Nil
	// means one frame per wake-up; IdleBatch, that nobody waits.
	Batch func() int
}

// Mixer mixes its Sources into one Opus program, one frame per Tick.
type Mixer struct {
	cfg MixerConfig

	mu      sync.Mutex                // serialises AddSource/remove
	byID    map[string]*Source        // guarded by mu
	sources atomic.Pointer[[]*Source] // copy-on-write snapshot read by the tick

	tickMu sync.Mutex // serialises Tick; never taken by Push
	enc    *Encoder
	lim    limiter
	acc    []int32        // mix accumulator, one frame
	pcm    []int16        // limited mix, one frame
	packet []byte         // encoder output, MaxPacketBytes
	lv     []SpeakerLevel // OnLevels' argument, reused

	// Silence costs no encode: after silenceSettle frames of digital
	// silence in a row the encoder's output for silence is steady, so the
	// frame encoded then is kept and sent again for as long as the mix
	// stays silent (guarded by tickMu).
	silentRun int
	silence   []byte

	encodeErrors atomic.Uint64
	silentTicks  atomic.Uint64
	forwarded    atomic.Uint64
}

// forwardFactor bounds a forwarded speaker's packets: at most this many
// times the program bitrate's frame, so a speaker alone cannot raise every
// listener's bandwidth far past the program's.
const forwardFactor = 4

// silenceSettle is how many silent frames the encoder gets before its
// silence frame is reused: enough for its state (the limiter, CELT's
// energy prediction, the bandwidth decision) to reach silence, so the first
// frame of speech after any silence is encoded as after a short one.
const silenceSettle = 10

// NewMixer validates cfg, fills in defaults and returns a Mixer with no
// sources. Start it with Run, or call Tick by hand.
func NewMixer(cfg MixerConfig) (*Mixer, error) {
	if cfg.Channels == 0 {
		cfg.Channels = 1
	}
	if cfg.Channels != 1 && cfg.Channels != 2 {
		return nil, fmt.Errorf("mixer: channels must be 1 or 2, got %d", cfg.Channels)
	}
	if cfg.Bitrate == 0 {
		cfg.Bitrate = DefaultBitrate
	}
	if cfg.JitterDelay == 0 {
		cfg.JitterDelay = DefaultJitterDelay
	}
	if cfg.JitterDelay < 0 || cfg.JitterDelay > MaxJitterDelay {
		return nil, fmt.Errorf("mixer: jitter delay %v outside 0..%v", cfg.JitterDelay, MaxJitterDelay)
	}
	if cfg.Out == nil {
		return nil, errors.New("mixer: Out is required")
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	enc, err := NewEncoder(cfg.Channels, cfg.Bitrate)
	if err != nil {
		return nil, fmt.Errorf("mixer: %w", err)
	}
	m := &Mixer{
		cfg:    cfg,
		byID:   make(map[string]*Source),
		enc:    enc,
		lim:    newLimiter(cfg.Channels),
		acc:    make([]int32, FrameSamples*cfg.Channels),
		pcm:    make([]int16, FrameSamples*cfg.Channels),
		packet: make([]byte, MaxPacketBytes),
	}
	m.sources.Store(&[]*Source{})
	return m, nil
}

// AddSource adds a speaker and returns it. Adding an id that is already
// present replaces (and closes) the old source.
func (m *Mixer) AddSource(id string) *Source {
	s := m.NewSource(id)
	s.Attach()
	return s
}

// NewSource returns a speaker that is not mixed yet: it buffers what is
// pushed to it, and joins the mix (replacing the source registered under
// its id) only with Attach. A session that may still fail to start uses
// it, so a failed attempt never takes the place of a working source.
func (m *Mixer) NewSource(id string) *Source {
	// The channel count was validated by NewMixer, so this cannot fail in
	// practice; if libopus ever refuses, the source is silent rather than
	// the caller having to handle an impossible error.
	dec, _ := NewDecoder(m.cfg.Channels)
	return newSource(m, id, dec)
}

// Attach puts s in the mix, replacing the source registered under its id.
// It does nothing once s is closed.
func (s *Source) Attach() {
	m := s.m
	m.mu.Lock()
	defer m.mu.Unlock()
	if s.closed.Load() {
		return
	}
	m.byID[s.id] = s
	m.publishLocked()
}

// remove drops s if it is still the source registered under its id.
func (m *Mixer) remove(s *Source) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.byID[s.id] != s {
		return
	}
	delete(m.byID, s.id)
	m.publishLocked()
}

// publishLocked swaps in a new snapshot for the tick. m.mu must be held.
func (m *Mixer) publishLocked() {
	list := make([]*Source, 0, len(m.byID))
	for _, s := range m.byID {
		list = append(list, s)
	}
	m.sources.Store(&list)
}

// Sources returns the number of sources.
func (m *Mixer) Sources() int { return len(*m.sources.Load()) }

// EncodeErrors counts ticks whose frame libopus failed to encode (and which
// therefore produced no Out call). It should stay 0.
func (m *Mixer) EncodeErrors() uint64 { return m.encodeErrors.Load() }

// Tick produces exactly one program frame now: one 20 ms frame from every
// source, mixed, limited, encoded and passed to Out. Run calls it on
// schedule; tests and benchmarks may call it directly (not concurrently with
// Run, or the program would play too fast).
func (m *Mixer) Tick() { m.tick(false, 0) }

// tick mixes one frame. ahead is the number of frames the current batch
// will mix after this one, with no new packets in between.
func (m *Mixer) tick(late bool, ahead int) {
	m.tickMu.Lock()
	defer m.tickMu.Unlock()
	start := m.cfg.Clock()

	srcs := *m.sources.Load()
	if m.forward(srcs, ahead) {
		m.onTick(start, late)
		return
	}
	clear(m.acc)
	loud := false
	for _, s := range srcs {
		muted := s.Muted()
		frame := s.frame(ahead, muted)
		if s.measure(frame, muted) {
			for i, v := range frame {
				m.acc[i] += int32(v)
			}
			loud = loud || !allZero(frame)
		}
		s.consume()
	}
	m.levels(srcs)
	if loud {
		m.lim.process(m.acc, m.pcm)
		m.silentRun = 0
	} else {
		m.lim.silence()
		clear(m.pcm)
		if m.silentRun++; m.silentRun > silenceSettle && m.silence != nil {
			m.silentTicks.Add(1)
			m.cfg.Out(m.silence)
			m.onTick(start, late)
			return
		}
	}
	n, err := m.enc.Encode(m.pcm, m.packet)
	if err != nil || n == 0 {
		m.encodeErrors.Add(1)
	} else {
		out := make([]byte, n)
		copy(out, m.packet[:n])
		if m.silentRun == silenceSettle {
			m.silence = out // never modified: Out gets it again while the mix stays silent
		}
		m.cfg.Out(out)
	}
	m.onTick(start, late)
}

// forward sends the program frame of a speaker alone as it came, when it
// can (Source.forward): with one voice there is nothing to mix, and the
// decode, the limiter and the encode (most of a room's CPU) are skipped.
// Muted sources are drained as in the mix. It reports whether it sent the
// frame.
func (m *Mixer) forward(srcs []*Source, ahead int) bool {
	var solo *Source
	for _, s := range srcs {
		if !s.Muted() {
			if solo != nil {
				return false
			}
			solo = s
		}
	}
	if solo == nil {
		return false
	}
	pkt := solo.forward(ahead, forwardFactor*m.cfg.Bitrate/8/(SampleRate/FrameSamples))
	if pkt == nil {
		return false
	}
	for _, s := range srcs {
		if s != solo {
			s.measure(s.frame(ahead, true), true)
			s.consume()
		}
	}
	m.silentRun = 0
	m.forwarded.Add(1)
	m.levels(srcs)
	m.cfg.Out(pkt)
	return true
}

// Forwarded counts the frames a speaker alone sent on as the program frame,
// neither decoded nor encoded.
func (m *Mixer) Forwarded() uint64 { return m.forwarded.Load() }

// SilentTicks counts the frames sent as the kept silence frame, not encoded.
func (m *Mixer) SilentTicks() uint64 { return m.silentTicks.Load() }

func (m *Mixer) onTick(start time.Time, late bool) {
	if m.cfg.OnTick != nil {
		m.cfg.OnTick(m.cfg.Clock().Sub(start), late)
	}
}

// allZero reports whether pcm is digital silence.
func allZero(pcm []int16) bool {
	for _, v := range pcm {
		if v != 0 {
			return false
		}
	}
	return true
}

// Run ticks every FrameDuration on an absolute schedule (start + n*20 ms, so
// timer jitter does not accumulate into drift) until ctx is done, then
// returns nil. With MixerConfig.Batch it wakes only for the last tick of
// each batch. If it falls more than a few frames behind (a stalled
// process, a suspended VM) it skips the missed ticks rather than emitting
// them in a burst, which listeners would only have to drop.
func (m *Mixer) Run(ctx context.Context) error {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	start := m.cfg.Clock()
	for n := int64(0); ; {
		k, _ := m.batch()
		deadline := start.Add(time.Duration(n+int64(k)-1) * FrameDuration)
		now := m.cfg.Clock()
		if wait := deadline.Sub(now); wait > 0 {
			timer.Reset(wait)
			select {
			case <-ctx.Done():
				return nil
			case <-timer.C:
			}
			now = m.cfg.Clock()
		} else if ctx.Err() != nil {
			return nil
		}
		behind := now.Sub(deadline)
		if behind > maxBehind {
			n, k = int64(now.Sub(start)/FrameDuration), 1
		}
		for i := range k {
			m.tick(behind > FrameDuration, k-1-i)
		}
		n += int64(k)
	}
}

// batch is the number of frames for the next wake-up, and whether the
// mixer said nobody waits on them (IdleBatch).
func (m *Mixer) batch() (int, bool) {
	if m.cfg.Batch == nil {
		return 1, false
	}
	k := m.cfg.Batch()
	if k == IdleBatch {
		return MaxBatchFrames, true
	}
	return min(max(k, 1), MaxBatchFrames), false
}
