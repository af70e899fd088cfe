package room

import (
	"context"
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
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
		}
		for _, r := range s.loadedRooms() {
			s.tickRoom(context.Background(), r)
		}
	}
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
