package room

import (
	"context"
	"errors"
	"hash/maphash"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"majlis/internal/audit"
	"majlis/internal/events"
	"majlis/internal/ratelimit"
	"majlis/internal/store"
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
	// DefaultMaxOpenRooms is how many rooms (scheduled or live) one user may
	// host at once; platform admins are not limited.
	DefaultMaxOpenRooms = 20
)

// DefaultCreateRate is how fast one user may create rooms: a burst of 10,
// then one a minute.
var DefaultCreateRate = ratelimit.Rate{PerSecond: 1.0 / 60, Burst: 10}

// Config configures a Service.
type Config struct {
	Store    *store.Store
	Media    Media
	Recorder Recorder // nil: recording is not available
	// Audit records every moderation action once it took effect (audit.go);
	// nil: no audit (unit tests of this package).
	Audit         audit.Recorder
	Logger        *slog.Logger
	MaxCohosts    int           // co-hosts besides the host, default 2
	MaxSpeakers   int           // speakers besides host and co-hosts, default 10
	AutoEnd       time.Duration // end a live room when its host has been off stage this long; 0: never
	Interval      time.Duration // counts and reactions period, default 1 s
	ReactionRate  float64       // reactions per second per user
	ReactionBurst float64
	MaxOpenRooms  int            // rooms one user may host at once (scheduled or live); default DefaultMaxOpenRooms
	CreateRate    ratelimit.Rate // room creations per user; default DefaultCreateRate
	Fleet         FleetCounts    // the room's listeners on edges (nil: none)
	SearchRate    ratelimit.Rate // user searches (Candidates) per user; default DefaultSearchRate
	MaxListed     int            // signed-in listeners a room names (Listeners); default DefaultMaxListed
	// Removed, when set, is told of each block, and of a suspension for
	// each room loaded here, once this process has ended the user's
	// streams (Block, Suspend), with the removal's time on this clock
	// (Removal.At): the cluster tells the room's edges. It must not block
	// for long: it runs on the moderator's request.
	Removed func(room, user string, at time.Time)
	// RemovalsFor is how long a removal is remembered (removals.go): the
	// ticket lifetime and some slack. Default DefaultRemovalsFor.
	RemovalsFor time.Duration
	// EventTap, when set, sees every event of every loaded room, and each
	// room stream's close, in order (cluster.Publisher: edges serve the
	// events). It runs under the room stream's writers' lock: it must not
	// block.
	EventTap func(room string, it events.Item, closed bool)
}

// Service runs the rooms of this process.
type Service struct {
	cfg  Config
	st   *store.Store
	aud  *store.Store // st as the audience plane reads it (store.Audience): List, Peek, Room, event snapshots
	log  *slog.Logger
	rate ratelimit.Rate // per-user reactions
	seed maphash.Seed   // audience shards

	// The registry of loaded rooms (every live one, others when touched):
	// lock-free lookups; regMu serialises inserts and removals.
	rooms    sync.Map // id → *state
	regMu    sync.Mutex
	removals atomic.Uint64 // bumped on every removal: a load that read the store before one retries

	// removed is the recent listener removals (blocks, suspensions), for
	// the tickets issued before them (removals.go).
	removed removals

	namesMu sync.Mutex
	names   map[string]string // user id → name cache

	createMu sync.Mutex
	creates  map[string]*ratelimit.Bucket // per-user room creations; bounded by maxNames

	searchMu sync.Mutex
	searches map[string]ratelimit.Bucket // per-user searches (Candidates); bounded by maxNames

	// version numbers the rooms' views (View.Version): one counter for all
	// rooms, seeded from the clock so a restarted process or a room loaded
	// again numbers its views after the ones clients already hold.
	version atomic.Uint64

	stop chan struct{}
	wg   sync.WaitGroup
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
	if cfg.MaxOpenRooms <= 0 {
		cfg.MaxOpenRooms = DefaultMaxOpenRooms
	}
	if cfg.CreateRate.PerSecond <= 0 {
		cfg.CreateRate = DefaultCreateRate
	}
	if cfg.SearchRate.PerSecond <= 0 {
		cfg.SearchRate = DefaultSearchRate
	}
	if cfg.MaxListed <= 0 {
		cfg.MaxListed = DefaultMaxListed
	}
	if cfg.RemovalsFor <= 0 {
		cfg.RemovalsFor = DefaultRemovalsFor
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	s := &Service{cfg: cfg, st: cfg.Store, aud: cfg.Store.Audience(), log: cfg.Logger, seed: maphash.MakeSeed(),
		rate:  ratelimit.Rate{PerSecond: cfg.ReactionRate, Burst: cfg.ReactionBurst},
		names: make(map[string]string), creates: make(map[string]*ratelimit.Bucket), searches: make(map[string]ratelimit.Bucket), stop: make(chan struct{})}
	s.version.Store(uint64(time.Now().UnixMicro()))
	live, err := s.st.RoomsInState(context.Background(), store.StateLive)
	if err != nil {
		return nil, err
	}
	for _, r := range live {
		if _, err := s.get(context.Background(), r.ID); err != nil {
			return nil, err
		}
	}
	s.wg.Add(1)
	go s.tick()
	return s, nil
}

// Close stops the ticker and writes every loaded live room's peak and
// unique listener counts to the store, so the next process resumes them.
func (s *Service) Close() {
	select {
	case <-s.stop:
		return
	default:
	}
	close(s.stop)
	s.wg.Wait()
	ctx := context.Background()
	for _, r := range s.loadedRooms() {
		if r.snap.Load().rec.State == store.StateLive {
			for i := range r.aud.uniq {
				r.aud.uniq[i].refresh()
			}
			s.flushCounts(ctx, r, true, false)
		}
	}
}

// name returns a user's display name (cached). It may read the store; no
// lock is held across that read but the caller's own room lock.
func (s *Service) name(ctx context.Context, id string) string {
	s.namesMu.Lock()
	n, ok := s.names[id]
	s.namesMu.Unlock()
	if ok {
		return n
	}
	n = id
	if u, err := s.st.UserByID(ctx, id); err == nil {
		n = u.Name
	}
	s.cacheName(id, n)
	return n
}

func (s *Service) cacheName(id, name string) {
	s.namesMu.Lock()
	if len(s.names) >= maxNames {
		clear(s.names) // names are only a cache
	}
	s.names[id] = name
	s.namesMu.Unlock()
}

// userExists checks a target id names a user.
func (s *Service) userExists(ctx context.Context, id string) error {
	s.namesMu.Lock()
	_, ok := s.names[id]
	s.namesMu.Unlock()
	if ok {
		return nil
	}
	u, err := s.st.UserByID(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return ErrUserNotFound
	}
	if err != nil {
		return err
	}
	s.cacheName(id, u.Name)
	return nil
}
