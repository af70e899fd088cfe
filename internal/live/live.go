// Package live runs the media of live rooms: for each live room a mixer
// turns the stage members' audio into the room's program, which the
// fan-out delivers to listeners. The mixers tick on one audio.Clock (a
// worker goroutine per core, all rooms on one 20 ms grid), which the
// Manager owns: Start begins a room, End stops it and closes its program
// (which ends every listener connection), Close stops all rooms and the
// clock on shutdown.
package live

import (
	"log/slog"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"majlis/internal/audio"
	"majlis/internal/metrics"
	"majlis/internal/program"
)

// Config configures every live room.
type Config struct {
	Metrics     *metrics.Metrics
	Logger      *slog.Logger
	Channels    int           // program channels, default 1
	Bitrate     int           // program bitrate, default 32000
	JitterDelay time.Duration // per-speaker jitter buffer target, default 60 ms
	ChunkFrames int           // program frames per delivered chunk for small audiences, default 2
	// ChunkMaxFrames caps the adaptive chunk length (program.DefaultChunkSteps
	// lengthen chunks as a room's audience grows); at or below ChunkFrames
	// the length is fixed. Default 50 (1 s).
	ChunkMaxFrames int
	// OnEnd is called (without locks held) after a room's media stopped because End was called.
	OnEnd func(room string)
	// OnStart is called when a room's program begins (a tap: the recorder
	// follows the program from here like any reader). It must not block.
	OnStart func(room string, p *program.Program)
	// OnSpeaker, when set, taps each stage member's Opus packets where the
	// stage hands them to the mixer (the moderation evidence keeps them);
	// it returns the tap, or nil for none.
	OnSpeaker func(room, member string) Tap
}

// Tap is told a stage member's packets as the mixer is (stage.Ingest): its
// Push must copy the payload and never block; Close is called once, after
// the last Push.
type Tap interface {
	Push(seq uint16, ts uint32, payload []byte)
	Close()
}

// Manager holds the live rooms of this process.
type Manager struct {
	cfg Config
	mu  sync.Mutex
	// mu serialises Start, End and Close; lookups (every listener, every
	// count) read rooms without it, so they never wait on another room's
	// mixer being built.
	rooms sync.Map // room id → *Room
	clock *audio.Clock
	// total is the listeners of every room of this process, and chunk the
	// chunk length it asks for (see Room.adapt).
	total atomic.Int64
	chunk atomic.Int32
	// remote is the listeners the edges serve for this origin (SetRemote):
	// they count for the chunk length too.
	remote atomic.Int64
}

// SetRemote tells the manager how many listeners the edges serve for its
// rooms (the fleet's reports). They count in the audience the chunk
// length follows: every chunk is a message to each edge serving the
// room, so a fleet of 10,000 listeners chunks as one box of 10,000 does,
// instead of sending 25 messages a second per room to the edges.
func (m *Manager) SetRemote(n int64) {
	if m.remote.Swap(max(n, 0)) == max(n, 0) {
		return
	}
	m.readapt()
}

// audience is the listeners the chunk length follows: this process's and the edges'.
func (m *Manager) audience() int64 { return m.total.Load() + m.remote.Load() }

// readapt sets every room's chunk length for the audience, if it changed.
func (m *Manager) readapt() {
	var one *Room
	m.rooms.Range(func(_, v any) bool { one = v.(*Room); return false })
	if one == nil {
		return
	}
	f := one.chunkFor(m.audience())
	if m.chunk.Swap(int32(f)) != int32(f) {
		m.rooms.Range(func(_, v any) bool {
			o := v.(*Room)
			o.Program.SetChunkFrames(o.chunkFor(m.audience()))
			return true
		})
	}
}

// Room is one live room's media.
type Room struct {
	m         *Manager
	ID        string
	Program   *program.Program
	mixer     *audio.Mixer
	leave     func() // takes the mixer off the clock
	listeners atomic.Int64
	chunkMin  int
	chunkMax  int
}

// Defaults of Config's zero fields (config.Default uses them too).
const (
	DefaultChannels = 1
	DefaultBitrate  = audio.DefaultBitrate
)

// NewManager returns an empty manager.
func NewManager(cfg Config) *Manager {
	if cfg.Channels == 0 {
		cfg.Channels = DefaultChannels
	}
	if cfg.Bitrate == 0 {
		cfg.Bitrate = DefaultBitrate
	}
	if cfg.JitterDelay == 0 {
		cfg.JitterDelay = 60 * time.Millisecond
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.ChunkMaxFrames == 0 {
		cfg.ChunkMaxFrames = program.MaxChunkFrames
	}
	if cfg.Metrics == nil {
		cfg.Metrics = metrics.New(nil)
	}
	return &Manager{cfg: cfg, clock: audio.NewClock(runtime.GOMAXPROCS(0))}
}

// Start begins the media of room id (idempotent) and returns it.
func (m *Manager) Start(id string) (*Room, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if r := m.Get(id); r != nil {
		return r, nil
	}
	prog := program.New(program.Config{Channels: m.cfg.Channels, ChunkFrames: m.cfg.ChunkFrames})
	met := m.cfg.Metrics
	lag := &behind{room: id, log: m.cfg.Logger, now: time.Now}
	var mix *audio.Mixer
	mix, err := audio.NewMixer(audio.MixerConfig{
		Channels:    m.cfg.Channels,
		Bitrate:     m.cfg.Bitrate,
		JitterDelay: m.cfg.JitterDelay,
		Out:         prog.WriteFrame,
		// Each chunk carries its speakers' levels (built into the chunk
		// once, like its frames): listeners ring whoever talks.
		OnLevels: func(ls []audio.SpeakerLevel) {
			for _, l := range ls {
				prog.NoteLevel(l.Key, program.LevelFromRMS(l.Level))
			}
		},
		// Wake the mixer once per chunk (or every audio.MaxBatchFrames):
		// listeners get nothing before a chunk's last frame anyway. A room
		// with no speaker makes silence, which nobody waits for: it wakes
		// with the other idle rooms of the process (audio.IdleBatch).
		Batch: func() int {
			met.MixerWakeups.Inc()
			if mix.Sources() == 0 {
				return audio.IdleBatch
			}
			return prog.FramesToChunkEnd()
		},
		OnTick: func(took time.Duration, late bool) {
			met.MixerLoop.Observe(took.Seconds())
			if late {
				met.MixerLate.Inc()
			}
			lag.note(took, late)
		},
		OnConceal: met.MixerConceal.Inc,
	})
	if err != nil {
		return nil, err
	}
	r := &Room{m: m, ID: id, Program: prog, mixer: mix,
		chunkMin: prog.Config().ChunkFrames, chunkMax: m.cfg.ChunkMaxFrames}
	m.rooms.Store(id, r)
	// A room starting on a busy box chunks as the others do (adapt).
	prog.SetChunkFrames(r.chunkFor(m.audience()))
	met.RoomsLive.Inc()
	if m.cfg.OnStart != nil {
		m.cfg.OnStart(id, prog)
	}
	r.leave = m.clock.Join(mix)
	return r, nil
}

// Get returns the live room id, or nil.
func (m *Manager) Get(id string) *Room {
	if r, ok := m.rooms.Load(id); ok {
		return r.(*Room)
	}
	return nil
}

// End stops room id's media and closes its program; listeners are disconnected cleanly.
func (m *Manager) End(id string) {
	m.mu.Lock()
	v, ok := m.rooms.LoadAndDelete(id)
	m.mu.Unlock()
	if !ok {
		return
	}
	r := v.(*Room)
	r.stop()
	m.cfg.Metrics.RoomsLive.Dec()
	if m.cfg.OnEnd != nil {
		m.cfg.OnEnd(id)
	}
}

func (r *Room) stop() {
	// Once leave returns the mixer no longer writes (the clock steps it
	// under the lock leave takes): its last frames can be published here.
	r.leave()
	r.Program.Finish()
}

// Close stops every room (shutdown) and waits for the mixers.
func (m *Manager) Close() {
	m.mu.Lock()
	var rooms []*Room
	m.rooms.Range(func(id, v any) bool {
		rooms = append(rooms, v.(*Room))
		m.rooms.Delete(id)
		return true
	})
	m.mu.Unlock()
	for _, r := range rooms {
		r.stop()
		m.cfg.Metrics.RoomsLive.Dec()
	}
	m.clock.Close()
}

// Acquire gives a listener room id's program (program.Source): the room's
// listener count (and with it the chunk length) follows acquire and release.
func (m *Manager) Acquire(id string) (*program.Program, func(), error) {
	r := m.Get(id)
	if r == nil {
		return nil, nil, program.ErrNotLive
	}
	r.ListenerJoined()
	var once sync.Once
	return r.Program, func() { once.Do(r.ListenerLeft) }, nil
}

// speakerTap is the configured tap of a member's packets, or nil.
func (m *Manager) speakerTap(room, member string) Tap {
	if m.cfg.OnSpeaker == nil {
		return nil
	}
	return m.cfg.OnSpeaker(room, member)
}

// AddSpeaker connects a stage member's audio to the room's mixer. The
// returned source's Close removes it.
func (r *Room) AddSpeaker(member string) *audio.Source { return r.mixer.AddSource(member) }

// NewSpeaker is AddSpeaker for a session that may still fail to start: the
// source joins the mix, replacing the member's current one, only when
// Attach is called (live.Media.Publish: when the stage makes the session
// the member's current one).
func (r *Room) NewSpeaker(member string) *audio.Source { return r.mixer.NewSource(member) }

// ListenerJoined and ListenerLeft keep the room's live listener count.
// They also adapt the programs' chunk length to the audience.
func (r *Room) ListenerJoined() { r.adapt(1) }

// ListenerLeft is the counterpart of ListenerJoined.
func (r *Room) ListenerLeft() { r.adapt(-1) }

// adapt sets the chunk length for the process's whole audience, in every
// room: what delivery costs is the writes of all listeners (each gets a
// write per chunk), whichever rooms they are in, so two hundred rooms of
// twenty listeners chunk as one room of four thousand does. A room alone
// on the box gets its own audience's length, as before.
func (r *Room) adapt(delta int64) {
	r.listeners.Add(delta)
	m := r.m
	m.total.Add(delta)
	r.Program.SetChunkFrames(r.chunkFor(m.audience()))
	m.readapt()
}

// chunkFor is the room's chunk length for total listeners on the box.
func (r *Room) chunkFor(total int64) int {
	return program.ChunkFramesFor(int(total), program.DefaultChunkSteps, r.chunkMin, r.chunkMax)
}

// Listeners is the number of connected listeners of the room in this process.
func (r *Room) Listeners() int64 { return r.listeners.Load() }
