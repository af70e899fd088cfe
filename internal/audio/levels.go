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
// not decoded, and 100 ms is finer than any speaking indicator needs. The
// level holds in between, so it neither decays nor flickers through them.
const forwardMeasureEvery = 5

// forwardDecay is levelDecay over forwardMeasureEvery frames.
const forwardDecay = levelDecay * levelDecay * levelDecay * levelDecay * levelDecay

// forwardLevel keeps a forwarded (undecoded) speaker's Level right. A
// packet too small to carry sound (silentPacket) decays it as silence does
// in the mix, at no cost; otherwise every forwardMeasureEvery-th packet is
// decoded, after the kept packets bring the decoder up to the stream (warm),
// and its RMS measured, which also leaves the decoder current. It returns
// whether pkt was decoded (then it need not be kept for warming).
func (s *Source) forwardLevel(pkt []byte) bool {
	if silentPacket(pkt, FrameSamples) {
		s.level.Store(math.Float64bits(s.Level() * levelDecay))
		s.fwdCount = 0
		return false
	}
	if s.fwdCount > 0 {
		s.fwdCount--
		return false
	}
	s.fwdCount = forwardMeasureEvery - 1
	s.warm()
	if s.warmBuf == nil {
		s.warmBuf = make([]int16, MaxPacketSamples*s.channels)
	}
	n, err := s.dec.Decode(pkt, s.warmBuf)
	if err != nil || n == 0 {
		return false
	}
	s.measured.Add(1)
	rms := RMS(s.warmBuf[:n*s.channels])
	if prev := s.Level(); rms < prev {
		rms = max(rms, prev*forwardDecay) // the decay of the frames it held through
	}
	s.level.Store(math.Float64bits(rms))
	return true
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
