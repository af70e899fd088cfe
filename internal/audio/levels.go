package audio

import "math"

// SpeakerLevel is one source's level as the mixer reports it every tick
// (MixerConfig.OnLevels): the source's Key and its smoothed RMS level,
// 0..1 of full scale.
type SpeakerLevel struct {
	Key   uint32
	Level float64
}

// SpeakerKey is the short, stable name of a speaker in per-chunk level
// lists: the 32-bit FNV-1a hash of its id (a member's user id). Anyone who
// knows the id computes the same key, so levels need no slot table kept in
// step with joins and leaves; on a stage of a few dozen people a collision
// is a one in millions event, and costs a ring lit on the wrong face.
func SpeakerKey(id string) uint32 {
	h := uint32(2166136261)
	for i := 0; i < len(id); i++ {
		h ^= uint32(id[i])
		h *= 16777619
	}
	return h
}

// forwardMeasureEvery is how often (in forwarded frames) a speaker alone
// has its level measured by a decode: the forwarded packets are otherwise
// not decoded. The level holds in between, so it neither decays nor
// flickers through them; silence (silentPacket) lowers it at once, and the
// first sound after silence is measured at once, so a ring still lights
// and goes out on time. Twice a second: at one in ten (200 ms) the two
// decodes per measurement cost 1,000 speaking rooms 0.4 of a core and
// their listeners their rate (docs/PERFORMANCE.md, "Speaker levels at
// 1,000 rooms").
const forwardMeasureEvery = 25

// forwardLevel keeps a forwarded (undecoded) speaker's Level right. A
// packet too small to carry sound (silentPacket) decays it as silence does
// in the mix, at no cost. Otherwise one packet in forwardMeasureEvery is
// decoded and its RMS measured: the packet kept last (the one before it,
// when it was forwarded too) is decoded first, output dropped, so the
// decoder's energy and gain prediction, which follow the previous frame,
// are right for it. Four decodes a second instead of fifty: the decoder is
// still stale after it (warm brings it back before the next mixed frame).
func (s *Source) forwardLevel(pkt []byte) {
	if silentPacket(pkt, FrameSamples) {
		s.level.Store(math.Float64bits(s.Level() * levelDecay))
		s.fwdCount = 0
		return
	}
	if s.fwdCount > 0 {
		s.fwdCount--
		return
	}
	s.fwdCount = forwardMeasureEvery - 1
	if s.warmBuf == nil {
		s.warmBuf = make([]int16, MaxPacketSamples*s.channels)
	}
	if s.nRecent > 0 {
		_, _ = s.dec.Decode(s.recent[(s.recentNext-1+warmPackets)%warmPackets], s.warmBuf)
	}
	n, err := s.dec.Decode(pkt, s.warmBuf)
	if err != nil || n == 0 {
		return
	}
	s.measured.Add(1)
	rms := RMS(s.warmBuf[:n*s.channels])
	if prev := s.Level(); rms < prev {
		// The decay the held level owes over forwardMeasureEvery frames.
		rms = max(rms, prev*math.Pow(levelDecay, forwardMeasureEvery))
	}
	s.level.Store(math.Float64bits(rms))
}

// levels calls OnLevels with the sources whose level is at or above the
// voice gate (muted sources measure 0): a room where nobody talks reports
// none. m.tickMu is held.
func (m *Mixer) levels(srcs []*Source) {
	if m.cfg.OnLevels == nil {
		return
	}
	m.lv = m.lv[:0]
	for _, s := range srcs {
		if l := s.Level(); l >= voiceGate {
			m.lv = append(m.lv, SpeakerLevel{Key: s.key, Level: l})
		}
	}
	m.cfg.OnLevels(m.lv)
}

// Voiced appends to dst the ids of the sources whose Level is at least
// min (0..1 of full scale) and returns it: who is talking now. It is safe
// from any goroutine.
func (m *Mixer) Voiced(dst []string, min float64) []string {
	for _, s := range *m.sources.Load() {
		if s.Level() >= min {
			dst = append(dst, s.id)
		}
	}
	return dst
}
