// Package room is the domain of a room's life: lifecycle (scheduled → live →
// ended), who holds which room role (host, co-hosts, speakers, listeners),
// requests to speak, mutes, blocks, the pinned link, reactions and live
// counts. It knows nothing of HTTP or WebRTC: callers pass an Actor and get
// domain errors back; the media (stage sessions, mixer sources, programs) is
// reached through the small interfaces below.
//
// Every change is written to the store before it is acknowledged, then
// published on the room's event stream (internal/events). Counts and reaction
// aggregates are published by one ticker per Service, at most once per
// interval per room, so the event rate does not grow with the audience.
package room

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sort"
	"sync"
	"time"

	"majlis/internal/events"
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

// Platform roles.
const (
	PlatformAdmin     = "admin"
	PlatformModerator = "moderator"
	PlatformUser      = "user"
)

// Defaults and limits.
const (
	DefaultMaxCohosts    = 2
	DefaultMaxSpeakers   = 10
	DefaultInterval      = time.Second
	MaxScheduleAhead     = 14 * 24 * time.Hour
	MaxPendingRequests   = 200
	DefaultReactionRate  = 5 // per second per user
	DefaultReactionBurst = 10
	maxNames             = 100000
)

// Reactions is the allowed set of reaction emoji.
var Reactions = []string{"👏", "❤️", "😂", "🔥", "💯", "🙏", "👍", "😮"}

// Domain errors; the HTTP layer maps each to a stable code.
var (
	ErrForbidden      = errors.New("not allowed")
	ErrRoomNotFound   = errors.New("room not found")
	ErrUserNotFound   = errors.New("user not found")
	ErrNotLive        = errors.New("room not live")
	ErrEnded          = errors.New("room ended")
	ErrStageFull      = errors.New("stage full")
	ErrCohostsFull    = errors.New("co-host seats full")
	ErrBlocked        = errors.New("blocked from this room")
	ErrNoRequest      = errors.New("no pending request")
	ErrForcedMute     = errors.New("muted by a host")
	ErrBadEmoji       = errors.New("reaction not allowed")
	ErrRateLimited    = errors.New("too many reactions")
	ErrBadTarget      = errors.New("not possible for this member")
	ErrSuspended      = errors.New("account suspended")
	ErrTooManyAsks    = errors.New("too many pending requests")
	ErrBadSchedule    = errors.New("bad scheduled time")
	ErrAlreadyOnStage = errors.New("already on stage")
	ErrShutdown       = errors.New("server shutting down")
)

// Actor is who acts: a user (or the admin token) with a platform role.
type Actor struct {
	ID        string
	Platform  string
	Suspended bool
}

// Muter is a stage member's mixer source (audio.Source).
type Muter interface{ SetMuted(bool) }

// Closer ends a stage member's WebRTC session (stage.Session).
type Closer interface{ Close() }

// Media is the running media of rooms, as the domain needs it.
type Media interface {
	// End stops a room's stage sessions and program (listeners are disconnected cleanly).
	End(room string)
	// Start starts a room's program.
	Start(room string) error
	// Listeners is the number of connected listeners of a live room.
	Listeners(room string) int64
}

// Config configures a Service.
type Config struct {
	Store         *store.Store
	Media         Media
	Logger        *slog.Logger
	MaxCohosts    int           // co-hosts besides the host, default 2
	MaxSpeakers   int           // speakers besides host and co-hosts, default 10
	AutoEnd       time.Duration // end a live room when its host has been off stage this long; 0: never
	Interval      time.Duration // counts and reactions period, default 1 s
	ReactionRate  float64       // reactions per second per user
	ReactionBurst float64
}

// Service runs the rooms of this process.
type Service struct {
	cfg Config
	st  *store.Store
	log *slog.Logger

	mu    sync.Mutex
	rooms map[string]*state // loaded rooms (every live one, others when touched)
	names map[string]string // user id → name cache

	stop chan struct{}
	wg   sync.WaitGroup
}

type published struct {
	sess Closer
	src  Muter
}

type bucket struct {
	tokens float64
	at     time.Time
}

// state is a loaded room. Guarded by Service.mu.
type state struct {
	rec      store.Room
	members  map[string]*store.Member
	pub      map[string]published // members publishing now
	stream   *events.Stream
	hostGone time.Time // when the host was last seen leaving the stage (or the room started)

	peak       int64
	uniq       map[uint64]struct{} // listener tickets seen by this process
	uniqBase   int64               // unique count stored by earlier processes
	lastCounts Counts
	reacts     map[string]int
	limits     map[string]*bucket
}

// New returns a running Service with every live room loaded.
func New(cfg Config) (*Service, error) {
	if cfg.MaxCohosts <= 0 {
		cfg.MaxCohosts = DefaultMaxCohosts
	}
	if cfg.MaxSpeakers <= 0 {
		cfg.MaxSpeakers = DefaultMaxSpeakers
	}
	if cfg.Interval <= 0 {
		cfg.Interval = DefaultInterval
	}
	if cfg.ReactionRate <= 0 {
		cfg.ReactionRate = DefaultReactionRate
	}
	if cfg.ReactionBurst <= 0 {
		cfg.ReactionBurst = DefaultReactionBurst
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	s := &Service{cfg: cfg, st: cfg.Store, log: cfg.Logger, rooms: make(map[string]*state), names: make(map[string]string), stop: make(chan struct{})}
	live, err := s.st.RoomsInState(context.Background(), store.StateLive)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	for _, r := range live {
		if _, err := s.loadLocked(context.Background(), r.ID); err != nil {
			s.mu.Unlock()
			return nil, err
		}
	}
	s.mu.Unlock()
	s.wg.Add(1)
	go s.tick()
	return s, nil
}

// Close stops the ticker and flushes counts.
func (s *Service) Close() {
	select {
	case <-s.stop:
		return
	default:
	}
	close(s.stop)
	s.wg.Wait()
}

// loadLocked returns a loaded room, reading it from the store on first use.
func (s *Service) loadLocked(ctx context.Context, id string) (*state, error) {
	if r := s.rooms[id]; r != nil {
		return r, nil
	}
	rec, err := s.st.Room(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrRoomNotFound
	}
	if err != nil {
		return nil, err
	}
	ms, err := s.st.RoomMembers(ctx, id)
	if err != nil {
		return nil, err
	}
	r := &state{rec: rec, members: make(map[string]*store.Member), pub: make(map[string]published),
		// Sequence numbers start from the clock so a cursor from an earlier process is always stale.
		stream:   events.NewStream(0, uint64(time.Now().UnixMilli())<<10),
		hostGone: time.Now(), peak: rec.PeakListeners, uniq: make(map[uint64]struct{}), uniqBase: rec.UniqueListeners,
		reacts: make(map[string]int), limits: make(map[string]*bucket)}
	for i := range ms {
		m := ms[i]
		r.members[m.User] = &m
	}
	if rec.State == store.StateEnded {
		r.stream.Close()
	}
	s.rooms[id] = r
	return r, nil
}

func (s *Service) get(ctx context.Context, id string) (*state, error) {
	return s.loadLocked(ctx, id)
}

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

// rank orders authority: the actor may act on members of a lower rank.
func rank(role string) int {
	switch role {
	case RoleHost:
		return 3
	case RoleCohost:
		return 2
	case RoleSpeaker:
		return 1
	}
	return 0
}

// actorRank is the actor's authority in the room: platform admins outrank
// the host; platform moderators act with a host's authority.
func (r *state) actorRank(a Actor) int {
	k := rank(r.roleOf(a.ID))
	switch a.Platform {
	case PlatformAdmin:
		k = 4
	case PlatformModerator:
		k = max(k, 3)
	}
	return k
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

func (r *state) requireLive() error {
	switch r.rec.State {
	case store.StateEnded:
		return ErrEnded
	case store.StateScheduled:
		return ErrNotLive
	}
	return nil
}

func (r *state) requireNotEnded() error {
	if r.rec.State == store.StateEnded {
		return ErrEnded
	}
	return nil
}

// name returns a user's display name (cached).
func (s *Service) nameLocked(ctx context.Context, id string) string {
	if n, ok := s.names[id]; ok {
		return n
	}
	n := id
	if u, err := s.st.UserByID(ctx, id); err == nil {
		n = u.Name
	}
	if len(s.names) >= maxNames {
		clear(s.names) // names are only a cache
	}
	s.names[id] = n
	return n
}

// Create stores a new scheduled room hosted by the actor.
func (s *Service) Create(ctx context.Context, a Actor, title, description string, at time.Time) (store.Room, error) {
	if a.Suspended {
		return store.Room{}, ErrSuspended
	}
	if !at.IsZero() {
		now := time.Now()
		if at.Before(now.Add(-time.Minute)) || at.After(now.Add(MaxScheduleAhead)) {
			return store.Room{}, ErrBadSchedule
		}
	}
	return s.st.NewRoom(ctx, store.Room{Title: title, Host: a.ID, Description: description, ScheduledAt: at.UTC().Truncate(time.Millisecond)})
}

// Room returns a room's stored record as this process sees it.
func (s *Service) Room(ctx context.Context, id string) (store.Room, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.get(ctx, id)
	if err != nil {
		return store.Room{}, err
	}
	return r.rec, nil
}

// Start makes a room live (host, co-hosts, platform admins).
func (s *Service) Start(ctx context.Context, a Actor, id string) (store.Room, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.get(ctx, id)
	if err != nil {
		return store.Room{}, err
	}
	// Starting is the room's own people's call (and the admin's); platform
	// moderators may end a room but not start one.
	if a.Suspended || (a.Platform != PlatformAdmin && rank(r.roleOf(a.ID)) < 2) {
		return store.Room{}, ErrForbidden
	}
	switch r.rec.State {
	case store.StateEnded:
		return store.Room{}, ErrEnded
	case store.StateScheduled:
		now := time.Now().UTC().Truncate(time.Millisecond)
		if err := s.st.SetRoomState(ctx, id, store.StateLive, now); err != nil {
			return store.Room{}, err
		}
		r.rec.State, r.rec.StartedAt = store.StateLive, now
		r.hostGone = time.Now()
	}
	if err := s.cfg.Media.Start(id); err != nil {
		return store.Room{}, err
	}
	s.publishLocked(ctx, r, "room_started", nil)
	return r.rec, nil
}

// End ends a room (host, co-hosts, platform admins and moderators).
func (s *Service) End(ctx context.Context, a Actor, id string) (store.Room, error) {
	s.mu.Lock()
	r, err := s.get(ctx, id)
	if err != nil {
		s.mu.Unlock()
		return store.Room{}, err
	}
	if r.actorRank(a) < 2 || a.Suspended {
		s.mu.Unlock()
		return store.Room{}, ErrForbidden
	}
	rec, err := s.endLocked(ctx, r)
	s.mu.Unlock()
	if err != nil {
		return store.Room{}, err
	}
	s.cfg.Media.End(id)
	return rec, nil
}

// endLocked records the end; the caller stops the media after unlocking.
func (s *Service) endLocked(ctx context.Context, r *state) (store.Room, error) {
	if r.rec.State != store.StateEnded {
		now := time.Now().UTC().Truncate(time.Millisecond)
		if err := s.st.SetRoomState(ctx, r.rec.ID, store.StateEnded, now); err != nil {
			return store.Room{}, err
		}
		r.rec.State, r.rec.EndedAt = store.StateEnded, now
		s.flushCountsLocked(ctx, r, true)
		s.publishLocked(ctx, r, "room_ended", nil)
		r.stream.Close()
		r.pub = make(map[string]published)
	}
	return r.rec, nil
}

// setMember writes a member row (nil role: delete it) then updates memory.
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

// userExists checks a target id names a user.
func (s *Service) userExists(ctx context.Context, id string) error {
	if _, ok := s.names[id]; ok {
		return nil
	}
	u, err := s.st.UserByID(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return ErrUserNotFound
	}
	if err != nil {
		return err
	}
	s.names[id] = u.Name
	return nil
}

// do runs a mutation under the lock; closers returned by f are closed after unlocking.
func (s *Service) do(ctx context.Context, id string, f func(r *state) ([]Closer, error)) error {
	s.mu.Lock()
	r, err := s.get(ctx, id)
	if err != nil {
		s.mu.Unlock()
		return err
	}
	cl, err := f(r)
	s.mu.Unlock()
	for _, c := range cl {
		c.Close()
	}
	return err
}

// RequestSpeak asks to speak (a signed-in listener of a live room).
func (s *Service) RequestSpeak(ctx context.Context, a Actor, id string) error {
	return s.do(ctx, id, func(r *state) ([]Closer, error) {
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
		s.publishLocked(ctx, r, "request_added", map[string]string{"user": a.ID})
		return nil, nil
	})
}

// CancelRequest withdraws the actor's own request.
func (s *Service) CancelRequest(ctx context.Context, a Actor, id string) error {
	return s.do(ctx, id, func(r *state) ([]Closer, error) {
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
		s.publishLocked(ctx, r, "request_cancelled", map[string]string{"user": a.ID})
		return nil, nil
	})
}

// moderator checks the actor holds co-host authority in a room that has not ended.
func (r *state) moderator(a Actor) error {
	if err := r.requireNotEnded(); err != nil {
		return err
	}
	if a.Suspended || r.actorRank(a) < 2 {
		return ErrForbidden
	}
	return nil
}

func (r *state) stageSeatFree(s *Service) error {
	if r.count(RoleSpeaker) >= s.cfg.MaxSpeakers {
		return ErrStageFull
	}
	return nil
}

// Answer approves or denies a pending request (host, co-hosts).
func (s *Service) Answer(ctx context.Context, a Actor, id, target string, approve bool) error {
	return s.do(ctx, id, func(r *state) ([]Closer, error) {
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
			s.publishLocked(ctx, r, "request_denied", map[string]string{"user": target, "by": a.ID})
			return nil, nil
		}
		return nil, s.addSpeakerLocked(ctx, r, a, target)
	})
}

// addSpeakerLocked seats target as a speaker when a seat is free (approve, invite).
func (s *Service) addSpeakerLocked(ctx context.Context, r *state, a Actor, target string) error {
	if err := r.stageSeatFree(s); err != nil {
		return err
	}
	if err := s.setMember(ctx, r, store.Member{User: target, Role: RoleSpeaker}); err != nil {
		return err
	}
	s.publishLocked(ctx, r, "speaker_added", map[string]string{"user": target, "by": a.ID})
	return nil
}

// Invite puts a listener on stage as a speaker (host, co-hosts). The
// invitee may publish at once, or decline by leaving the stage.
func (s *Service) Invite(ctx context.Context, a Actor, id, target string) error {
	return s.do(ctx, id, func(r *state) ([]Closer, error) {
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
		return nil, s.addSpeakerLocked(ctx, r, a, target)
	})
}

// MakeCohost makes a speaker or listener a co-host (host, platform admins and moderators).
func (s *Service) MakeCohost(ctx context.Context, a Actor, id, target string) error {
	return s.do(ctx, id, func(r *state) ([]Closer, error) {
		if err := r.requireNotEnded(); err != nil {
			return nil, err
		}
		if a.Suspended || r.actorRank(a) < 3 {
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
		s.publishLocked(ctx, r, "cohost_added", map[string]string{"user": target, "by": a.ID})
		return nil, nil
	})
}

// ToAudience moves a stage member back to the audience and ends their stage
// session: a speaker or co-host leaving by themselves, or a moderator moving
// someone of lower authority.
func (s *Service) ToAudience(ctx context.Context, a Actor, id, target string) error {
	return s.do(ctx, id, func(r *state) ([]Closer, error) {
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
		cl := s.unpublishLocked(r, target)
		s.publishLocked(ctx, r, "moved_to_audience", map[string]string{"user": target, "by": a.ID})
		return cl, nil
	})
}

// Mute sets a member's mute. Members mute and unmute themselves, except out
// of a forced mute; moderators force-mute (and release) members of lower
// authority, whose mixer source goes silent at once.
func (s *Service) Mute(ctx context.Context, a Actor, id, target string, muted bool) error {
	return s.do(ctx, id, func(r *state) ([]Closer, error) {
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
		s.publishLocked(ctx, r, "mute_changed", map[string]any{"user": target, "by": a.ID, "muted": nm.SelfMute || nm.ForcedMute, "forced": nm.ForcedMute})
		return nil, nil
	})
}

func (r *state) muted(user string) (muted, forced bool) {
	if m := r.members[user]; m != nil {
		return m.SelfMute || m.ForcedMute, m.ForcedMute
	}
	return false, false
}

func (s *Service) applyMuteLocked(r *state, user string) {
	if p, ok := r.pub[user]; ok && p.src != nil {
		m, _ := r.muted(user)
		p.src.SetMuted(m)
	}
}

func (s *Service) unpublishLocked(r *state, user string) []Closer {
	p, ok := r.pub[user]
	if !ok {
		return nil
	}
	delete(r.pub, user)
	if p.sess == nil {
		return nil
	}
	return []Closer{p.sess}
}

// Block removes a user from the room (stage role, request, stage session)
// and keeps them out: they can no longer request, react, publish or join
// signed in. Moderators may block anyone of lower authority.
func (s *Service) Block(ctx context.Context, a Actor, id, target string, block bool) error {
	return s.do(ctx, id, func(r *state) ([]Closer, error) {
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
			s.publishLocked(ctx, r, "unblocked", map[string]string{"user": target, "by": a.ID})
			return nil, nil
		}
		if err := s.setMember(ctx, r, store.Member{User: target, Role: roleBlocked}); err != nil {
			return nil, err
		}
		cl := s.unpublishLocked(r, target)
		s.publishLocked(ctx, r, "blocked", map[string]string{"user": target, "by": a.ID})
		return cl, nil
	})
}

// Pin sets (or clears with "") the room's pinned link (host, co-hosts).
func (s *Service) Pin(ctx context.Context, a Actor, id, link string) error {
	return s.do(ctx, id, func(r *state) ([]Closer, error) {
		if err := r.moderator(a); err != nil {
			return nil, err
		}
		if err := s.st.SetRoomPin(ctx, id, link); err != nil {
			return nil, err
		}
		r.rec.Pin = link
		s.publishLocked(ctx, r, "pin_changed", map[string]string{"pin": link, "by": a.ID})
		return nil, nil
	})
}

// CanPublish says whether the actor may publish on the room's stage now.
func (s *Service) CanPublish(ctx context.Context, a Actor, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.get(ctx, id)
	if err != nil {
		return err
	}
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

// CanJoin says whether a signed-in user may listen.
func (s *Service) CanJoin(ctx context.Context, a Actor, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.get(ctx, id)
	if err != nil {
		return err
	}
	if a.Suspended {
		return ErrSuspended
	}
	if r.blocked(a.ID) {
		return ErrBlocked
	}
	return nil
}

// Published records a member's new stage session and its mixer source, and
// applies the member's mute to it. When the member lost the stage role
// meanwhile, the session is closed.
func (s *Service) Published(ctx context.Context, id string, a Actor, sess Closer, src Muter) {
	member := a.ID
	s.mu.Lock()
	r, err := s.get(ctx, id)
	// The role may have been taken away while the offer was being answered.
	lost := err == nil && a.Platform != PlatformAdmin && (r.roleOf(member) == RoleListener || r.blocked(member))
	if err != nil || r.rec.State != store.StateLive || lost {
		s.mu.Unlock()
		if sess != nil {
			sess.Close()
		}
		return
	}
	r.pub[member] = published{sess: sess, src: src}
	s.applyMuteLocked(r, member)
	if member == r.rec.Host {
		r.hostGone = time.Time{}
	}
	s.publishLocked(ctx, r, "stage_changed", map[string]any{"user": member, "publishing": true})
	s.mu.Unlock()
}

// LeftStage records that a member's stage session ended.
func (s *Service) LeftStage(id, member string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.rooms[id]
	if r == nil {
		return
	}
	if member == r.rec.Host {
		r.hostGone = time.Now()
	}
	if _, ok := r.pub[member]; !ok {
		return
	}
	delete(r.pub, member)
	s.publishLocked(context.Background(), r, "stage_changed", map[string]any{"user": member, "publishing": false})
}

// Suspend closes a suspended user's stage sessions in every room.
func (s *Service) Suspend(user string) {
	var cl []Closer
	s.mu.Lock()
	for _, r := range s.rooms {
		cl = append(cl, s.unpublishLocked(r, user)...)
	}
	s.mu.Unlock()
	for _, c := range cl {
		c.Close()
	}
}

// React counts one reaction; the aggregate goes out once per interval.
func (s *Service) React(ctx context.Context, a Actor, id, emoji string) error {
	if !slices.Contains(Reactions, emoji) {
		return ErrBadEmoji
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.get(ctx, id)
	if err != nil {
		return err
	}
	if err := r.requireLive(); err != nil {
		return err
	}
	if a.Suspended {
		return ErrSuspended
	}
	if r.blocked(a.ID) {
		return ErrBlocked
	}
	now := time.Now()
	b := r.limits[a.ID]
	if b == nil {
		b = &bucket{tokens: s.cfg.ReactionBurst, at: now}
		r.limits[a.ID] = b
	}
	b.tokens = min(s.cfg.ReactionBurst, b.tokens+now.Sub(b.at).Seconds()*s.cfg.ReactionRate)
	b.at = now
	if b.tokens < 1 {
		return ErrRateLimited
	}
	b.tokens--
	r.reacts[emoji]++
	return nil
}

// ListenerJoined records a listener connection (ticket nonce) for the unique count.
func (s *Service) ListenerJoined(id string, nonce uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r := s.rooms[id]; r != nil {
		r.uniq[nonce] = struct{}{}
	}
}

// Counts are a room's listener figures.
type Counts struct {
	Listeners int64 `json:"listeners"`
	Peak      int64 `json:"peak"`
	Unique    int64 `json:"unique"`
}

func (s *Service) countsLocked(r *state) Counts {
	var c Counts
	if r.rec.State == store.StateLive {
		c.Listeners = s.cfg.Media.Listeners(r.rec.ID)
	}
	r.peak = max(r.peak, c.Listeners)
	c.Peak = r.peak
	c.Unique = r.uniqBase + int64(len(r.uniq))
	return c
}

func (s *Service) flushCountsLocked(ctx context.Context, r *state, force bool) {
	c := s.countsLocked(r)
	if c == r.lastCounts && !force {
		return
	}
	if c.Peak != r.lastCounts.Peak || c.Unique != r.lastCounts.Unique || force {
		if err := s.st.SetRoomCounts(ctx, r.rec.ID, c.Peak, c.Unique); err != nil {
			s.log.Error("store counts", "room", r.rec.ID, "err", err)
		}
	}
	r.lastCounts = c
	s.publishLocked(ctx, r, "counts", c)
}

// tick publishes counts and reaction aggregates and ends abandoned rooms.
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
		ctx := context.Background()
		var ended []string
		s.mu.Lock()
		for id, r := range s.rooms {
			if r.rec.State != store.StateLive {
				if r.rec.State == store.StateEnded {
					delete(s.rooms, id) // ended rooms reload from the store on demand
				}
				continue
			}
			s.flushCountsLocked(ctx, r, false)
			if len(r.reacts) > 0 {
				s.publishLocked(ctx, r, "reactions", map[string]any{"window_ms": s.cfg.Interval.Milliseconds(), "counts": r.reacts})
				r.reacts = make(map[string]int)
			}
			if s.cfg.AutoEnd > 0 && !r.hostGone.IsZero() && time.Since(r.hostGone) > s.cfg.AutoEnd {
				if _, err := s.endLocked(ctx, r); err == nil {
					ended = append(ended, id)
				}
			}
			// Forget rate-limit buckets that have refilled.
			for u, b := range r.limits {
				if time.Since(b.at).Seconds()*s.cfg.ReactionRate > s.cfg.ReactionBurst {
					delete(r.limits, u)
				}
			}
		}
		s.mu.Unlock()
		for _, id := range ended {
			s.log.Info("room auto-ended: host gone", "room", id)
			s.cfg.Media.End(id)
		}
	}
}

// MemberView is a person on stage, as events and the API show them.
type MemberView struct {
	ID         string `json:"id"`
	Name       string `json:"name"`
	Role       string `json:"role"`
	Muted      bool   `json:"muted"`
	ForcedMute bool   `json:"forced_mute"`
	Publishing bool   `json:"publishing"`
}

// RequestView is a pending request to speak.
type RequestView struct {
	ID    string    `json:"id"`
	Name  string    `json:"name"`
	Since time.Time `json:"since"`
}

// View is a room's full state (the snapshot event and GET .../state).
type View struct {
	ID          string        `json:"id"`
	Title       string        `json:"title"`
	Description string        `json:"description"`
	State       string        `json:"state"`
	Host        string        `json:"host"`
	ScheduledAt *time.Time    `json:"scheduled_at,omitempty"`
	Pin         string        `json:"pin"`
	Stage       []MemberView  `json:"stage"`
	Requests    []RequestView `json:"requests"`
	Counts      Counts        `json:"counts"`
}

func (s *Service) viewLocked(ctx context.Context, r *state) View {
	v := View{ID: r.rec.ID, Title: r.rec.Title, Description: r.rec.Description, State: r.rec.State, Host: r.rec.Host,
		Pin: r.rec.Pin, Stage: []MemberView{}, Requests: []RequestView{}, Counts: s.countsLocked(r)}
	if !r.rec.ScheduledAt.IsZero() {
		t := r.rec.ScheduledAt
		v.ScheduledAt = &t
	}
	add := func(id, role string) {
		m, f := r.muted(id)
		_, p := r.pub[id]
		v.Stage = append(v.Stage, MemberView{ID: id, Name: s.nameLocked(ctx, id), Role: role, Muted: m, ForcedMute: f, Publishing: p})
	}
	add(r.rec.Host, RoleHost)
	ids := slices.Sorted(maps.Keys(r.members))
	for _, role := range []string{RoleCohost, RoleSpeaker} {
		for _, id := range ids {
			if r.members[id].Role == role {
				add(id, role)
			}
		}
	}
	for _, id := range ids {
		if m := r.members[id]; m.Role == roleRequester {
			v.Requests = append(v.Requests, RequestView{ID: id, Name: s.nameLocked(ctx, id), Since: m.Since})
		}
	}
	sort.SliceStable(v.Requests, func(i, j int) bool { return v.Requests[i].Since.Before(v.Requests[j].Since) })
	return v
}

// View returns a room's full state.
func (s *Service) View(ctx context.Context, id string) (View, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.get(ctx, id)
	if err != nil {
		return View{}, err
	}
	return s.viewLocked(ctx, r), nil
}

// Counts returns a loaded room's counts (false when it is not loaded: not
// live in this process and untouched since the start).
func (s *Service) Counts(id string) (Counts, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.rooms[id]
	if r == nil {
		return Counts{}, false
	}
	return s.countsLocked(r), true
}

// RoleOf returns a user's room role ("" for blocked users).
func (s *Service) RoleOf(ctx context.Context, id, user string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.get(ctx, id)
	if err != nil {
		return "", err
	}
	if r.blocked(user) {
		return "", nil
	}
	return r.roleOf(user), nil
}

// publishLocked publishes a state change; every state change carries the
// room's full state so a client never has to merge deltas.
func (s *Service) publishLocked(ctx context.Context, r *state, typ string, detail any) {
	var data any = detail
	switch typ {
	case "counts", "reactions":
	default:
		data = map[string]any{"change": detail, "room": s.viewLocked(ctx, r)}
	}
	r.stream.Publish(typ, data)
}

// Subscription reads a room's events.
type Subscription struct {
	s      *Service
	id     string
	stream *events.Stream
	last   uint64
	snap   bool
}

// Subscribe starts reading a room's events after since (0: start with a snapshot).
func (s *Service) Subscribe(ctx context.Context, id string, since uint64) (*Subscription, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.get(ctx, id)
	if err != nil {
		return nil, err
	}
	return &Subscription{s: s, id: id, stream: r.stream, last: since, snap: since == 0}, nil
}

// Next waits for the next batch of encoded events. A lagging subscriber gets
// one snapshot event instead of the events it missed. done is true after the
// room's last event (room_ended).
func (sub *Subscription) Next(ctx context.Context) (batch []events.Item, done bool, err error) {
	for {
		if sub.snap {
			sub.snap = false
			return []events.Item{sub.snapshot(ctx)}, false, nil
		}
		rd := sub.stream.Since(sub.last)
		if rd.Lagged {
			sub.snap = true
			continue
		}
		sub.last = rd.Last
		if len(rd.Events) > 0 || rd.Closed {
			return rd.Events, rd.Closed, nil
		}
		select {
		case <-ctx.Done():
			return nil, false, ctx.Err()
		case <-sub.s.stop:
			return nil, true, ErrShutdown
		case <-rd.Wake:
		}
	}
}

func (sub *Subscription) snapshot(ctx context.Context) events.Item {
	s := sub.s
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.rooms[sub.id]
	if r == nil || r.stream != sub.stream {
		// The room was unloaded (ended): its stream is closed; the snapshot says so.
		rec, err := s.st.Room(ctx, sub.id)
		seq := sub.stream.Seq()
		sub.last = seq
		if err != nil {
			return events.Item{Seq: seq, Raw: events.Encode(seq, "snapshot", nil)}
		}
		return events.Item{Seq: seq, Raw: events.Encode(seq, "snapshot", View{ID: rec.ID, Title: rec.Title, State: rec.State, Host: rec.Host, Stage: []MemberView{}, Requests: []RequestView{}})}
	}
	seq := r.stream.Seq()
	sub.last = seq
	return events.Item{Seq: seq, Raw: events.Encode(seq, "snapshot", s.viewLocked(ctx, r))}
}

// String is for logs.
func (a Actor) String() string { return fmt.Sprintf("%s(%s)", a.ID, a.Platform) }
