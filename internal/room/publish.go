package room

import (
	"context"
	"time"
)

// mayPublish is the publish rule: a live room, an account in good standing,
// and a stage role (platform admins publish anywhere they are not refused
// by the two first).
func (r *state) mayPublish(a Actor) error {
	if err := r.requireLive(); err != nil {
		return err
	}
	if a.Suspended {
		return ErrSuspended
	}
	if a.Platform == PlatformAdmin {
		return nil
	}
	if r.blocked(a.ID) {
		return ErrBlocked
	}
	if r.roleOf(a.ID) == RoleListener {
		return ErrForbidden
	}
	return nil
}

// Publish puts the actor on the room's stage from a WHIP offer: it checks
// the publish rule, has the media start the session, records it and
// applies the member's mute, all under the room's stage lock, so the
// member's role cannot change between the decision and the session. It
// returns the session's ID and the SDP answer.
func (s *Service) Publish(ctx context.Context, a Actor, id, offer string) (sessionID, answer string, err error) {
	r, err := s.lock(ctx, id)
	if err != nil {
		return "", "", err
	}
	defer r.mu.Unlock()
	if err := r.mayPublish(a); err != nil {
		return "", "", err
	}
	// A session this replaces (the member's older one) is closed by the
	// media as a replacement, which does not call LeftStage.
	p, answer, err := s.cfg.Media.Publish(ctx, id, a.ID, offer)
	if err != nil {
		return "", "", err
	}
	r.pub[a.ID], r.cred[a.ID] = p, a.Cred
	s.applyMuteLocked(r, a.ID)
	if a.ID == r.rec.Host {
		r.hostGone.Store(0)
	}
	if s.cfg.Recorder != nil {
		s.cfg.Recorder.SpeakerTurn(id, a.ID, s.name(ctx, a.ID))
	}
	s.commitLocked(ctx, r, "stage_changed", map[string]any{"user": a.ID, "publishing": true})
	return p.ID(), answer, nil
}

// LeftStage records that a member's stage session ended.
func (s *Service) LeftStage(id, member string) {
	r := s.loaded(id)
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	p, ok := r.pub[member]
	if ok && running(p) {
		return // an older session ended after a newer one took over: still on stage
	}
	if member == r.rec.Host {
		r.hostGone.Store(time.Now().UnixNano())
	}
	if !ok {
		return
	}
	delete(r.pub, member)
	s.commitLocked(context.Background(), r, "stage_changed", map[string]any{"user": member, "publishing": false})
}

// Suspend closes a suspended user's stage sessions in every room, one room
// at a time.
func (s *Service) Suspend(user string) { s.EndCredential(user, "") }

// EndCredential closes the user's stage sessions opened with credential
// cred (Actor.Cred; "" for all of them) in every room, one room at a time:
// a revoked API token ends what it published, and nothing else.
func (s *Service) EndCredential(user, cred string) {
	var cl []Published
	for _, r := range s.loadedRooms() {
		r.mu.Lock()
		if cred != "" && r.cred[user] != cred {
			r.mu.Unlock()
			continue
		}
		if c := r.unpublishLocked(user); c != nil {
			cl = append(cl, c...)
			s.refreshLocked(context.Background(), r)
		}
		r.mu.Unlock()
	}
	for _, c := range cl {
		c.Close()
	}
}

func (s *Service) applyMuteLocked(r *state, user string) {
	if p, ok := r.pub[user]; ok {
		m, _ := r.muted(user)
		p.SetMuted(m)
	}
}

// unpublishLocked forgets a member's session; the caller closes it after unlocking.
func (r *state) unpublishLocked(user string) []Published {
	p, ok := r.pub[user]
	if !ok {
		return nil
	}
	delete(r.pub, user)
	return []Published{p}
}
