package room

import (
	"context"
	"slices"
	"time"

	"majlis/internal/store"
)

// tick publishes counts and reaction aggregates and ends abandoned rooms.
// Each interval it takes a snapshot of the loaded rooms and works through
// them one at a time; it takes a room's stage lock only to end it.
func (s *Service) tick() {
	defer s.wg.Done()
	t := time.NewTicker(s.cfg.Interval)
	defer t.Stop()
	var speakC <-chan time.Time
	sp, ok := s.cfg.Media.(Speakers)
	if ok {
		st := time.NewTicker(SpeakingInterval)
		defer st.Stop()
		speakC = st.C
	}
	for {
		select {
		case <-s.stop:
			return
		case <-speakC:
			for _, r := range s.loadedRooms() {
				s.tickSpeaking(sp, r)
			}
			continue
		case <-t.C:
		}
		for _, r := range s.loadedRooms() {
			s.tickRoom(context.Background(), r)
		}
	}
}

// SpeakingInterval is how often a live room's talkers are looked at for
// its "speaking" event: a ring a quarter of a second late still looks
// live, and a room's event costs one encode whatever its audience.
const SpeakingInterval = 250 * time.Millisecond

// tickSpeaking publishes {"speakers": [ids]} (sorted) when the set of a
// live room's talkers changed since the last look; a room where nobody
// talks publishes nothing. Views (the snapshot a new subscriber starts
// with, GET .../state) carry the last set.
func (s *Service) tickSpeaking(sp Speakers, r *state) {
	if r.snap.Load().rec.State != store.StateLive {
		return
	}
	ids := sp.Speaking(r.id)
	slices.Sort(ids)
	if last := r.speaking.Load(); last != nil && slices.Equal(ids, *last) || last == nil && len(ids) == 0 {
		return
	}
	if ids == nil {
		ids = []string{}
	}
	r.speaking.Store(&ids)
	r.stream.Publish("speaking", map[string]any{"speakers": ids})
}

func (s *Service) tickRoom(ctx context.Context, r *state) {
	switch r.snap.Load().rec.State {
	case store.StateEnded:
		s.unload(r) // ended rooms reload from the store on demand
		return
	case store.StateScheduled:
		return
	}
	for i := range r.aud.uniq {
		r.aud.uniq[i].refresh() // the sketches' estimates, read by every view without a lock
	}
	r.aud.hlsPeople.sweep(time.Now())
	s.flushCounts(ctx, r, false, false)
	if m := r.aud.takeReactions(); m != nil {
		r.stream.Publish("reactions", map[string]any{"window_ms": s.cfg.Interval.Milliseconds(), "counts": m})
	}
	now := time.Now()
	r.aud.forgetFullBuckets(s.rate, now)
	if s.cfg.AutoEnd > 0 && s.hostAway(r, now) {
		r.mu.Lock()
		ended := false
		if r.rec.State == store.StateLive && s.hostAway(r, now) {
			_, err := s.endLocked(ctx, r)
			ended = err == nil
			if ended {
				// Nobody to answer: a failure is in the server's log (audit).
				s.audit(ctx, ActorSystem, AuditEnd, roomTarget(r.id), r.id, map[string]any{"why": "host_gone"})
			}
		}
		r.mu.Unlock()
		if ended {
			s.log.Info("room auto-ended: host gone", "room", r.id)
			s.cfg.Media.End(r.id)
		}
	}
}

// hostAway says whether the host has been off stage longer than AutoEnd.
func (s *Service) hostAway(r *state, now time.Time) bool {
	g := r.hostGone.Load()
	return g != 0 && now.Sub(time.Unix(0, g)) > s.cfg.AutoEnd
}
