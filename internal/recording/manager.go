package recording

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"majlis/internal/program"
	"majlis/internal/room"
)

// Defaults of Config's zero fields.
const (
	DefaultQueueChunks = 1500 // 60 s at 40 ms chunks
	DefaultFlushEvery  = 250 * time.Millisecond
	DefaultSyncEvery   = time.Second
)

// Errors.
var (
	ErrNotFound   = errors.New("no recording")
	ErrDeleted    = errors.New("recording deleted")
	ErrWithheld   = errors.New("recording withheld by a moderation decision")
	ErrInProgress = errors.New("recording in progress")
	ErrBadRoom    = errors.New("bad room id")
	ErrClosed     = errors.New("recorder closed")
)

// Config configures a Manager.
type Config struct {
	Storage  Storage
	Logger   *slog.Logger
	Registry *prometheus.Registry // metrics; nil: not registered
	// QueueChunks bounds each writer's queue of program chunks.
	QueueChunks int
	// FlushEvery is how often pages are written to the file (a kill -9
	// loses at most this plus the program's unfinished chunk); SyncEvery
	// how often the file is synced to the disk.
	FlushEvery, SyncEvery time.Duration
	// OnChange is called, without locks held and never from a caller's
	// goroutine, when a recording's state changes by itself (a write
	// error, the end of a stretch).
	OnChange func(room string)
	// Ring, when set, is where clips of the last seconds of a live room
	// that is not being recorded come from (the evidence ring's program).
	Ring *Evidence
}

// Manager records the programs of live rooms: one entry per room that was
// ever recorded, one writer per stretch being recorded. It implements
// room.Recorder.
type Manager struct {
	cfg Config
	st  Storage
	log *slog.Logger
	met collectors

	// mu guards entries and closed. Lock order: an entry's mu, then mu
	// (startLocked); never an entry's mu under mu.
	mu      sync.Mutex
	entries map[string]*entry
	closed  bool
	pump    *pump // writes every stretch's file

	clipMu sync.Mutex // serialises changes to a clip's meta (WithholdClip, RestoreClip)
}

var _ room.Recorder = (*Manager)(nil)

// entry is one room's recording.
type entry struct {
	mu    sync.Mutex // guards the fields below; held for small meta writes at most
	meta  Meta
	prog  *program.Program // the live program, nil when the room is not live here
	w     *writer          // the stretch being written, nil when none
	ended bool             // the room ended: the next end of stretch finishes the recording

	flushed atomic.Int64 // bytes of whole pages in the file (readable while recording)
	samples atomic.Int64 // their granule position
}

type collectors struct {
	bytes, errors, dropped prometheus.Counter
	active                 prometheus.Gauge
	storage                *prometheus.GaugeVec
}

func newCollectors(reg *prometheus.Registry) collectors {
	c := collectors{
		bytes:   prometheus.NewCounter(prometheus.CounterOpts{Name: "majlis_recording_bytes_total", Help: "Bytes of program pages written to recordings."}),
		errors:  prometheus.NewCounter(prometheus.CounterOpts{Name: "majlis_recording_write_errors_total", Help: "Recordings stopped by a write error (disk full, I/O error)."}),
		dropped: prometheus.NewCounter(prometheus.CounterOpts{Name: "majlis_recording_dropped_chunks_total", Help: "Program chunks a recording missed because its writer was behind."}),
		active:  prometheus.NewGauge(prometheus.GaugeOpts{Name: "majlis_recordings_active", Help: "Recordings being written now."}),
		storage: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "majlis_recording_storage_bytes", Help: "Bytes stored for a room's recording (what the host sees in the studio)."}, []string{"room"}),
	}
	if reg != nil {
		reg.MustRegister(c.bytes, c.errors, c.dropped, c.active, c.storage)
	}
	return c
}

// New loads the recordings' metas and repairs those a crash left open
// (their index is rebuilt from the pages and the stream ended; they resume
// if their room goes live again).
func New(cfg Config) (*Manager, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.QueueChunks <= 0 {
		cfg.QueueChunks = DefaultQueueChunks
	}
	if cfg.FlushEvery <= 0 {
		cfg.FlushEvery = DefaultFlushEvery
	}
	if cfg.SyncEvery <= 0 {
		cfg.SyncEvery = DefaultSyncEvery
	}
	m := &Manager{cfg: cfg, st: cfg.Storage, log: cfg.Logger, met: newCollectors(cfg.Registry), entries: make(map[string]*entry)}
	names, err := m.st.List("recordings/")
	if err != nil {
		return nil, fmt.Errorf("recordings: %w", err)
	}
	for _, n := range names {
		if !strings.HasSuffix(n, "/meta.json") {
			continue
		}
		b, err := m.st.Get(n)
		if err != nil {
			return nil, fmt.Errorf("recording %s: %w", n, err)
		}
		var meta Meta
		if err := json.Unmarshal(b, &meta); err != nil || meta.Room == "" || !validRoom(meta.Room) {
			m.log.Error("recording meta unreadable; skipped", "name", n, "err", err)
			continue
		}
		if meta.State == StateRecording {
			fixed, err := m.repair(meta)
			if err != nil {
				m.log.Error("recording repair failed", "room", meta.Room, "err", err)
			} else {
				m.log.Info("recording repaired after an unclean stop", "room", meta.Room, "duration", fixed.Duration(), "bytes", fixed.Bytes)
				meta = fixed
				if err := m.putMeta(meta); err != nil {
					return nil, err
				}
			}
		}
		e := &entry{meta: meta}
		e.flushed.Store(meta.DataEnd)
		e.samples.Store(meta.Samples)
		m.entries[meta.Room] = e
		m.met.storage.WithLabelValues(meta.Room).Set(float64(meta.Bytes))
	}
	m.pump = newPump(cfg.FlushEvery, cfg.SyncEvery)
	return m, nil
}

// validRoom keeps room ids usable as object names.
func validRoom(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for _, c := range id {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// snapshot copies the entries (to lock each without holding mu).
func (m *Manager) snapshot() map[string]*entry {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make(map[string]*entry, len(m.entries))
	for id, e := range m.entries {
		out[id] = e
	}
	return out
}

func (m *Manager) entry(id string, create bool) *entry {
	m.mu.Lock()
	defer m.mu.Unlock()
	e := m.entries[id]
	if e == nil && create {
		e = &entry{meta: Meta{Room: id, Created: time.Now().UTC()}}
		m.entries[id] = e
	}
	return e
}

// SetRecording turns a room's recording on or off (room.Recorder). It
// never waits on the disk: the writer starts and stops by itself. On
// before the room is live arms it: recording begins with the program.
func (m *Manager) SetRecording(id string, on bool) error {
	if !validRoom(id) {
		return ErrBadRoom
	}
	m.mu.Lock()
	closed := m.closed
	m.mu.Unlock()
	if closed {
		return ErrClosed
	}
	e := m.entry(id, on)
	if e == nil {
		return nil // off, and never recorded
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.meta.State == StateDeleted || e.meta.State == StateFinished {
		if !on {
			return nil
		}
		// A new recording of the room replaces a deleted one; a finished
		// one is the replay of an ended room and stays.
		if e.meta.State == StateFinished {
			return room.ErrEnded
		}
		e.meta = Meta{Room: id, Created: time.Now().UTC()}
	}
	if on && e.meta.Withheld != "" {
		return ErrWithheld // nothing is added to a recording under a decision
	}
	e.meta.On = on
	e.meta.Err = ""
	if on && e.prog != nil && e.w == nil {
		m.startLocked(e)
	}
	if !on && e.w != nil {
		e.w.halt()
	}
	return m.putMeta(e.meta)
}

// Recording is a room's recording state (room.Recorder).
func (m *Manager) Recording(id string) room.RecordingState {
	e := m.entry(id, false)
	if e == nil {
		return room.RecordingState{}
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	return room.RecordingState{On: e.meta.On && e.meta.State != StateDeleted, Error: e.meta.Err,
		Exists: e.meta.File != "" && e.meta.State != StateDeleted, Public: e.meta.Public, ClipsOff: e.meta.ClipsOff}
}

// Attach is called when a room's program starts (live.Config.OnStart):
// an armed or resumed recording begins at once.
func (m *Manager) Attach(id string, p *program.Program) {
	if !validRoom(id) {
		return
	}
	e := m.entry(id, true) // recording may be turned on later: the entry keeps the program

	e.mu.Lock()
	defer e.mu.Unlock()
	e.prog = p
	if e.meta.On && e.w == nil && e.meta.State != StateDeleted && e.meta.State != StateFinished {
		m.startLocked(e)
	}
}

// RoomEnded is called after a room ended (its program closed): its
// recording, if any, is finished and becomes the replay, and its program
// segment in the evidence ring (Config.Ring) is finished, both at once
// rather than at the next flush.
func (m *Manager) RoomEnded(id string) {
	if m.cfg.Ring != nil {
		m.cfg.Ring.pump.kick()
	}
	e := m.entry(id, false)
	if e == nil {
		return
	}
	e.mu.Lock()
	e.prog = nil
	e.ended = true
	if e.meta.File == "" && e.meta.State == "" && e.w == nil && !e.meta.On {
		// Never recorded: nothing to keep of the room here.
		m.mu.Lock()
		if m.entries[id] == e {
			delete(m.entries, id)
		}
		m.mu.Unlock()
		e.mu.Unlock()
		return
	}
	if e.w != nil {
		m.pump.kick() // the program closed: its stretch ends at the next pass, now
	}
	var save bool
	if e.w == nil && e.meta.State == StateRecording {
		// A stretch a write error ended and its repair could not finish:
		// try again now that the room is over.
		if fixed, err := m.repair(e.meta); err == nil {
			fixed.Err = e.meta.Err
			e.meta = fixed
		} else {
			m.log.Error("recording repair failed", "room", id, "err", err)
		}
	}
	if e.w == nil && e.meta.State == StatePaused {
		e.meta.State, e.meta.Ended, e.meta.On = StateFinished, time.Now().UTC(), false
		save = true
	}
	if save {
		if err := m.putMeta(e.meta); err != nil {
			m.log.Error("recording meta", "room", id, "err", err)
		}
	}
	e.mu.Unlock()
	if save {
		m.changed(id)
	}
}

// startLocked begins a stretch (e.mu held).
func (m *Manager) startLocked(e *entry) {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return
	}
	m.mu.Unlock()
	// From this moment on, whenever the pump next pulls.
	w := &writer{m: m, e: e, prog: e.prog, prev: e.w, pos: e.prog.Head(), done: make(chan struct{})}
	e.w = w
	m.met.active.Inc()
	m.pump.add(w)
	m.pump.kick() // open the file now rather than at the next flush
}

// setMeta stores a writer's meta and makes it the entry's, keeping the
// host's settings (on, public, clips) the entry has now.
func (m *Manager) setMeta(e *entry, meta Meta) error {
	e.mu.Lock()
	meta.keepEntry(e.meta)
	meta.Err = e.meta.Err
	e.meta = meta
	defer e.mu.Unlock()
	return m.putMeta(meta)
}

// finishStretch records the end of a writer's stretch. complete: the file
// ends with its end-of-stream page.
func (m *Manager) finishStretch(w *writer, meta Meta, complete bool) {
	e := w.e
	m.met.active.Dec()
	e.mu.Lock()
	if complete {
		meta.State = StatePaused
		if e.ended {
			meta.State, meta.Ended = StateFinished, time.Now().UTC()
		}
	}
	meta.keepEntry(e.meta)
	meta.Err = e.meta.Err
	if meta.State == StateFinished {
		meta.On = false
	}
	e.meta = meta
	if e.w == w {
		e.w = nil
	}
	restart := e.w == nil && meta.On && e.prog != nil && !e.prog.Closed() && meta.State == StatePaused && meta.Err == ""
	e.flushed.Store(meta.DataEnd)
	e.samples.Store(meta.Samples)
	if err := m.putMeta(meta); err != nil {
		m.log.Error("recording meta", "room", meta.Room, "err", err)
	}
	if restart { // turned off and on again while this stretch was finishing
		m.startLocked(e)
	}
	e.mu.Unlock()
	m.met.storage.WithLabelValues(meta.Room).Set(float64(meta.Bytes))
	m.changed(meta.Room)
}

func (m *Manager) changed(id string) {
	if m.cfg.OnChange != nil {
		go m.cfg.OnChange(id)
	}
}

// Close stops every writer and waits for each to finish its file (end of
// stream, sync, meta), then stops the pump. Live rooms' programs are normally closed first
// (live.Manager.Close), which ends the writers on their own.
func (m *Manager) Close() {
	m.mu.Lock()
	m.closed = true
	es := make([]*entry, 0, len(m.entries))
	for _, e := range m.entries {
		es = append(es, e)
	}
	m.mu.Unlock()
	for _, e := range es {
		e.mu.Lock()
		if e.w != nil {
			e.w.halt()
		}
		e.mu.Unlock()
	}
	m.pump.close()
}

// Meta returns a copy of a room's recording meta.
func (m *Manager) Meta(id string) (Meta, error) {
	e := m.entry(id, false)
	if e == nil {
		return Meta{}, ErrNotFound
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	meta := e.meta
	// A stretch just started is in progress before the pump has opened
	// its file.
	if meta.File == "" && meta.State != StateDeleted && e.w == nil {
		return meta, ErrNotFound
	}
	if meta.State == StateDeleted {
		return meta, ErrDeleted
	}
	if meta.Withheld != "" {
		return meta, ErrWithheld
	}
	if e.w != nil {
		meta.State = StateRecording
		meta.Samples, meta.Bytes = e.samples.Load(), e.flushed.Load()
	}
	return meta, nil
}

// Replay is a complete recording opened for reading.
type Replay struct {
	io.ReadSeeker
	Meta Meta
	obj  Object
}

// Close releases the replay.
func (r *Replay) Close() error { return r.obj.Close() }

// OpenReplay opens a room's recording for playing or download. A
// recording being written answers ErrInProgress (its file has no end yet).
func (m *Manager) OpenReplay(id string) (*Replay, error) {
	meta, err := m.Meta(id)
	if err != nil {
		return nil, err
	}
	if meta.State == StateRecording {
		return nil, ErrInProgress
	}
	obj, err := m.st.Open(meta.File)
	if err != nil {
		return nil, fmt.Errorf("open recording: %w", err)
	}
	n := min(obj.Size(), meta.Bytes)
	return &Replay{ReadSeeker: io.NewSectionReader(obj, 0, n), Meta: meta, obj: obj}, nil
}

// CountPlay counts one play of a room's replay.
func (m *Manager) CountPlay(id string) {
	e := m.entry(id, false)
	if e == nil {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.meta.Plays++
	if e.w == nil { // else the stretch's end stores it
		if err := m.putMeta(e.meta); err != nil {
			m.log.Error("recording meta", "room", id, "err", err)
		}
	}
}

// Settings are the host's choices for a recording.
type Settings struct {
	Public   *bool
	ClipsOff *bool
}

// Update applies the host's settings.
func (m *Manager) Update(id string, s Settings) (Meta, error) {
	e := m.entry(id, false)
	if e == nil {
		return Meta{}, ErrNotFound
	}
	e.mu.Lock()
	if e.meta.State == StateDeleted {
		e.mu.Unlock()
		return Meta{}, ErrDeleted
	}
	if e.meta.Withheld != "" {
		e.mu.Unlock()
		return Meta{}, ErrWithheld
	}
	if s.Public != nil {
		e.meta.Public = *s.Public
	}
	if s.ClipsOff != nil {
		e.meta.ClipsOff = *s.ClipsOff
	}
	err := m.putMeta(e.meta)
	e.mu.Unlock()
	if err != nil {
		return Meta{}, err
	}
	return m.Meta(id)
}

// stopped turns a room's recording off and waits until a stretch being
// written has finished (its file ended, its meta stored): Delete and
// Withhold then change a recording nothing writes to.
func (m *Manager) stopped(id string) (*entry, error) {
	e := m.entry(id, false)
	if e == nil {
		return nil, ErrNotFound
	}
	e.mu.Lock()
	if e.meta.State == StateDeleted {
		e.mu.Unlock()
		return nil, ErrDeleted
	}
	e.meta.On = false
	w := e.w
	if w != nil {
		w.halt()
	}
	e.mu.Unlock()
	if w != nil {
		<-w.done
	}
	return e, nil
}

// Delete deletes a room's recording; its meta stays as a tombstone (the
// replay then answers "gone"). A stretch being written is stopped first.
func (m *Manager) Delete(id, why string) error {
	e, err := m.stopped(id)
	if err != nil {
		return err
	}
	e.mu.Lock()
	meta := e.meta
	e.meta = Meta{Room: id, State: StateDeleted, Created: meta.Created, Ended: meta.Ended, Deleted: time.Now().UTC(), Plays: meta.Plays}
	err = m.putMeta(e.meta)
	e.mu.Unlock()
	if err != nil {
		return err
	}
	for _, n := range []string{meta.File, meta.Index} {
		if n != "" {
			if err := m.st.Delete(n); err != nil {
				return err
			}
		}
	}
	m.met.storage.DeleteLabelValues(id)
	m.log.Info("recording deleted", "room", id, "why", why, "bytes", meta.Bytes, "duration", meta.Duration())
	m.changed(id)
	return nil
}

// Withhold takes a room's recording out of every listener's reach, by a
// moderation decision (why), until until: it is not played, downloaded,
// clipped, changed or recorded further, and the retention job deletes it
// once until has passed. Restore brings it back before then (the decision
// was reversed on a complaint). Recording stops if it was under way.
func (m *Manager) Withhold(id, why string, until time.Time) error {
	e, err := m.stopped(id)
	if err != nil {
		return err
	}
	e.mu.Lock()
	e.meta.Withheld, e.meta.WithheldUntil = why, until.UTC()
	err = m.putMeta(e.meta)
	e.mu.Unlock()
	if err != nil {
		return err
	}
	m.log.Info("recording withheld", "room", id, "why", why, "until", until)
	m.changed(id)
	return nil
}

// Restore lifts Withhold: the recording is as it was before. One deleted
// meanwhile (the retention job, after the withholding ran out) stays
// deleted: ErrDeleted.
func (m *Manager) Restore(id string) error {
	e := m.entry(id, false)
	if e == nil {
		return ErrNotFound
	}
	e.mu.Lock()
	if e.meta.State == StateDeleted {
		e.mu.Unlock()
		return ErrDeleted
	}
	if e.meta.Withheld == "" {
		e.mu.Unlock()
		return nil
	}
	e.meta.Withheld, e.meta.WithheldUntil = "", time.Time{}
	err := m.putMeta(e.meta)
	e.mu.Unlock()
	if err != nil {
		return err
	}
	m.log.Info("recording restored", "room", id)
	m.changed(id)
	return nil
}

// Reconcile finishes the paused recordings of rooms that ended while the
// process was down (ended reports a room's end); called once at start,
// after the live rooms resumed.
func (m *Manager) Reconcile(ended func(room string) bool) {
	var ids []string
	for id, e := range m.snapshot() {
		e.mu.Lock()
		if e.meta.State == StatePaused && e.w == nil {
			ids = append(ids, id)
		}
		e.mu.Unlock()
	}
	for _, id := range ids {
		if ended(id) {
			m.RoomEnded(id)
		}
	}
}

// Position is where a time of a recording starts in its file.
type Position struct {
	Offset      int64         // byte offset of the page to read from
	At          time.Duration // the time that page starts at (at or before the asked time)
	HeaderBytes int64         // the header pages a decoder reads first (bytes 0 to HeaderBytes−1)
}

// Seek finds the page of a complete recording holding time d with the side
// index: a player asks for the header pages and then a Range from Offset.
func (m *Manager) Seek(id string, d time.Duration) (Position, error) {
	meta, err := m.Meta(id)
	if err != nil {
		return Position{}, err
	}
	if meta.State == StateRecording {
		return Position{}, ErrInProgress
	}
	g := int64(d.Seconds() * samplesPerSecond)
	if g >= meta.Samples {
		return Position{}, ErrRange
	}
	o, err := m.st.Open(meta.File)
	if err != nil {
		return Position{}, err
	}
	defer o.Close()
	st, err := m.replayStart(meta, o, o.Size(), g)
	if err != nil {
		return Position{}, err
	}
	return Position{Offset: st.off, At: time.Duration(st.granule) * time.Second / samplesPerSecond, HeaderBytes: st.headerEnd}, nil
}

// SpeakerTurn adds a chapter at the recording's current end when the room
// is being recorded (room.Recorder).
func (m *Manager) SpeakerTurn(id, member, name string) {
	e := m.entry(id, false)
	if e == nil {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.w == nil || len(e.meta.Chapters) >= maxChapters {
		return
	}
	e.meta.Chapters = append(e.meta.Chapters, Chapter{AtS: float64(e.samples.Load()) / samplesPerSecond, User: member, Name: name})
}
