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
//
// A re-publish (the member publishes already) is recorded as pending: the
// member goes on publishing with the older session until the new one
// connects and the media reports TookOver; if it never connects, it ends
// and nothing changes.
func (s *Service) Publish(ctx context.Context, a Actor, id, offer string) (sessionID, answer string, err error) {
	r, err := s.lock(ctx, id)
	if err != nil {
		return "", "", err
	}
	defer r.mu.Unlock()
	if err := r.mayPublish(a); err != nil {
		return "", "", err
	}
	p, answer, err := s.cfg.Media.Publish(ctx, id, a.ID, offer)
	if err != nil {
		return "", "", err
	}
	if p.Pending() {
		r.pending[a.ID] = append(livePending(r.pending[a.ID]), pendingPub{p, a.Cred})
		m, _ := r.muted(a.ID)
		p.SetMuted(m)
		return p.ID(), answer, nil
	}
	s.currentLocked(ctx, r, a.ID, p, a.Cred)
	return p.ID(), answer, nil
}

// pendingPub is a re-publish waiting to take over, with its credential.
type pendingPub struct {
	p    Published
	cred string
}

// livePending drops the ended sessions of a member's pending list.
func livePending(l []pendingPub) []pendingPub {
	out := l[:0]
	for _, e := range l {
		if running(e.p) {
			out = append(out, e)
		}
	}
	return out
}

// currentLocked records p as the member's publishing session.
func (s *Service) currentLocked(ctx context.Context, r *state, member string, p Published, cred string) {
	r.pub[member], r.cred[member] = p, cred
	s.applyMuteLocked(r, member)
	if member == r.rec.Host {
		r.hostGone.Store(0)
	}
	if s.cfg.Recorder != nil {
		s.cfg.Recorder.SpeakerTurn(r.rec.ID, member, s.name(ctx, member))
	}
	s.commitLocked(ctx, r, "stage_changed", map[string]any{"user": member, "publishing": true})
}

// TookOver records that a member's pending session (by ID) connected and
// replaced the older one, which the media has closed without LeftStage.
// A session that is no longer pending here (moderation ended it) or that
// has ended is ignored.
func (s *Service) TookOver(id, member, session string) {
	r := s.loaded(id)
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	l := r.pending[member]
	for i, e := range l {
		if e.p.ID() != session {
			continue
		}
		l = append(l[:i:i], l[i+1:]...)
		if running(e.p) {
			s.currentLocked(context.Background(), r, member, e.p, e.cred)
		}
		break
	}
	if l = livePending(l); len(l) == 0 {
		delete(r.pending, member)
	} else {
		r.pending[member] = l
	}
}

// LeftStage records that a member's stage session ended.
func (s *Service) LeftStage(id, member string) {
	r := s.loaded(id)
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if l := livePending(r.pending[member]); len(l) == 0 {
		delete(r.pending, member)
	} else {
		r.pending[member] = l
	}
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
// at a time, and ends their listen streams in every room loaded here; the
// rooms' edges are told too (Config.Removed). The user's tickets issued
// before are refused here in every room (ListenerRemoved) and on the edges,
// loaded or not, for a ticket lifetime, even once the suspension is lifted;
// a new join is refused while they are suspended.
func (s *Service) Suspend(user string) {
	at := s.removed.add("", user, time.Now(), s.cfg.RemovalsFor)
	s.EndCredential(user, "")
	for _, r := range s.loadedRooms() {
		s.removeListener(r.id, user)
		if s.cfg.Removed != nil {
			s.cfg.Removed(r.id, user, at)
		}
	}
}

// EndCredential closes the user's stage sessions opened with credential
// cred (Actor.Cred; "" for all of them) in every room, one room at a time:
// a revoked API token ends what it published, and nothing else. A pending
// re-publish goes with the session it was to replace: when either was opened
// with cred, both end (the member leaves the stage).
func (s *Service) EndCredential(user, cred string) {
	var cl []Published
	for _, r := range s.loadedRooms() {
		r.mu.Lock()
		if cred != "" && !r.openedWith(user, cred) {
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

// openedWith reports whether the user's session or a pending re-publish of
// theirs was opened with cred.
func (r *state) openedWith(user, cred string) bool {
	if _, ok := r.pub[user]; ok && r.cred[user] == cred {
		return true
	}
	for _, e := range r.pending[user] {
		if e.cred == cred {
			return true
		}
	}
	return false
}

// applyMuteLocked sets the member's mute on their session and on any
// pending re-publish, so a take-over keeps it.
func (s *Service) applyMuteLocked(r *state, user string) {
	m, _ := r.muted(user)
	if p, ok := r.pub[user]; ok {
		p.SetMuted(m)
	}
	for _, e := range r.pending[user] {
		e.p.SetMuted(m)
	}
}

// unpublishLocked forgets a member's session and pending re-publishes; the
// caller closes them after unlocking.
func (r *state) unpublishLocked(user string) []Published {
	var cl []Published
	if p, ok := r.pub[user]; ok {
		cl = append(cl, p)
		delete(r.pub, user)
	}
	for _, e := range r.pending[user] {
		cl = append(cl, e.p)
	}
	delete(r.pending, user)
	return cl
}
