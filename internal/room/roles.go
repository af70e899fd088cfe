package room

import (
	"context"

	"majlis/internal/account"
	"majlis/internal/store"
)

// Room roles.
const (
	RoleHost      = "host"
	RoleCohost    = "cohost"
	RoleSpeaker   = "speaker"
	RoleListener  = "listener"
	roleRequester = "requester" // stored: a listener with a pending request
	roleBlocked   = "blocked"   // stored: removed and blocked
)

// Platform roles, as the accounts domain defines them (an Actor's Platform).
const (
	PlatformAdmin     = account.RoleAdmin
	PlatformModerator = account.RoleModerator
	PlatformUser      = account.RoleUser
)

// Ranks: an actor may act on members of a lower rank.
const (
	rankListener = iota
	rankSpeaker
	rankCohost
	rankHost
	rankAdmin
)

// roleOf is a user's room role.
func (r *state) roleOf(user string) string {
	if user == r.rec.Host {
		return RoleHost
	}
	if m := r.members[user]; m != nil {
		switch m.Role {
		case RoleCohost, RoleSpeaker:
			return m.Role
		}
	}
	return RoleListener
}

func (r *state) blocked(user string) bool {
	m := r.members[user]
	return m != nil && m.Role == roleBlocked
}

// rank orders the room roles by authority.
func rank(role string) int {
	switch role {
	case RoleHost:
		return rankHost
	case RoleCohost:
		return rankCohost
	case RoleSpeaker:
		return rankSpeaker
	}
	return rankListener
}

// actorRank is the actor's authority in the room: platform admins outrank
// the host; platform moderators act with a host's authority.
func (r *state) actorRank(a Actor) int {
	k := rank(r.roleOf(a.ID))
	switch a.Platform {
	case PlatformAdmin:
		k = rankAdmin
	case PlatformModerator:
		k = max(k, rankHost)
	}
	return k
}

// ByPlatform is the `by` of a room event caused by platform staff (a
// moderator or admin acting from outside the room's own roles, a trust and
// safety decision): the room and its audience see that the platform acted,
// and the audit log says who.
const ByPlatform = "platform"

// by names the actor of a change in the room's events: a member of the
// stage (host, co-host, a speaker muting themselves) by their id, since
// they act in view of the room; anyone else as ByPlatform.
func (r *state) by(a Actor) string {
	if r.roleOf(a.ID) != RoleListener {
		return a.ID
	}
	return ByPlatform
}

func (r *state) count(role string) int {
	n := 0
	for _, m := range r.members {
		if m.Role == role {
			n++
		}
	}
	return n
}

func requireLive(st string) error {
	switch st {
	case store.StateEnded:
		return ErrEnded
	case store.StateScheduled:
		return ErrNotLive
	}
	return nil
}

func (r *state) requireLive() error { return requireLive(r.rec.State) }

func (r *state) requireNotEnded() error {
	if r.rec.State == store.StateEnded {
		return ErrEnded
	}
	return nil
}

// moderator checks the actor holds co-host authority in a room that has not ended.
func (r *state) moderator(a Actor) error {
	if err := r.requireNotEnded(); err != nil {
		return err
	}
	if a.Suspended || r.actorRank(a) < rankCohost {
		return ErrForbidden
	}
	return nil
}

// CanJoin says whether a signed-in user may listen. It reads the room's
// snapshot: joins never wait on the stage.
func (s *Service) CanJoin(ctx context.Context, a Actor, id string) error {
	r, err := s.get(ctx, id)
	if err != nil {
		return err
	}
	if a.Suspended {
		return ErrSuspended
	}
	if _, b := r.snap.Load().blocked[a.ID]; b {
		return ErrBlocked
	}
	return nil
}

// RoleOf returns a user's room role ("" for blocked users).
func (s *Service) RoleOf(ctx context.Context, id, user string) (string, error) {
	r, err := s.lock(ctx, id)
	if err != nil {
		return "", err
	}
	defer r.mu.Unlock()
	if r.blocked(user) {
		return "", nil
	}
	return r.roleOf(user), nil
}
