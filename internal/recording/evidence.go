package recording

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"majlis/internal/audit"
	"majlis/internal/program"
)

// The evidence store keeps, apart from any public recording, the last part
// of every live room's program and, optionally, each speaker's own track
// (the Opus packets they sent, as the stage hands them to the mixer), so
// that moderators can review reports. It is never public: every read goes
// through Open, which first hands the access to the Access hook (the
// trust & safety audit log).
//
// Each track is written as segments (EvidenceConfig.Segment long, one
// complete Ogg file each: evidence/ROOM/TRACK.START.ogg + .json). While the
// room is live only the last Window of each track is kept: older segments
// are deleted as new ones are finished (an on-disk ring). What is left when
// the room ends is kept for Retention; a segment tied to a report is kept
// until Hold's time (the end of its complaint window) if that is later.

// Evidence defaults.
const (
	DefaultEvidenceWindow    = 15 * time.Minute
	DefaultEvidenceSegment   = time.Minute
	DefaultEvidenceRetention = 30 * 24 * time.Hour
	evidenceQueue            = 1500 // chunks or packets per track (30 s or more)
	speakerPagePackets       = 25   // a speaker track's page: 0.5 s of 20 ms packets
)

// Errors of the evidence store.
var (
	ErrEvidenceNotFound = errors.New("no such evidence")
	ErrAccessRefused    = errors.New("evidence access not recorded")
)

// EvidenceConfig configures the evidence store.
type EvidenceConfig struct {
	Storage   Storage
	Logger    *slog.Logger
	Registry  *prometheus.Registry
	Window    time.Duration // kept of each live track, default 15 min
	Segment   time.Duration // segment length, default 1 min
	Retention time.Duration // kept after the room ended, default 30 days
	Speakers  bool          // keep each speaker's own track too
	// Access is told of every access before it happens; an error refuses
	// it (an access that cannot be audited does not take place). Nil: the
	// access is logged only.
	Access     func(Access) error
	FlushEvery time.Duration // default 250 ms (DefaultFlushEvery, as recordings)
	SyncEvery  time.Duration // default 10 s (DefaultEvidenceSyncEvery)
	// QuietFlushEvery is how long pages of silence may wait to be written
	// (default 5 s, DefaultQuietFlushEvery).
	QuietFlushEvery time.Duration
}

// Evidence is synced less eagerly than recordings: it is kept of every
// live room, whether anyone records it or not, so on a box of a thousand
// rooms its fsyncs were most of the idle process's context switches. A
// power cut loses at most SyncEvery of it; a kill -9 at most FlushEvery (what
// was not yet written); a graceful stop none. FlushEvery stays at the
// recordings' DefaultFlushEvery: a segment starts when the disk pass opens
// it, so a longer flush would leave a room's first moments out of every
// segment.
const DefaultEvidenceSyncEvery = 10 * time.Second

// Silence is written less often still. A pass writes a track's pages
// when they hold sound; pages of silence only (every packet at most
// maxQuietPacket bytes: libopus's digital silence and DTX frames, as the
// mixer sends for a room where nobody speaks) wait in memory until they
// are QuietFlushEvery old. A room where nobody speaks then costs a write
// every few seconds, not four a second; its file is synced when its
// segment ends, not every SyncEvery; and a segment of silence only runs on
// to Window before the next one starts, not Segment (the first sound after
// it starts a segment of its own). A kill -9 loses at most
// QuietFlushEvery of its silence, a power cut at most a segment of it (a
// graceful stop none); sound is written and synced as before.
const (
	maxQuietPacket         = 3
	DefaultQuietFlushEvery = 5 * time.Second
)

// Access is one read of evidence, for the audit log.
type Access struct {
	Actor   string // user id
	Segment string
	Room    string
	Track   string
	Reason  string
	At      time.Time
}

// AuditAccess is the audit log's action of an evidence access.
const AuditAccess = "evidence.access"

// Entry is the access as an audit log entry.
func (a Access) Entry() audit.Entry {
	return audit.Entry{Actor: a.Actor, Action: AuditAccess, Target: "evidence:" + a.Segment, Room: a.Room, Reason: a.Reason,
		Detail: map[string]any{"track": a.Track}}
}

// Segment is one stored piece of a track.
type Segment struct {
	ID        string    `json:"id"`
	Room      string    `json:"room"`
	Track     string    `json:"track"` // "program" or "speaker-USER"
	Start     time.Time `json:"start"` // wall clock of its first page
	End       time.Time `json:"end,omitzero"`
	Samples   int64     `json:"samples"`
	Bytes     int64     `json:"bytes"`
	Serial    uint32    `json:"serial"`
	Expires   time.Time `json:"expires,omitzero"`
	HoldUntil time.Time `json:"hold_until,omitzero"`
	File      string    `json:"file"`
}

// Open reports whether the segment is still being written.
func (s Segment) Open() bool { return s.End.IsZero() }

func (s Segment) metaName() string { return strings.TrimSuffix(s.File, ".ogg") + ".json" }

// Evidence is the evidence store.
type Evidence struct {
	cfg EvidenceConfig
	st  Storage
	log *slog.Logger

	bytes, dropped prometheus.Counter

	mu     sync.Mutex // guards segs, tracks and closed; a leaf
	segs   map[string]*Segment
	tracks map[*track]struct{}
	closed bool
	pump   *pump // writes every track
}

// NewEvidence loads the stored segments and repairs those a crash left
// open (cut at the last whole page, end of stream).
func NewEvidence(cfg EvidenceConfig) (*Evidence, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Window <= 0 {
		cfg.Window = DefaultEvidenceWindow
	}
	if cfg.Segment <= 0 {
		cfg.Segment = DefaultEvidenceSegment
	}
	if cfg.Retention <= 0 {
		cfg.Retention = DefaultEvidenceRetention
	}
	if cfg.FlushEvery <= 0 {
		cfg.FlushEvery = DefaultFlushEvery
	}
	if cfg.SyncEvery <= 0 {
		cfg.SyncEvery = DefaultEvidenceSyncEvery
	}
	if cfg.QuietFlushEvery <= 0 {
		cfg.QuietFlushEvery = DefaultQuietFlushEvery
	}
	ev := &Evidence{cfg: cfg, st: cfg.Storage, log: cfg.Logger, segs: make(map[string]*Segment), tracks: make(map[*track]struct{}),
		bytes:   prometheus.NewCounter(prometheus.CounterOpts{Name: "majlis_evidence_bytes_total", Help: "Bytes written to the moderation evidence store."}),
		dropped: prometheus.NewCounter(prometheus.CounterOpts{Name: "majlis_evidence_dropped_total", Help: "Chunks or packets the evidence store could not take (its writer was behind)."})}
	if cfg.Registry != nil {
		cfg.Registry.MustRegister(ev.bytes, ev.dropped)
	}
	names, err := ev.st.List("evidence/")
	if err != nil {
		return nil, err
	}
	for _, n := range names {
		if !strings.HasSuffix(n, ".json") {
			continue
		}
		b, err := ev.st.Get(n)
		var s Segment
		if err != nil || json.Unmarshal(b, &s) != nil || s.ID == "" {
			ev.log.Error("evidence meta unreadable; skipped", "name", n)
			continue
		}
		if s.Open() {
			if err := ev.repair(&s); err != nil {
				ev.log.Error("evidence repair failed", "segment", s.ID, "err", err)
				continue
			}
		}
		ev.segs[s.ID] = &s
	}
	ev.pump = newPump(cfg.FlushEvery, cfg.SyncEvery)
	return ev, nil
}

// repair ends a segment a crash left open.
func (ev *Evidence) repair(s *Segment) error {
	o, err := ev.st.Open(s.File)
	if errors.Is(err, ErrNotExist) {
		ev.st.Delete(s.metaName())
		return err
	}
	if err != nil {
		return err
	}
	end, granule, seq, _, err := scan(o)
	o.Close()
	if err != nil {
		return err
	}
	f, err := ev.st.Append(s.File)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := f.Truncate(end); err != nil {
		return err
	}
	eos := appendEOS(nil, granule, s.Serial, seq)
	if _, err := f.Write(eos); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	s.Samples, s.Bytes = granule, end+int64(len(eos))
	s.End = s.Start.Add(time.Duration(granule) * time.Second / samplesPerSecond)
	s.Expires = s.End.Add(ev.cfg.Retention)
	return ev.putSeg(*s)
}

func (ev *Evidence) putSeg(s Segment) error {
	b, err := json.Marshal(s)
	if err != nil {
		return err
	}
	return ev.st.Put(s.metaName(), b)
}

// track writes one track of a room as segments. It is a job of the
// store's pump: a program track's pull copies the program's new chunks
// into its bounded queue (evidenceQueue); a speaker track's queue is
// filled by its tap. The disk goroutine writes them.
type track struct {
	ev      *Evidence
	room    string
	name    string
	speaker bool
	prog    *program.Program // a program track's program
	halted  atomic.Bool      // Close: take what is queued, then end

	qmu     sync.Mutex // guards the fields below (pull or Push, and write)
	pos     uint64     // a program track's next chunk
	q       [][][]byte // a chunk's frames or one packet each
	eof     bool       // no more input: the program closed or the tap was closed
	dropped int64
	waiters []chan struct{} // flushTail's: closed once what was queued is written

	// Owned by the disk goroutine (and a sync worker while it waits).
	spare   [][][]byte
	f       Appender
	seg     Segment
	seq     uint32
	pending [][]byte
	psamp   int64
	buf     []byte
	ring    []string // this track's finished segments, oldest first
	failed  bool
	dirty   bool      // sound written since the last sync
	loud    bool      // buf holds sound (or a new segment's headers): write it this pass
	segLoud bool      // the open segment holds sound
	quietAt time.Time // when buf's oldest page of silence was framed (zero: buf has none)
}

func (ev *Evidence) newTrack(room, name string, p *program.Program) *track {
	ev.mu.Lock()
	defer ev.mu.Unlock()
	if ev.closed || !validRoom(room) {
		return nil
	}
	tr := &track{ev: ev, room: room, name: name, speaker: p == nil, prog: p}
	if p != nil {
		tr.pos = p.Head()
	}
	ev.tracks[tr] = struct{}{}
	ev.pump.add(tr)
	return tr
}

// Attach keeps room's program (live.Config.OnStart): the pump follows
// its ring until the program closes.
func (ev *Evidence) Attach(room string, p *program.Program) {
	ev.newTrack(room, "program", p)
}

// Speaker returns the tap of a stage member's own track (nil when speaker
// tracks are off). Its Push copies the packet into a bounded queue and
// never blocks (a full queue drops the packet); Close ends the track.
func (ev *Evidence) Speaker(room, member string) *SpeakerTap {
	if !ev.cfg.Speakers || !validRoom(member) {
		return nil
	}
	tr := ev.newTrack(room, "speaker-"+member, nil)
	if tr == nil {
		return nil
	}
	return &SpeakerTap{tr: tr}
}

// SpeakerTap receives a speaker's packets (live.Tap).
type SpeakerTap struct{ tr *track }

// Push keeps one Opus packet.
func (t *SpeakerTap) Push(_ uint16, _ uint32, payload []byte) {
	if len(payload) == 0 || len(payload) > program.MaxPacket {
		return
	}
	tr := t.tr
	tr.qmu.Lock()
	defer tr.qmu.Unlock()
	if tr.eof {
		return
	}
	if len(tr.q) >= evidenceQueue {
		tr.dropLocked()
		return
	}
	tr.q = append(tr.q, [][]byte{append([]byte(nil), payload...)})
}

// Close ends the speaker's track (its segment is finished at once).
func (t *SpeakerTap) Close() {
	t.tr.qmu.Lock()
	t.tr.eof = true
	t.tr.qmu.Unlock()
	t.tr.ev.pump.kick()
}

func (tr *track) dropLocked() {
	tr.dropped++
	tr.ev.dropped.Inc()
}

// pull copies a program track's new chunks into its queue.
func (tr *track) pull() {
	if tr.prog == nil {
		return
	}
	tr.qmu.Lock()
	defer tr.qmu.Unlock()
	closed := tr.prog.Closed()
	if tr.eof || tr.halted.Load() && !closed { // Close while live: what is queued, then the end
		return
	}
	for head := tr.prog.Head(); tr.pos < head; tr.pos++ {
		c := tr.prog.Chunk(tr.pos)
		if c == nil || len(tr.q) >= evidenceQueue {
			tr.dropLocked()
			continue
		}
		tr.q = append(tr.q, c.Frames) // shared and immutable: no copy
	}
	if closed {
		tr.eof = true
	}
}

// write writes what was queued since the last pass; at the end of the
// input (or at Close) it finishes the segment and the track.
func (tr *track) write() bool {
	if tr.prog != nil && tr.prog.Closed() {
		tr.pull() // the rest, now: the segment is finished as soon as the room ended
	}
	tr.qmu.Lock()
	waiting := len(tr.waiters) > 0
	tr.qmu.Unlock()
	if waiting {
		tr.pull() // the program's newest chunks too
	}
	tr.qmu.Lock()
	batch := tr.q
	tr.q = tr.spare[:0]
	eof := tr.eof || tr.halted.Load()
	waiters := tr.waiters
	tr.waiters = nil
	tr.qmu.Unlock()
	defer func() {
		for _, w := range waiters {
			close(w)
		}
	}()
	for _, pk := range batch {
		tr.add(pk)
	}
	clear(batch)
	tr.spare = batch[:0]
	if !eof {
		if len(waiters) > 0 || tr.loud || !tr.quietAt.IsZero() && time.Since(tr.quietAt) >= tr.ev.cfg.QuietFlushEvery {
			tr.flush()
		}
		return false
	}
	tr.page()
	tr.flush()
	tr.finish(true)
	tr.ev.mu.Lock()
	delete(tr.ev.tracks, tr)
	tr.ev.mu.Unlock()
	return true
}

// sync makes the open segment durable (every SyncEvery).
func (tr *track) sync() {
	if tr.f == nil || tr.failed || !tr.dirty {
		return
	}
	tr.dirty = false
	if err := tr.f.Sync(); err != nil {
		tr.fail(err)
	}
}

// add takes a chunk's frames (one page) or a speaker's packet (gathered
// into pages of speakerPagePackets).
func (tr *track) add(packets [][]byte) {
	sound := false
	for _, p := range packets {
		sound = sound || len(p) > maxQuietPacket
	}
	// Sound after a silent segment's usual length starts a segment of its own.
	if sound && !tr.segLoud && tr.f != nil && tr.seg.Samples+tr.psamp >= tr.segmentSamples() {
		tr.page()
		tr.flush()
		tr.finish(false)
	}
	if tr.f == nil && !tr.failed {
		tr.open()
	}
	for _, p := range packets {
		tr.pending = append(tr.pending, p)
		tr.psamp += opusSamples(p)
	}
	if sound {
		tr.loud, tr.segLoud = true, true
	}
	if !tr.speaker || len(tr.pending) >= speakerPagePackets {
		tr.page()
	}
	// A segment of silence only runs on up to Window: a silent room ends
	// (syncs, describes and replaces) a segment every Window, not every Segment.
	limit := tr.segmentSamples()
	if !tr.segLoud {
		limit = max(limit, int64(tr.ev.cfg.Window.Seconds()*samplesPerSecond))
	}
	if tr.seg.Samples >= limit {
		tr.flush()
		tr.finish(false)
	}
}

func (tr *track) segmentSamples() int64 { return int64(tr.ev.cfg.Segment.Seconds() * samplesPerSecond) }

func (tr *track) page() {
	if len(tr.pending) == 0 {
		return
	}
	if tr.f == nil || tr.failed {
		// Not written (a write error): the time still counts, so the
		// segment ends and the next one tries the disk again.
		tr.seg.Samples += tr.psamp
		tr.pending, tr.psamp = tr.pending[:0], 0
		return
	}
	tr.seg.Samples += tr.psamp
	if !tr.loud && tr.quietAt.IsZero() {
		tr.quietAt = time.Now()
	}
	tr.buf = buildPage(tr.buf, 0, tr.seg.Samples, tr.seg.Serial, tr.seq, tr.pending)
	tr.seq++
	tr.pending, tr.psamp = tr.pending[:0], 0
}

// open starts a segment: its meta (open) first, then the file's headers.
func (tr *track) open() {
	now := time.Now().UTC()
	ms := strconv.FormatInt(now.UnixMilli(), 10)
	tr.seg = Segment{ID: tr.room + "." + tr.name + "." + ms, Room: tr.room, Track: tr.name, Start: now, Serial: rand.Uint32() | 1,
		File: "evidence/" + tr.room + "/" + tr.name + "." + ms + ".ogg"}
	tr.seq = 2
	if err := tr.ev.putSeg(tr.seg); err != nil {
		tr.fail(err)
		return
	}
	f, err := tr.ev.st.Create(tr.seg.File)
	if err != nil {
		tr.fail(err)
		return
	}
	tr.f = f
	// Mono headers: an Opus decoder set up for one channel plays stereo
	// packets too (downmixed), which is all a review needs.
	tr.buf = append(tr.buf, opusHeaders(tr.seg.Serial, 1)...)
	tr.loud = true // the headers go out at once: the segment can be read from its start
	seg := tr.seg
	tr.ev.mu.Lock()
	tr.ev.segs[seg.ID] = &seg
	tr.ev.mu.Unlock()
}

func (tr *track) flush() {
	loud := tr.loud
	tr.loud, tr.quietAt = false, time.Time{}
	if tr.f == nil || tr.failed || len(tr.buf) == 0 {
		tr.buf = tr.buf[:0]
		return
	}
	if _, err := tr.f.Write(tr.buf); err != nil {
		tr.fail(err)
		return
	}
	tr.seg.Bytes += int64(len(tr.buf))
	// Silence alone is not synced every SyncEvery: the segment's end syncs it.
	tr.dirty = tr.dirty || loud
	tr.ev.bytes.Add(float64(len(tr.buf)))
	tr.buf = tr.buf[:0]
	// What is in the file so far can be read (clips of a live room).
	tr.ev.mu.Lock()
	if s := tr.ev.segs[tr.seg.ID]; s != nil {
		s.Bytes, s.Samples = tr.seg.Bytes, tr.seg.Samples
	}
	tr.ev.mu.Unlock()
}

func (tr *track) fail(err error) {
	if !tr.failed {
		tr.failed = true
		tr.ev.log.Error("evidence write failed", "room", tr.room, "track", tr.name, "err", err)
	}
}

// finish ends the current segment; then, while the room is live
// (!last), the ring drops this track's segments older than Window.
func (tr *track) finish(last bool) {
	ev := tr.ev
	if tr.f != nil {
		if !tr.failed {
			eos := appendEOS(nil, tr.seg.Samples, tr.seg.Serial, tr.seq)
			if _, err := tr.f.Write(eos); err == nil {
				tr.seg.Bytes += int64(len(eos))
			}
			tr.f.Sync()
		}
		tr.f.Close()
		tr.f = nil
		now := time.Now().UTC()
		tr.seg.End, tr.seg.Expires = now, now.Add(ev.cfg.Retention)
		ev.mu.Lock()
		if cur := ev.segs[tr.seg.ID]; cur != nil && cur.HoldUntil.After(tr.seg.HoldUntil) {
			tr.seg.HoldUntil = cur.HoldUntil // held while it was being written
		}
		ev.mu.Unlock()
		if tr.failed {
			ev.repair(&tr.seg)
		} else if err := ev.putSeg(tr.seg); err != nil {
			ev.log.Error("evidence meta", "segment", tr.seg.ID, "err", err)
		}
		seg := tr.seg
		ev.mu.Lock()
		ev.segs[seg.ID] = &seg
		ev.mu.Unlock()
		tr.ring = append(tr.ring, seg.ID)
	}
	tr.failed, tr.dirty, tr.segLoud, tr.seg = false, false, false, Segment{}
	if last {
		return
	}
	cut := time.Now().Add(-ev.cfg.Window)
	keep := tr.ring[:0]
	for i, id := range tr.ring {
		ev.mu.Lock()
		seg := ev.segs[id]
		if seg == nil { // deleted elsewhere
			ev.mu.Unlock()
			continue
		}
		if !seg.End.Before(cut) { // this and the newer ones are inside the window
			ev.mu.Unlock()
			keep = append(keep, tr.ring[i:]...)
			break
		}
		if seg.HoldUntil.After(time.Now()) { // tied to a report: out of the ring, kept
			ev.mu.Unlock()
			continue
		}
		old := *seg
		delete(ev.segs, id)
		ev.mu.Unlock()
		ev.remove(old, "ring")
	}
	tr.ring = keep
}

func (ev *Evidence) remove(s Segment, why string) {
	if err := ev.st.Delete(s.File); err != nil {
		ev.log.Error("evidence delete", "segment", s.ID, "err", err)
		return
	}
	ev.st.Delete(s.metaName())
	ev.log.Info("evidence deleted", "segment", s.ID, "room", s.Room, "track", s.Track, "why", why)
}

// Find lists a room's segments that overlap [from, to], oldest first
// (moderators: the report's moment).
func (ev *Evidence) Find(room string, from, to time.Time) []Segment {
	ev.mu.Lock()
	defer ev.mu.Unlock()
	var out []Segment
	for _, s := range ev.segs {
		end := s.End
		if end.IsZero() {
			end = time.Now()
		}
		if s.Room == room && !s.Start.After(to) && !end.Before(from) {
			out = append(out, *s)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].Start.Equal(out[j].Start) {
			return out[i].Start.Before(out[j].Start)
		}
		return out[i].Track < out[j].Track
	})
	return out
}

// Hold keeps a segment at least until until (a report's complaint window):
// neither the ring nor the retention job deletes it before.
func (ev *Evidence) Hold(id string, until time.Time) error {
	ev.mu.Lock()
	s := ev.segs[id]
	if s == nil {
		ev.mu.Unlock()
		return ErrEvidenceNotFound
	}
	if until.After(s.HoldUntil) {
		s.HoldUntil = until.UTC()
	}
	cp := *s
	ev.mu.Unlock()
	if cp.Open() {
		return nil // its meta is written when it ends, with the hold
	}
	return ev.putSeg(cp)
}

// Open opens a finished segment for a moderator: the access goes to the
// Access hook (the audit log) first, and is refused when that fails.
func (ev *Evidence) Open(a Access) (Object, Segment, error) {
	ev.mu.Lock()
	s := ev.segs[a.Segment]
	var seg Segment
	if s != nil {
		seg = *s
	}
	ev.mu.Unlock()
	if s == nil || seg.Open() {
		return nil, seg, ErrEvidenceNotFound
	}
	a.Room, a.Track, a.At = seg.Room, seg.Track, time.Now().UTC()
	if ev.cfg.Access != nil {
		if err := ev.cfg.Access(a); err != nil {
			return nil, seg, fmt.Errorf("%w: %v", ErrAccessRefused, err)
		}
	}
	ev.log.Info("evidence accessed", "segment", seg.ID, "by", a.Actor, "reason", a.Reason)
	o, err := ev.st.Open(seg.File)
	if err != nil {
		return nil, seg, ErrEvidenceNotFound
	}
	return o, seg, nil
}

// Sweep deletes the finished segments past their retention and hold.
func (ev *Evidence) Sweep(now time.Time) {
	ev.mu.Lock()
	var due []Segment
	for id, s := range ev.segs {
		if !s.Open() && now.After(s.Expires) && now.After(s.HoldUntil) {
			due = append(due, *s)
			delete(ev.segs, id)
		}
	}
	ev.mu.Unlock()
	for _, s := range due {
		ev.remove(s, "retention")
	}
}

// Close ends every track (each finishes its segment) and waits.
func (ev *Evidence) Close() {
	ev.mu.Lock()
	ev.closed = true
	for tr := range ev.tracks {
		tr.halted.Store(true)
	}
	ev.mu.Unlock()
	ev.pump.close()
}

// flushTail has the room's program track write what it holds in memory
// (silence waits up to QuietFlushEvery) and waits for it, at most wait.
func (ev *Evidence) flushTail(room string, wait time.Duration) {
	var trs []*track
	ev.mu.Lock() // a leaf: the tracks' own locks are taken after it is let go
	for tr := range ev.tracks {
		if tr.room == room && tr.prog != nil {
			trs = append(trs, tr)
		}
	}
	ev.mu.Unlock()
	var chs []chan struct{}
	for _, tr := range trs {
		ch := make(chan struct{})
		tr.qmu.Lock()
		tr.waiters = append(tr.waiters, ch)
		tr.qmu.Unlock()
		chs = append(chs, ch)
	}
	if len(chs) == 0 {
		return
	}
	ev.pump.kick()
	timeout := time.NewTimer(wait)
	defer timeout.Stop()
	for _, ch := range chs {
		select {
		case <-ch:
		case <-timeout.C:
			return
		}
	}
}

// programTail returns the room's program segments that hold its last n
// samples, oldest first (the open one with what is flushed of it, after
// flushTail: a clip of the last seconds of silence has them).
func (ev *Evidence) programTail(room string, n int64) []Segment {
	ev.flushTail(room, time.Second)
	ev.mu.Lock()
	var segs []Segment
	for _, s := range ev.segs {
		if s.Room == room && s.Track == "program" && s.Samples > 0 {
			segs = append(segs, *s)
		}
	}
	ev.mu.Unlock()
	sort.Slice(segs, func(i, j int) bool { return segs[i].Start.After(segs[j].Start) })
	var got int64
	for i, s := range segs {
		got += s.Samples
		if got >= n {
			segs = segs[:i+1]
			break
		}
	}
	slices.Reverse(segs)
	return segs
}
