package room

import (
	"context"
	"time"

	"majlis/internal/store"
)

// MakeCohost makes a speaker or listener a co-host (host, platform admins and moderators).
func (s *Service) MakeCohost(ctx context.Context, a Actor, id, target string) error {
	return s.do(ctx, id, func(r *state) ([]Published, error) {
		if err := r.requireNotEnded(); err != nil {
			return nil, err
		}
		// Nobody gives themselves a stage role: a platform moderator acts
		// with a host's authority over others, not to take the stage.
		if a.Suspended || r.actorRank(a) < rankHost {
			return nil, ErrForbidden
		}
		if err := s.userExists(ctx, target); err != nil {
			return nil, err
		}
		if r.blocked(target) {
			return nil, ErrBlocked
		}
		switch r.roleOf(target) {
		case RoleHost, RoleCohost:
			return nil, ErrBadTarget
		}
		if target == a.ID {
			return nil, ErrForbidden
		}
		if r.count(RoleCohost) >= s.cfg.MaxCohosts {
			return nil, ErrCohostsFull
		}
		m := store.Member{User: target, Role: RoleCohost}
		if old := r.members[target]; old != nil && old.Role == RoleSpeaker {
			m.ForcedMute, m.SelfMute = old.ForcedMute, old.SelfMute
		}
		if err := s.setMember(ctx, r, m); err != nil {
			return nil, err
		}
		s.applyMuteLocked(r, target)
		s.commitLocked(ctx, r, "cohost_added", map[string]string{"user": target, "by": r.by(a)})
		return nil, s.audit(ctx, a.ID, AuditCohost, userTarget(target), id, nil)
	})
}

// ToAudience moves a stage member back to the audience and ends their stage
// session: a speaker or co-host leaving by themselves, or a moderator moving
// someone of lower authority.
func (s *Service) ToAudience(ctx context.Context, a Actor, id, target string) error {
	return s.do(ctx, id, func(r *state) ([]Published, error) {
		if err := r.requireNotEnded(); err != nil {
			return nil, err
		}
		role := r.roleOf(target)
		if target == a.ID {
			if role == RoleHost {
				return nil, ErrBadTarget // the host cannot leave their own room's stage role
			}
		} else if err := r.moderator(a); err != nil {
			return nil, err
		} else if rank(role) >= r.actorRank(a) {
			return nil, ErrForbidden
		}
		if role != RoleSpeaker && role != RoleCohost {
			return nil, ErrBadTarget
		}
		if err := s.setMember(ctx, r, store.Member{User: target}); err != nil {
			return nil, err
		}
		cl := r.unpublishLocked(target)
		s.commitLocked(ctx, r, "moved_to_audience", map[string]string{"user": target, "by": r.by(a)})
		if target == a.ID {
			return cl, nil // leaving by oneself is no moderation
		}
		return cl, s.audit(ctx, a.ID, AuditRemove, userTarget(target), id, map[string]any{"role": role})
	})
}

// Mute sets a member's mute. Members mute and unmute themselves, except out
// of a forced mute; moderators force-mute (and release) members of lower
// authority, whose mixer source goes silent at once.
func (s *Service) Mute(ctx context.Context, a Actor, id, target string, muted bool) error {
	return s.do(ctx, id, func(r *state) ([]Published, error) {
		if err := r.requireNotEnded(); err != nil {
			return nil, err
		}
		role := r.roleOf(target)
		if role == RoleListener {
			return nil, ErrBadTarget
		}
		m := r.members[target]
		if m == nil { // the host has no row until first muted
			m = &store.Member{User: target, Role: role}
		}
		nm := *m
		if target == a.ID {
			if !muted && m.ForcedMute {
				return nil, ErrForcedMute
			}
			nm.SelfMute = muted
		} else {
			if err := r.moderator(a); err != nil {
				return nil, err
			}
			if rank(role) >= r.actorRank(a) {
				return nil, ErrForbidden
			}
			nm.ForcedMute = muted
			if !muted {
				nm.SelfMute = false
			}
		}
		// The host gets a row (role host) only to keep their mute across restarts.
		if err := s.setMember(ctx, r, nm); err != nil {
			return nil, err
		}
		s.applyMuteLocked(r, target)
		s.commitLocked(ctx, r, "mute_changed", map[string]any{"user": target, "by": r.by(a), "muted": nm.SelfMute || nm.ForcedMute, "forced": nm.ForcedMute})
		if target == a.ID {
			return nil, nil // a self-mute is no moderation
		}
		action := AuditMute
		if !muted {
			action = AuditUnmute
		}
		return nil, s.audit(ctx, a.ID, action, userTarget(target), id, nil)
	})
}

// Block removes a user from the room (stage role, request, stage session,
// and every listen stream of theirs on this process: ListenerConnected's
// remove funcs run once the block is committed) and keeps them out: they
// can no longer request, react, publish, join or listen signed in.
// Moderators may block anyone of lower authority. Config.Removed hears of
// each block, for the room's other processes (edges).
func (s *Service) Block(ctx context.Context, a Actor, id, target string, block bool) error {
	blocked := false
	err := s.do(ctx, id, func(r *state) ([]Published, error) {
		if err := r.moderator(a); err != nil {
			return nil, err
		}
		if err := s.userExists(ctx, target); err != nil {
			return nil, err
		}
		if target == a.ID || rank(r.roleOf(target)) >= r.actorRank(a) {
			return nil, ErrForbidden
		}
		if !block {
			if !r.blocked(target) {
				return nil, nil
			}
			if err := s.setMember(ctx, r, store.Member{User: target}); err != nil {
				return nil, err
			}
			s.commitLocked(ctx, r, "unblocked", map[string]string{"user": target, "by": r.by(a)})
			return nil, s.audit(ctx, a.ID, AuditUnblock, userTarget(target), id, nil)
		}
		if err := s.setMember(ctx, r, store.Member{User: target, Role: roleBlocked}); err != nil {
			return nil, err
		}
		cl := r.unpublishLocked(target)
		s.commitLocked(ctx, r, "blocked", map[string]string{"user": target, "by": r.by(a)})
		blocked = true
		return cl, s.audit(ctx, a.ID, AuditBlock, userTarget(target), id, nil)
	})
	if blocked {
		// The snapshot says blocked now: a stream connecting from here on
		// is ended as it is recorded (ListenerConnected).
		at := s.removed.add(id, target, time.Now(), s.cfg.RemovalsFor)
		s.removeListener(id, target)
		if s.cfg.Removed != nil {
			s.cfg.Removed(id, target, at)
		}
	}
	return err
}

// Pin sets (or clears with "") the room's pinned link (host, co-hosts).
func (s *Service) Pin(ctx context.Context, a Actor, id, link string) error {
	return s.do(ctx, id, func(r *state) ([]Published, error) {
		if err := r.moderator(a); err != nil {
			return nil, err
		}
		if err := s.st.SetRoomPin(ctx, id, link); err != nil {
			return nil, err
		}
		r.rec.Pin = link
		s.commitLocked(ctx, r, "pin_changed", map[string]string{"pin": link, "by": r.by(a)})
		return nil, s.audit(ctx, a.ID, AuditPin, roomTarget(id), id, map[string]any{"pin": link})
	})
}
