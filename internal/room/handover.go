package room

import (
	"context"
	"time"

	"majlis/internal/store"
)

// The audit log's actions of a host hand-over and a co-host's demotion.
const (
	AuditHostTransfer = "room.host_transfer" // target: the new host; detail: the old one
	AuditCohostDemote = "room.cohost_demote" // a co-host made a speaker
)

// TransferHost hands room id over to target, a co-host or speaker: target
// becomes the host and the old host a co-host (keeping their mutes and
// their stage session). Only the host may hand their room over, and a
// platform admin (a room whose host is gone); a platform moderator acts
// with a host's authority over others but does not give rooms away. A
// speaker may become host only when a co-host seat is free for the old host.
func (s *Service) TransferHost(ctx context.Context, a Actor, id, target string) error {
	return s.do(ctx, id, func(r *state) ([]Published, error) {
		if err := r.requireNotEnded(); err != nil {
			return nil, err
		}
		old := r.rec.Host
		if a.Suspended || (a.ID != old && a.Platform != PlatformAdmin) {
			return nil, ErrForbidden
		}
		if err := s.userExists(ctx, target); err != nil {
			return nil, err
		}
		role := r.roleOf(target)
		switch {
		case r.blocked(target):
			return nil, ErrBlocked
		case role != RoleCohost && role != RoleSpeaker: // the host themselves, or a listener
			return nil, ErrBadTarget
		case role == RoleSpeaker && r.count(RoleCohost) >= s.cfg.MaxCohosts:
			return nil, ErrCohostsFull
		}
		now := time.Now().UTC().Truncate(time.Millisecond)
		nm := store.Member{User: target, Role: RoleHost, Since: now}
		if m := r.members[target]; m != nil {
			nm.ForcedMute, nm.SelfMute = m.ForcedMute, m.SelfMute
		}
		// The host's forced mute (a platform moderator's) stays with them.
		om := store.Member{User: old, Role: RoleCohost, Since: now}
		if m := r.members[old]; m != nil {
			om.ForcedMute, om.SelfMute = m.ForcedMute, m.SelfMute
		}
		if err := s.st.HandOver(ctx, id, nm, om); err != nil {
			return nil, err
		}
		r.rec.Host = target
		r.members[target], r.members[old] = &nm, &om
		if p, ok := r.pub[target]; ok && running(p) {
			r.hostGone.Store(0)
		} else if r.rec.State == store.StateLive {
			r.hostGone.Store(time.Now().UnixNano()) // AutoEnd now waits for the new host
		}
		s.applyMuteLocked(r, target)
		s.applyMuteLocked(r, old)
		s.commitLocked(ctx, r, "host_changed", map[string]string{"user": target, "from": old, "by": r.by(a)})
		return nil, s.audit(ctx, a.ID, AuditHostTransfer, userTarget(target), id, map[string]any{"from": old, "role": role})
	})
}

// DemoteCohost makes a co-host a speaker again (keeping their mutes and
// stage session): the host, platform staff, or the co-host themselves
// stepping down. It needs a free speaker seat.
func (s *Service) DemoteCohost(ctx context.Context, a Actor, id, target string) error {
	return s.do(ctx, id, func(r *state) ([]Published, error) {
		if err := r.requireNotEnded(); err != nil {
			return nil, err
		}
		if target != a.ID {
			if err := r.moderator(a); err != nil {
				return nil, err
			}
			if r.actorRank(a) <= rankCohost { // a co-host does not demote another
				return nil, ErrForbidden
			}
		} else if a.Suspended {
			return nil, ErrForbidden
		}
		if r.roleOf(target) != RoleCohost {
			return nil, ErrBadTarget
		}
		if r.count(RoleSpeaker) >= s.cfg.MaxSpeakers {
			return nil, ErrStageFull
		}
		m := *r.members[target]
		m.Role, m.Since = RoleSpeaker, time.Time{}
		if err := s.setMember(ctx, r, m); err != nil {
			return nil, err
		}
		s.commitLocked(ctx, r, "cohost_demoted", map[string]string{"user": target, "by": r.by(a)})
		if target == a.ID {
			return nil, nil // stepping down is no moderation
		}
		return nil, s.audit(ctx, a.ID, AuditCohostDemote, userTarget(target), id, nil)
	})
}
