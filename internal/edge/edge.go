package edge

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"time"

	"majlis/internal/admission"
	"majlis/internal/cluster"
	"majlis/internal/program"
)

// defaultIdleTimeout is Config.IdleTimeout's default.
const defaultIdleTimeout = 30 * time.Second

// Config configures an Edge.
type Config struct {
	// Cluster feeds the rooms (cluster.go); required.
	Cluster *cluster.Conn
	// PublicURL is the base URL this edge's listeners connect to, announced
	// in its load reports (placement); required.
	PublicURL string
	// ID names this edge in its reports and their subjects
	// (cluster.ValidEdgeID), so that NATS permissions can pin its
	// credentials to it; random when empty.
	ID string
	// ReportEvery is the load report period; default 1 s.
	ReportEvery time.Duration

	// Tickets verifies listeners' tickets: made with the key shared with
	// the origin and the origin's ticket lifetime (a removal is kept that
	// long: removed.go).
	Tickets *admission.Signer
	Program program.Config // framing of the local programs (ChunkFrames, Channels)
	// ChunkMaxFrames caps the adaptive chunk length (see live.Config); at
	// or below Program.ChunkFrames the length is fixed.
	ChunkMaxFrames int
	IdleTimeout    time.Duration // a room's feed with no listener ends after this; default 30 s
	Logger         *slog.Logger
}

// Edge serves an origin's live rooms to local listeners: each room fed from
// the cluster (runCluster).
type Edge struct {
	cfg    Config
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu     sync.Mutex
	relays map[string]*relay
	total  int // listeners of every relay (guarded by mu): the chunk length follows it (adapt)
	chunk  int // the chunk length total asks for (guarded by mu)
	// sketches count each room's unique listener tickets; guarded by mu.
	sketches map[string]*roomSketch
	// mirrors are the rooms' event streams this edge serves (events.go); guarded by mu.
	mirrors map[string]*mirror

	// aud is the signed-in listeners' streams and the removals (removed.go).
	aud          audience
	stopRemovals func()        // ends the removals' subscription
	resync       chan struct{} // a catch-up of the removals is due (removed.go); capacity 1
	now          func() time.Time
}

// relay is one room's program received from the origin over the cluster.
type relay struct {
	room      string
	prog      *program.Program
	listeners int         // guarded by Edge.mu
	idle      *time.Timer // runs while listeners == 0
	cancel    context.CancelFunc
}

// New returns an edge; Close stops every relay.
func New(cfg Config) (*Edge, error) {
	if cfg.Cluster == nil {
		return nil, errors.New("edge: a cluster is required")
	}
	u, err := url.Parse(cfg.PublicURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("edge public URL %q: want http(s)://host:port", cfg.PublicURL)
	}
	cfg.PublicURL = strings.TrimSuffix(cfg.PublicURL, "/")
	if cfg.ReportEvery <= 0 {
		cfg.ReportEvery = defaultReportEvery
	}
	if cfg.ID == "" {
		cfg.ID = randomID()
	}
	if !cluster.ValidEdgeID(cfg.ID) {
		return nil, fmt.Errorf("edge id %q: want up to 64 of a-z, 0-9, _ and -", cfg.ID)
	}
	if cfg.Tickets == nil {
		return nil, errors.New("edge: tickets are required")
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = defaultIdleTimeout
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	ctx, cancel := context.WithCancel(context.Background())
	e := &Edge{cfg: cfg, ctx: ctx, cancel: cancel, relays: make(map[string]*relay), sketches: make(map[string]*roomSketch), mirrors: make(map[string]*mirror),
		resync: make(chan struct{}, 1), now: time.Now}
	if e.stopRemovals, err = cfg.Cluster.FollowRemovals(func(room, user string, at time.Time) { e.removeListener(room, user, at) }); err != nil {
		cancel()
		return nil, fmt.Errorf("edge: removals: %w", err)
	}
	cfg.Cluster.OnReconnect(e.resyncRemovals)
	e.resyncRemovals() // those made before this edge started
	e.wg.Add(2)
	go e.report()
	go e.syncRemovals()
	return e, nil
}

// ID is the id this edge reports under (Config.ID, or the random one).
func (e *Edge) ID() string { return e.cfg.ID }

// Acquire gives a listener room's program (program.Source), starting the
// room's feed from the cluster when this edge has none yet; the feed ends
// IdleTimeout after its last listener's release.
func (e *Edge) Acquire(room string) (*program.Program, func(), error) {
	rl, err := e.acquire(room)
	if err != nil {
		return nil, nil, err
	}
	var once sync.Once
	return rl.prog, func() { once.Do(func() { e.release(rl) }) }, nil
}

// acquire returns room's relay, starting it if needed, and counts a listener.
func (e *Edge) acquire(room string) (*relay, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.ctx.Err() != nil {
		return nil, fmt.Errorf("edge shutting down: %w", program.ErrUnavailable)
	}
	rl := e.relays[room]
	if rl == nil {
		ctx, cancel := context.WithCancel(e.ctx)
		rl = &relay{room: room, prog: program.New(e.cfg.Program), cancel: cancel}
		e.relays[room] = rl
		e.wg.Add(1)
		go func() {
			defer e.wg.Done()
			err := e.runCluster(ctx, rl)
			e.mu.Lock()
			if e.relays[room] == rl {
				delete(e.relays, room)
			}
			if rl.idle != nil {
				rl.idle.Stop()
			}
			e.mu.Unlock()
			// This goroutine wrote the frames: the last ones, short of a
			// chunk, go out before the program closes.
			rl.prog.Finish()
			if err != nil && ctx.Err() == nil {
				e.cfg.Logger.Warn("edge relay ended", "room", room, "err", err)
			}
		}()
	}
	rl.listeners++
	e.total++
	if rl.idle != nil {
		rl.idle.Stop()
	}
	e.adapt(rl)
	return rl, nil
}

// release uncounts a listener; the last one out arms the idle timer.
func (e *Edge) release(rl *relay) {
	e.mu.Lock()
	defer e.mu.Unlock()
	rl.listeners--
	e.total--
	e.adapt(rl)
	if rl.listeners > 0 {
		return
	}
	e.armIdle(&rl.idle, func() bool { return rl.listeners == 0 }, rl.cancel)
}

// armIdle starts *t, or starts it again, to run stop IdleTimeout from now
// if idle (read under Edge.mu) still holds then; Edge.mu is held.
func (e *Edge) armIdle(t **time.Timer, idle func() bool, stop func()) {
	if *t != nil {
		(*t).Reset(e.cfg.IdleTimeout)
		return
	}
	*t = time.AfterFunc(e.cfg.IdleTimeout, func() {
		e.mu.Lock()
		ok := idle()
		e.mu.Unlock()
		if ok {
			stop()
		}
	})
}

// adapt sets rl's chunk length, and every relay's when it changes, for
// the edge's whole audience (as live.Room.adapt does on an origin:
// delivery costs a write per listener per chunk, whichever room they
// hear); Edge.mu is held.
func (e *Edge) adapt(rl *relay) {
	set := func(rl *relay) int {
		f := program.ChunkFramesFor(e.total, program.DefaultChunkSteps, rl.prog.Config().ChunkFrames, e.cfg.ChunkMaxFrames)
		rl.prog.SetChunkFrames(f)
		return f
	}
	if f := set(rl); f != e.chunk {
		e.chunk = f
		for _, o := range e.relays {
			set(o)
		}
	}
}

// Rooms is the number of rooms relayed now.
func (e *Edge) Rooms() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.relays)
}

// Close stops every relay (their listeners see the program end) and waits.
func (e *Edge) Close() {
	e.stopRemovals()
	e.mu.Lock()
	e.cancel()
	e.mu.Unlock()
	e.wg.Wait()
}
