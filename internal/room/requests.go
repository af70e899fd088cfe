package room

import (
	"context"
	"time"

	"majlis/internal/store"
)

// setMember writes a member row (empty role: delete it) then updates memory.
func (s *Service) setMember(ctx context.Context, r *state, m store.Member) error {
	if m.Role == "" {
		if err := s.st.DeleteMember(ctx, r.rec.ID, m.User); err != nil {
			return err
		}
		delete(r.members, m.User)
		return nil
	}
	if m.Since.IsZero() {
		m.Since = time.Now().UTC().Truncate(time.Millisecond)
	}
	if err := s.st.PutMember(ctx, r.rec.ID, m); err != nil {
		return err
	}
	r.members[m.User] = &m
	return nil
}

// RequestSpeak asks to speak (a signed-in listener of a live room).
func (s *Service) RequestSpeak(ctx context.Context, a Actor, id string) error {
	return s.do(ctx, id, func(r *state) ([]Published, error) {
		if err := r.requireLive(); err != nil {
			return nil, err
		}
		if a.Suspended {
			return nil, ErrSuspended
		}
		if r.blocked(a.ID) {
			return nil, ErrBlocked
		}
		if r.roleOf(a.ID) != RoleListener {
			return nil, ErrAlreadyOnStage
		}
		if m := r.members[a.ID]; m != nil && m.Role == roleRequester {
			return nil, nil // idempotent
		}
		if r.count(roleRequester) >= MaxPendingRequests {
			return nil, ErrTooManyAsks
		}
		if err := s.setMember(ctx, r, store.Member{User: a.ID, Role: roleRequester}); err != nil {
			return nil, err
		}
		s.commitLocked(ctx, r, "request_added", map[string]string{"user": a.ID})
		return nil, nil
	})
}

// CancelRequest withdraws the actor's own request.
func (s *Service) CancelRequest(ctx context.Context, a Actor, id string) error {
	return s.do(ctx, id, func(r *state) ([]Published, error) {
		if err := r.requireNotEnded(); err != nil {
			return nil, err
		}
		m := r.members[a.ID]
		if m == nil || m.Role != roleRequester {
			return nil, ErrNoRequest
		}
		if err := s.setMember(ctx, r, store.Member{User: a.ID}); err != nil {
			return nil, err
		}
		s.commitLocked(ctx, r, "request_cancelled", map[string]string{"user": a.ID})
		return nil, nil
	})
}

// Answer approves or denies a pending request (host, co-hosts).
func (s *Service) Answer(ctx context.Context, a Actor, id, target string, approve bool) error {
	return s.do(ctx, id, func(r *state) ([]Published, error) {
		if err := r.moderator(a); err != nil {
			return nil, err
		}
		m := r.members[target]
		if m == nil || m.Role != roleRequester {
			return nil, ErrNoRequest
		}
		if !approve {
			if err := s.setMember(ctx, r, store.Member{User: target}); err != nil {
				return nil, err
			}
			s.commitLocked(ctx, r, "request_denied", map[string]string{"user": target, "by": r.by(a)})
			return nil, s.audit(ctx, a.ID, AuditDeny, userTarget(target), id, nil)
		}
		if err := s.addSpeakerLocked(ctx, r, a, target); err != nil {
			return nil, err
		}
		return nil, s.audit(ctx, a.ID, AuditApprove, userTarget(target), id, nil)
	})
}

// Invite puts a listener on stage as a speaker (host, co-hosts). The
// invitee may publish at once, or decline by leaving the stage.
func (s *Service) Invite(ctx context.Context, a Actor, id, target string) error {
	return s.do(ctx, id, func(r *state) ([]Published, error) {
		if err := r.moderator(a); err != nil {
			return nil, err
		}
		if err := s.userExists(ctx, target); err != nil {
			return nil, err
		}
		if r.blocked(target) {
			return nil, ErrBlocked
		}
		if r.roleOf(target) != RoleListener {
			return nil, ErrAlreadyOnStage
		}
		if target == a.ID { // no self-promotion (a platform moderator taking the stage)
			return nil, ErrForbidden
		}
		if err := s.addSpeakerLocked(ctx, r, a, target); err != nil {
			return nil, err
		}
		return nil, s.audit(ctx, a.ID, AuditInvite, userTarget(target), id, nil)
	})
}

// addSpeakerLocked seats target as a speaker when a seat is free (approve, invite).
func (s *Service) addSpeakerLocked(ctx context.Context, r *state, a Actor, target string) error {
	if r.count(RoleSpeaker) >= s.cfg.MaxSpeakers {
		return ErrStageFull
	}
	if err := s.setMember(ctx, r, store.Member{User: target, Role: RoleSpeaker}); err != nil {
		return err
	}
	s.commitLocked(ctx, r, "speaker_added", map[string]string{"user": target, "by": r.by(a)})
	return nil
}
