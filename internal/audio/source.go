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
	// voiceGate is the Level (RMS, 0..1 of full scale; about -66 dBFS)
	// under which a source is not mixed: a speaker who is not talking (an
	// open microphone's noise floor after the browser's noise suppression)
	// leaves the mix digitally silent, so the mixer sends its kept silence
	// frame instead of encoding. Level's fast attack opens the gate on the
	// first frame of speech; its decay holds it open for about 0.9 s after
	// speech at -20 dBFS, so word endings and pauses are not cut.
	voiceGate = 0.0005
	// silentPacketBytes: an Opus packet of at most this many bytes (the TOC
	// and at most two bytes of frame) covering at least 10 ms codes at most
	// 2.4 kbit/s: libopus's frames for digital silence, DTX and empty
	// frames. Speech needs several times that. Such packets are not decoded.
	silentPacketBytes = 3
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
	Decoded    uint64 // packets decoded by libopus
	Skipped    uint64 // packets played as silence without a decode: the source was muted, or the packet carries silence
	Forwarded  uint64 // packets sent on as the program frame, neither decoded nor encoded (Mixer: a speaker alone)
	Measured   uint64 // forwarded packets decoded only to measure Level (one in forwardMeasureEvery, after the packet before it)
}

// Source is one speaker feeding a Mixer.
type Source struct {
	id  string
	key uint32 // SpeakerKey(id)
	m   *Mixer

	muted  atomic.Bool
	closed atomic.Bool   // Close was called: Attach does nothing
	level  atomic.Uint64 // math.Float64bits of the smoothed RMS

	packets, invalid, dups, late, dropped, concealed, decoded, skipped, forwarded, measured atomic.Uint64

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
	deaf       bool    // this frame is muted: packets are consumed, not decoded
	// Packets not decoded (muted, silent, forwarded) leave the decoder's
	// state behind the stream; the last warmPackets of them are kept, and
	// decoded (output dropped) before the next decode or concealment, so
	// the decoder picks up the stream as if it had followed it.
	stale      bool
	forwarding byte // the TOC of the packet forwarded last frame, 0 when the last frame was mixed
	recent     [warmPackets][]byte
	recentNext int
	nRecent    int
	warmBuf    []int16
	fwdCount   int // forwarded frames until the next level measurement (forwardLevel)
}

// warmPackets is how many undecoded packets bring a decoder back to the
// stream: CELT's and SILK's prediction state follows the last few frames.
const warmPackets = 3

func newSource(m *Mixer, id string, dec *Decoder) *Source {
	ch := m.cfg.Channels
	target := int64(m.cfg.JitterDelay) * SampleRate / 1e9
	return &Source{
		id:       id,
		key:      SpeakerKey(id),
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
// every tick, so it stays in sync and unmutes without a burst, but its
// packets are not decoded.
func (s *Source) SetMuted(muted bool) { s.muted.Store(muted) }

// Muted reports whether the source is muted.
func (s *Source) Muted() bool { return s.muted.Load() }

// Level is the recent RMS level of what the source contributes to the mix,
// 0..1 of full scale (0 while muted). Frames forwarded undecoded (a speaker
// alone in the mix) are measured by a decode every forwardMeasureEvery
// frames (forwardLevel), the level holding in between. It is safe from any goroutine.
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
		Decoded:    s.decoded.Load(),
		Skipped:    s.skipped.Load(),
		Forwarded:  s.forwarded.Load(),
		Measured:   s.measured.Load(),
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

// dueLocked is firstLocked after dropping (as late) the packets whose time
// has passed: they were concealed already. s.mu must be held.
func (s *Source) dueLocked() *slot {
	sl := s.firstLocked()
	for sl != nil && sl.ts+int64(sl.samples) <= s.playTs {
		sl.used = false
		s.readSeq = sl.seq + 1
		s.late.Add(1)
		sl = s.firstLocked()
	}
	return sl
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
// its batch still takes after this one and whether the source is muted
// (its packets are then consumed without a decode); the caller then calls
// measure and consume.
func (s *Source) frame(ahead int, muted bool) []int16 {
	s.deaf = muted
	s.forwarding = 0
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
	sl := s.dueLocked()
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
	if s.deaf || silentPacket(s.scratch, int(end-ts)) {
		// Nothing to hear: its time passes as silence, with no decode.
		n := int(end-ts) - skip
		clear(dst[:n*ch])
		s.fifoN += n
		s.playTs = end
		s.concealRun = 0
		s.keep(s.scratch)
		s.skipped.Add(1)
		return true
	}
	s.warm()
	s.decoded.Add(1)
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
	// A muted source is not heard: its loss is silence.
	if s.concealRun >= maxConcealFrames || plc == 0 || s.dec == nil || s.deaf {
		clear(dst)
		return
	}
	s.concealRun++
	s.warm()
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

// measure records the level of the frame returned by frame and reports
// whether the source is voiced: not muted, and its level at or above the
// voice gate, so the frame is mixed.
func (s *Source) measure(frame []int16, muted bool) bool {
	rms := 0.0
	if !muted {
		rms = RMS(frame)
	}
	prev := s.Level()
	if rms < prev {
		rms = max(rms, prev*levelDecay)
	}
	s.level.Store(math.Float64bits(rms))
	return !muted && rms >= voiceGate
}

// keep remembers a packet that was not decoded (see Source.stale).
func (s *Source) keep(p []byte) {
	b := &s.recent[s.recentNext]
	*b = append((*b)[:0], p...)
	s.recentNext = (s.recentNext + 1) % warmPackets
	s.nRecent = min(s.nRecent+1, warmPackets)
	s.stale = true
}

// warm brings a stale decoder back to the stream by decoding the packets
// kept since it was last used, oldest first, output dropped.
func (s *Source) warm() {
	if !s.stale {
		return
	}
	s.stale = false
	if s.warmBuf == nil {
		s.warmBuf = make([]int16, MaxPacketSamples*s.channels)
	}
	for i := range s.nRecent {
		_, _ = s.dec.Decode(s.recent[(s.recentNext-s.nRecent+i+warmPackets)%warmPackets], s.warmBuf)
	}
	s.nRecent = 0
}

// forward takes the packet due now, whole, when it can stand as the program
// frame as it is: playout is under way with nothing decoded left over, the
// packet starts exactly at the playout position and lasts one frame, has
// the program's channel count and at most maxBytes. It returns nil
// otherwise, and the caller mixes the frame (frame, measure, consume). A
// forwarded packet is not decoded; it is kept to warm the decoder should
// the next frame be mixed or concealed.
func (s *Source) forward(ahead int, maxBytes int) []byte {
	if s.fifoN != 0 || !s.prepare(int64(ahead)*FrameSamples) {
		return nil
	}
	s.mu.Lock()
	sl := s.dueLocked()
	if toc := s.forwarding; toc != 0 && s.concealRun < maxConcealFrames &&
		(sl == nil || sl.ts >= s.playTs+FrameSamples && sl.ts-s.playTs <= maxGapSamples) {
		// Lost while forwarding: the listeners' decoders follow the
		// speaker's stream, so they conceal it themselves. A packet of the
		// TOC alone (code 0, no frame data) asks them to (RFC 6716 3.2.1;
		// libopus runs its PLC for payloads of at most one byte).
		s.mu.Unlock()
		s.level.Store(math.Float64bits(s.Level() * levelDecay))
		s.playTs += FrameSamples
		s.concealRun++
		s.concealed.Add(1)
		if s.m.cfg.OnConceal != nil {
			s.m.cfg.OnConceal()
		}
		return []byte{toc &^ 0x03}
	}
	if sl == nil || sl.ts != s.playTs || sl.samples != FrameSamples || len(sl.data) > maxBytes ||
		(sl.data[0]&0x04 != 0) != (s.channels == 2) {
		s.mu.Unlock()
		return nil
	}
	pkt := append(make([]byte, 0, len(sl.data)), sl.data...)
	sl.used = false
	s.readSeq = sl.seq + 1
	s.mu.Unlock()
	s.forwardLevel(pkt)
	s.keep(pkt)
	s.playTs += FrameSamples
	s.concealRun = 0
	s.forwarding = pkt[0] | 0x03 // never 0
	s.forwarded.Add(1)
	return pkt
}

// silentPacket reports whether an Opus packet of the given duration
// (samples per channel) is too small to carry anything audible.
func silentPacket(p []byte, samples int) bool {
	return len(p) <= silentPacketBytes && samples >= SampleRate/100
}

// consume drops the frame returned by frame from fifo.
func (s *Source) consume() {
	ch := s.channels
	copy(s.fifo, s.fifo[FrameSamples*ch:s.fifoN*ch])
	s.fifoN -= FrameSamples
}
