package stage

import (
	"sync"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// opusTicksPerFrame is 20 ms at the 48 kHz RTP clock of Opus: the smallest
// timestamp step put between two sources of a slot.
const opusTicksPerFrame = 960

// room is the stage of one room. It is guarded by Stage.mu.
type room struct {
	members map[string]*Session
	order   []*Session // join order: the forwarding priority
	// pending holds each member's re-publish that has not connected yet: not
	// on stage (no slots given or fed) until it takes over from members[m].
	pending map[string]*Session
}

func newRoom() *room {
	return &room{members: make(map[string]*Session), pending: make(map[string]*Session)}
}

func (r *room) add(s *Session) {
	r.members[s.member] = s
	r.order = append(r.order, s)
}

// swap puts s in old's place (same member): its join order, so its slots.
func (r *room) swap(old, s *Session) {
	r.members[s.member] = s
	for i, o := range r.order {
		if o == old {
			r.order[i] = s
			return
		}
	}
	r.order = append(r.order, s)
}

func (r *room) remove(s *Session) {
	delete(r.members, s.member)
	for i, o := range r.order {
		if o == s {
			r.order = append(r.order[:i:i], r.order[i+1:]...)
			break
		}
	}
}

// rebalance frees slots whose source left, fills free slots with members the
// listener does not hear yet (earliest joined first), and publishes each
// member's new list of slots to feed.
func (r *room) rebalance() {
	for _, l := range r.order {
		for _, sl := range l.slots {
			if src := sl.source(); src != nil && r.members[src.member] != src {
				sl.setSource(nil)
			}
		}
	}
	for _, l := range r.order {
		for _, sl := range l.slots {
			if sl.source() != nil {
				continue
			}
			for _, c := range r.order {
				if c != l && !l.hears(c) {
					sl.setSource(c)
					break
				}
			}
		}
	}
	for _, src := range r.order {
		var feeds []*slot
		for _, l := range r.order {
			for _, sl := range l.slots {
				if sl.source() == src {
					feeds = append(feeds, sl)
				}
			}
		}
		src.feeds.Store(&feeds)
	}
}

// hears reports whether one of s's slots carries src. Stage.mu is held.
func (s *Session) hears(src *Session) bool {
	for _, sl := range s.slots {
		if sl.source() == src {
			return true
		}
	}
	return false
}

// leave takes s off its room's stage and gives its slots in other members'
// connections to whoever is waiting.
func (st *Stage) leave(s *Session) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.sessions[s.id] == s {
		delete(st.sessions, s.id)
	}
	r := st.rooms[s.room]
	if r == nil {
		return
	}
	if r.pending[s.member] == s {
		delete(r.pending, s.member)
	}
	if r.members[s.member] == s {
		r.remove(s)
		empty := []*slot(nil)
		s.feeds.Store(&empty)
		st.m.StageMembers.Dec()
		if len(r.order) > 0 {
			r.rebalance()
		}
	}
	if len(r.order) == 0 && len(r.pending) == 0 {
		delete(st.rooms, s.room)
	}
}

// forward sends one packet of s's audio to every slot it currently feeds.
// It runs on s's reader goroutine; it takes only the per-slot locks, never
// Stage.mu.
func (s *Session) forward(pkt *rtp.Packet) {
	feeds := s.feeds.Load()
	if feeds == nil {
		return
	}
	for _, sl := range *feeds {
		if sl.write(s, pkt) {
			s.stage.m.RTPForwarded.Inc()
		}
	}
}

// slot is one outgoing audio track of a member's connection, carrying one
// other member at a time. When its source changes, sequence numbers and
// timestamps are rewritten so the outgoing stream stays continuous: the
// receiver sees one stream with a talk-spurt start (marker bit), not a new one.
type slot struct {
	owner *Session
	track *webrtc.TrackLocalStaticRTP

	mu      sync.Mutex
	src     *Session // changed under Stage.mu and mu; forward reads it under mu
	resync  bool     // the next packet from src starts a new offset
	started bool     // a packet was sent: last* are valid
	seqOff  uint16
	tsOff   uint32
	lastSeq uint16
	lastTS  uint32
	lastAt  time.Time
	out     rtp.Packet // reused: WriteRTP copies it
}

func (sl *slot) source() *Session {
	sl.mu.Lock()
	defer sl.mu.Unlock()
	return sl.src
}

func (sl *slot) setSource(src *Session) {
	sl.mu.Lock()
	defer sl.mu.Unlock()
	if sl.src != src {
		sl.src = src
		sl.resync = true
	}
}

// write rewrites pkt from src into the slot's stream and sends it; false if
// src no longer feeds the slot.
func (sl *slot) write(src *Session, pkt *rtp.Packet) bool {
	sl.mu.Lock()
	defer sl.mu.Unlock()
	if sl.src != src {
		return false
	}
	now := time.Now()
	marker := pkt.Marker
	if sl.resync {
		sl.resync = false
		marker = true
		if sl.started {
			// Continue where the previous source stopped: next sequence
			// number, and the timestamp advanced by the time that passed.
			gap := uint32(opusTicksPerFrame)
			if d := now.Sub(sl.lastAt); d > 0 && d < time.Hour {
				if t := uint32(d.Seconds() * 48000); t > gap {
					gap = t
				}
			}
			sl.seqOff = sl.lastSeq + 1 - pkt.SequenceNumber
			sl.tsOff = sl.lastTS + gap - pkt.Timestamp
		} else {
			sl.seqOff, sl.tsOff = 0, 0
		}
	}
	seq := pkt.SequenceNumber + sl.seqOff
	ts := pkt.Timestamp + sl.tsOff

	sl.out.Header = pkt.Header
	// Header extension IDs were negotiated with the source, not the listener.
	sl.out.Extension = false
	sl.out.Extensions = nil
	sl.out.Padding = false
	sl.out.Header.PaddingSize = 0
	sl.out.Marker = marker
	sl.out.SequenceNumber = seq
	sl.out.Timestamp = ts
	sl.out.Payload = pkt.Payload
	_ = sl.track.WriteRTP(&sl.out) // fails only when the listener's connection is closing
	sl.out.Payload = nil

	// A late (reordered) packet is still sent, but never moves the stream back.
	if !sl.started || int16(seq-sl.lastSeq) > 0 {
		sl.lastSeq, sl.lastTS = seq, ts
	}
	sl.lastAt = now
	sl.started = true
	return true
}
