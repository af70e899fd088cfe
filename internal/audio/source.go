package audio

import (
	"math"
	"sync"
	"sync/atomic"
)

const (
	// ringSize is the jitter ring capacity in packets (a power of two). It
	// covers MaxJitterDelay of 10 ms packets with room for reordering.
	ringSize = 128
	ringMask = ringSize - 1
	// maxConcealFrames bounds libopus PLC to 100 ms per gap; after that a
	// source is silent, since extrapolating further only sounds worse.
	maxConcealFrames = 5
	// maxGapSamples: a timestamp jump of more than 1 s between consecutive
	// packets is a new talk spurt or a restarted sender, not loss, so
	// playout restarts (rebuffers) rather than concealing.
	maxGapSamples = SampleRate
	// resetSeqDistance: a packet this far behind what was played means the
	// sender restarted its sequence numbers; the source starts over.
	resetSeqDistance = 1000
	// levelDecay is the per-frame fall of Level (fast attack, ~0.2 s decay)
	// so speaking indicators do not flicker between syllables.
	levelDecay = 0.9
)

// slot is one packet in the jitter ring. seq and ts are extended (unwrapped)
// to 64 bits.
type slot struct {
	used    bool
	seq     int64
	ts      int64
	samples int
	data    []byte
}

// SourceStats counts what happened to a source's packets.
type SourceStats struct {
	Packets    uint64 // accepted into the jitter buffer
	Invalid    uint64 // not a well-formed Opus packet
	Duplicates uint64 // same sequence number seen twice
	Late       uint64 // arrived after its playout time
	Dropped    uint64 // discarded to bring an overfull buffer back to target
	Concealed  uint64 // PLC operations (at most one 20 ms frame each) standing in for a missing packet
}

// Source is one speaker feeding a Mixer.
type Source struct {
	id string
	m  *Mixer

	muted  atomic.Bool
	closed atomic.Bool   // Close was called: Attach does nothing
	level  atomic.Uint64 // math.Float64bits of the smoothed RMS

	packets, invalid, dups, late, dropped, concealed atomic.Uint64

	// mu guards the ring and the sequence state. Push holds it for one
	// payload copy; the tick holds it for one slot lookup and a buffer swap.
	mu        sync.Mutex
	ring      [ringSize]slot
	started   bool  // a packet has been accepted since the last reset
	topSeq    int64 // highest extended sequence number accepted
	topTs     int64 // extended timestamp of topSeq
	topEnd    int64 // topTs plus the duration of that packet
	readSeq   int64 // next sequence number to play; lower ones are late
	readValid bool  // readSeq means something (playout has begun once)
	playing   bool  // past the initial JitterDelay; written by the tick

	// Owned by the mixer goroutine.
	dec        *Decoder
	channels   int
	target     int64 // JitterDelay in samples
	maxDepth   int64 // buffered samples beyond which old audio is dropped
	scratch    []byte
	fifo       []int16 // decoded PCM not yet mixed, interleaved
	fifoN      int     // samples per channel in fifo
	playTs     int64   // extended RTP timestamp of the sample after fifo's last
	concealRun int     // consecutive frames concealed
}

func newSource(m *Mixer, id string, dec *Decoder) *Source {
	ch := m.cfg.Channels
	target := int64(m.cfg.JitterDelay) * SampleRate / 1e9
	return &Source{
		id:       id,
		m:        m,
		dec:      dec,
		channels: ch,
		target:   target,
		maxDepth: 2*target + 5*FrameSamples,
		scratch:  make([]byte, 0, 1500),
		fifo:     make([]int16, (FrameSamples+MaxPacketSamples)*ch),
	}
}

// ID is the id the source was added with.
func (s *Source) ID() string { return s.id }

// Push hands the source one RTP packet: sequence number, timestamp (48 kHz
// clock) and Opus payload. It copies payload, never blocks on the mixer, and
// silently drops malformed, duplicate and late packets (see Stats).
func (s *Source) Push(seq uint16, ts uint32, payload []byte) {
	n, err := PacketSamples(payload)
	if err != nil {
		s.invalid.Add(1)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.started {
		s.started = true
		s.topSeq, s.topTs, s.topEnd = int64(seq), int64(ts), int64(ts)+int64(n)
	}
	es := s.topSeq + int64(int16(seq-uint16(s.topSeq)))
	et := s.topTs + int64(int32(ts-uint32(s.topTs)))
	if s.readValid && es < s.readSeq {
		if s.readSeq-es < resetSeqDistance {
			s.late.Add(1)
			return
		}
		// The sender restarted; start over from this packet.
		s.resetLocked()
		s.started = true
		es, et = int64(seq), int64(ts)
		s.topSeq, s.topTs, s.topEnd = es, et, et+int64(n)
	}
	sl := &s.ring[es&ringMask]
	if sl.used {
		switch {
		case sl.seq == es:
			s.dups.Add(1)
			return
		case sl.seq > es:
			s.late.Add(1) // older than the whole ring
			return
		}
		s.dropped.Add(1) // an unplayed packet a whole ring older
	}
	sl.used, sl.seq, sl.ts, sl.samples = true, es, et, n
	sl.data = append(sl.data[:0], payload...)
	if es > s.topSeq {
		s.topSeq, s.topTs, s.topEnd = es, et, et+int64(n)
	}
	s.packets.Add(1)
}

// resetLocked forgets all sequence state. s.mu must be held.
func (s *Source) resetLocked() {
	for i := range s.ring {
		s.ring[i].used = false
	}
	s.started, s.readValid, s.playing = false, false, false
}

// SetMuted mutes or unmutes the source. A muted source is still drained
// every tick, so it stays in sync and unmutes without a burst.
func (s *Source) SetMuted(muted bool) { s.muted.Store(muted) }

// Muted reports whether the source is muted.
func (s *Source) Muted() bool { return s.muted.Load() }

// Level is the recent RMS level of what the source contributes to the mix,
// 0..1 of full scale (0 while muted). It is safe from any goroutine.
func (s *Source) Level() float64 { return math.Float64frombits(s.level.Load()) }

// Stats returns the source's packet counters.
func (s *Source) Stats() SourceStats {
	return SourceStats{
		Packets:    s.packets.Load(),
		Invalid:    s.invalid.Load(),
		Duplicates: s.dups.Load(),
		Late:       s.late.Load(),
		Dropped:    s.dropped.Load(),
		Concealed:  s.concealed.Load(),
	}
}

// Close removes the source from its mixer. Pushing to a closed source is
// harmless.
func (s *Source) Close() {
	s.closed.Store(true)
	s.m.remove(s)
}

// firstLocked returns the buffered packet with the lowest sequence number at
// or after readSeq, or nil. s.mu must be held.
func (s *Source) firstLocked() *slot {
	for i := s.readSeq; i < s.readSeq+ringSize; i++ {
		sl := &s.ring[i&ringMask]
		if sl.used && sl.seq == i {
			return sl
		}
	}
	return nil
}

// takeLocked removes sl from the ring, keeping its payload in s.scratch, and
// moves readSeq past it. s.mu must be held.
func (s *Source) takeLocked(sl *slot) {
	s.scratch, sl.data = sl.data, s.scratch[:0]
	sl.used = false
	s.readSeq = sl.seq + 1
}

// frame makes sure fifo holds at least one 20 ms frame and returns it. It is
// called once per tick on the mixer goroutine, with the number of frames
// its batch still takes after this one; the caller then calls consume.
func (s *Source) frame(ahead int) []int16 {
	if !s.prepare(int64(ahead) * FrameSamples) {
		s.fifoN = FrameSamples
		frame := s.fifo[:FrameSamples*s.channels]
		clear(frame)
		return frame
	}
	for s.fifoN < FrameSamples {
		if !s.fill(FrameSamples - s.fifoN) {
			// Playout restarted mid-frame: finish the frame with silence.
			clear(s.fifo[s.fifoN*s.channels : FrameSamples*s.channels])
			s.fifoN = FrameSamples
		}
	}
	return s.fifo[:FrameSamples*s.channels]
}

// prepare starts playout once JitterDelay is buffered and trims an overfull
// buffer. It reports whether the source is playing. ahead is the audio
// (samples per channel) the mixer's batch takes after this frame before it
// next looks at the network: a batch runs when its last frame is due, so
// the buffer then holds that much more than the target, which is neither a
// reason to start early (the batch would run dry) nor to trim.
func (s *Source) prepare(ahead int64) bool {
	if s.dec == nil {
		return false // see Mixer.AddSource
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.playing {
		var first *slot
		for i := range s.ring {
			sl := &s.ring[i]
			if sl.used && (!s.readValid || sl.seq >= s.readSeq) && (first == nil || sl.seq < first.seq) {
				first = sl
			}
		}
		// Wait for target plus one packet less one frame: whatever the
		// packet duration, the next packet then has target-20ms of slack
		// to arrive late before it is needed.
		if first == nil || s.topEnd-first.ts < s.target+ahead+(s.topEnd-s.topTs)-FrameSamples {
			return false
		}
		s.playing, s.readValid = true, true
		s.readSeq, s.playTs = first.seq, first.ts
		s.fifoN, s.concealRun = 0, 0
		return true
	}
	if s.topEnd-s.playTs+int64(s.fifoN) <= s.maxDepth+ahead {
		return true
	}
	// Sender clock faster than ours, or a burst after a stall: drop the
	// oldest audio so latency returns to the target.
	s.fifoN = 0
	for sl := s.firstLocked(); sl != nil && s.topEnd-sl.ts > s.target+ahead; sl = s.firstLocked() {
		sl.used = false
		s.readSeq = sl.seq + 1
		s.dropped.Add(1)
	}
	if sl := s.firstLocked(); sl != nil {
		s.playTs = sl.ts
	} else {
		s.playTs = s.topEnd - s.target - ahead
	}
	return true
}

// fill appends up to need samples per channel to fifo: a decoded packet, or
// concealment when the next packet is missing. It returns false if playout
// had to restart (the source is then silent until rebuffered).
func (s *Source) fill(need int) bool {
	s.mu.Lock()
	sl := s.firstLocked()
	for sl != nil && sl.ts+int64(sl.samples) <= s.playTs {
		// Its time has passed (it was concealed already).
		sl.used = false
		s.readSeq = sl.seq + 1
		s.late.Add(1)
		sl = s.firstLocked()
	}
	switch {
	case sl == nil:
		restart := s.concealRun >= maxConcealFrames
		if restart {
			s.playing = false
		}
		s.mu.Unlock()
		if restart {
			return false
		}
		s.conceal(need)
		return true
	case sl.ts > s.playTs:
		gap := sl.ts - s.playTs
		if gap > maxGapSamples {
			s.playing = false
			s.mu.Unlock()
			return false
		}
		s.mu.Unlock()
		s.conceal(int(min(gap, int64(need))))
		return true
	}
	skip := int(s.playTs - sl.ts)
	ts, end := sl.ts, sl.ts+int64(sl.samples)
	s.takeLocked(sl)
	s.mu.Unlock()

	ch := s.channels
	dst := s.fifo[s.fifoN*ch : (s.fifoN+MaxPacketSamples)*ch]
	n, err := s.dec.Decode(s.scratch, dst)
	if err != nil || n <= skip {
		// A packet libopus rejects counts as lost.
		s.conceal(int(min(end-s.playTs, int64(need))))
		return true
	}
	if skip > 0 {
		copy(dst, dst[skip*ch:n*ch])
	}
	s.fifoN += n - skip
	s.playTs = ts + int64(n)
	s.concealRun = 0
	return true
}

// conceal appends n samples per channel of libopus PLC, or silence once the
// gap has lasted maxConcealFrames, and advances the playout timestamp.
func (s *Source) conceal(n int) {
	ch := s.channels
	dst := s.fifo[s.fifoN*ch : (s.fifoN+n)*ch]
	s.fifoN += n
	s.playTs += int64(n)
	plc := n - n%(SampleRate/400) // libopus conceals whole 2.5 ms units
	if s.concealRun >= maxConcealFrames || plc == 0 || s.dec == nil {
		clear(dst)
		return
	}
	s.concealRun++
	if _, err := s.dec.Conceal(dst[:plc*ch]); err != nil {
		clear(dst)
	} else {
		clear(dst[plc*ch:])
	}
	s.concealed.Add(1)
	if s.m.cfg.OnConceal != nil {
		s.m.cfg.OnConceal()
	}
}

// consume drops the frame returned by frame from fifo and records its level.
func (s *Source) consume(frame []int16, muted bool) {
	rms := 0.0
	if !muted {
		rms = RMS(frame)
	}
	prev := s.Level()
	if rms < prev {
		rms = max(rms, prev*levelDecay)
	}
	s.level.Store(math.Float64bits(rms))
	ch := s.channels
	copy(s.fifo, s.fifo[FrameSamples*ch:s.fifoN*ch])
	s.fifoN -= FrameSamples
}
