package recording

import (
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"majlis/internal/program"
)

// record runs one room through a recording: on, 440 Hz for 5 s, 1000 Hz
// for 5 s, the room ends.
func record(t *testing.T, m *Manager, room string) {
	t.Helper()
	p := program.New(program.Config{RingChunks: 1024})
	if err := m.SetRecording(room, true); err != nil {
		t.Fatal(err)
	}
	m.Attach(room, p)
	src := newToneSource(t)
	feed(p, src, 440, 5*time.Second)
	feed(p, src, 1000, 5*time.Second)
	p.Close()
	m.RoomEnded(room)
	waitState(t, m, room, StateFinished)
}

func waitState(t *testing.T, m *Manager, room, state string) Meta {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		meta, _ := m.Meta(room)
		if meta.State == state {
			return meta
		}
		if time.Now().After(deadline) {
			t.Fatalf("recording of %s: state %q, want %q", room, meta.State, state)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func readAll(t *testing.T, r io.Reader) []byte {
	t.Helper()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestRecordAndReplay: the program's pages go to the file as they are
// (granules from 0), the replay decodes both tones in order, with no gap,
// 10 s long; the side index seeks to 7 s, where the second tone plays.
func TestRecordAndReplay(t *testing.T) {
	dir := t.TempDir()
	m := newManager(t, Dir{Root: dir})
	record(t, m, "room1")
	rp, err := m.OpenReplay("room1")
	if err != nil {
		t.Fatal(err)
	}
	defer rp.Close()
	file := readAll(t, rp)
	pcm, granule := decodeOgg(t, file)
	if granule != 10*48000 || rp.Meta.Samples != granule {
		t.Fatalf("granule at the end %d (meta %d), want %d", granule, rp.Meta.Samples, 10*48000)
	}
	if at := transition(pcm, 440, 1000); at < 5*48000-960 || at > 5*48000+960 {
		t.Fatalf("440 → 1000 Hz at sample %d, want about %d", at, 5*48000)
	}
	for _, sec := range []float64{0.5, 2, 4.5} {
		if toneAt(pcm, int(sec*48000), 960, 440, 1000) != 0 {
			t.Fatalf("no 440 Hz at %.1f s", sec)
		}
	}
	// Seek with the index: the page at 7 s, decoded after the headers.
	o, _ := Dir{Root: dir}.Open(rp.Meta.Index)
	idx, _ := readIndex(o)
	o.Close()
	if len(idx) < 9 || len(idx) > 11 {
		t.Fatalf("%d index entries for 10 s, want about one a second", len(idx))
	}
	e, ok := seek(idx, 7*48000)
	if !ok || e.Granule > 7*48000 || e.Granule < 6*48000 {
		t.Fatalf("seek 7 s: %+v %v", e, ok)
	}
	hdr := headerLen(t, file)
	tail, _ := decodeOggFrom(t, append(append([]byte(nil), file[:hdr]...), file[e.Offset:]...), true)
	if skip := int(7*48000 - e.Granule); toneAt(tail, skip, 960, 440, 1000) != 1 {
		t.Fatal("no 1000 Hz at a seek to 7 s")
	}
	if fi, err := os.Stat(filepath.Join(dir, "recordings/room1/program.ogg")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("recording file: %v %v, want mode 0600", fi.Mode(), err)
	}
	if fi, err := os.Stat(filepath.Join(dir, "recordings/room1")); err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("recording dir: %v %v, want mode 0700", fi.Mode(), err)
	}
	// The retention job: kept for an hour after the room ended, then
	// deleted (a tombstone stays: the replay is "gone").
	m.Sweep(time.Now().Add(30*time.Minute), time.Hour)
	if _, err := m.Meta("room1"); err != nil {
		t.Fatalf("within the retention: %v", err)
	}
	m.Sweep(time.Now().Add(2*time.Hour), time.Hour)
	if _, err := m.OpenReplay("room1"); !errors.Is(err, ErrDeleted) {
		t.Fatalf("after the retention: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "recordings/room1/program.ogg")); !os.IsNotExist(err) {
		t.Fatalf("the file after the retention: %v", err)
	}
}

func headerLen(t *testing.T, b []byte) int {
	n := rawPageLen(b)
	return n + rawPageLen(b[n:])
}

// TestClipExactAudio: a 5 s clip from 2.5 s of the recording holds 2.5 s
// of 440 Hz, then 1000 Hz, its granules start at 0 and its checksums hold.
func TestClipExactAudio(t *testing.T) {
	m := newManager(t, Dir{Root: t.TempDir()})
	record(t, m, "room2")
	c, err := m.MakeClip("room2", "user", 2500*time.Millisecond, 5*time.Second, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	o, c2, err := m.OpenClip(c.ID)
	if err != nil || c2.ID != c.ID {
		t.Fatal(err)
	}
	b := make([]byte, o.Size())
	o.ReadAt(b, 0)
	o.Close()
	pcm, granule := decodeOgg(t, b)
	if granule < 5*48000 || granule > 5*48000+2*1920 {
		t.Fatalf("clip of 5 s: %d samples", granule)
	}
	startErr := int((c.From - 2.5) * 48000) // page alignment: the clip may start up to one page early
	if startErr > 0 || startErr < -1920 {
		t.Fatalf("clip starts at %.3f s, want 2.5 s (a page earlier at most)", c.From)
	}
	if at := transition(pcm, 440, 1000); at < 2*48000+48000/2-startErr-960 || at > 2*48000+48000/2-startErr+960 {
		t.Fatalf("clip: 1000 Hz from sample %d, want %d", at, 2*48000+48000/2-startErr)
	}
	// The last 2 s of the live room (from < 0).
	live, err := m.MakeClip("room2", "user", -1, 2*time.Second, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if live.From < 7.9 || live.From > 8.0 {
		t.Fatalf("last 2 s clip from %.3f s", live.From)
	}
	if _, err := m.MakeClip("room2", "user", 20*time.Second, 5*time.Second, time.Hour); !errors.Is(err, ErrRange) {
		t.Fatalf("clip past the end: %v", err)
	}
	if _, err := m.MakeClip("room2", "user", 0, 61*time.Second, time.Hour); !errors.Is(err, ErrClipLength) {
		t.Fatalf("61 s clip: %v", err)
	}
	// Expired clips are gone, then deleted by the retention job.
	m.Sweep(time.Now().Add(2*time.Hour), 0)
	if _, err := m.ClipInfo(c.ID); !errors.Is(err, ErrClipNotFound) {
		t.Fatalf("expired clip after the sweep: %v", err)
	}
}

// TestTrimStart: trimming 3 s leaves 7 s starting with 2 s of 440 Hz.
func TestTrimStart(t *testing.T) {
	m := newManager(t, Dir{Root: t.TempDir()})
	record(t, m, "room3")
	meta, err := m.Trim("room3", 3*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	rp, err := m.OpenReplay("room3")
	if err != nil {
		t.Fatal(err)
	}
	pcm, granule := decodeOgg(t, readAll(t, rp))
	rp.Close()
	if granule != meta.Samples || granule > 7*48000 || granule < 7*48000-1920 {
		t.Fatalf("after trimming 3 s of 10: %d samples (meta %d)", granule, meta.Samples)
	}
	if at := transition(pcm, 440, 1000); at < 2*48000-960 || at > 2*48000+1920+960 {
		t.Fatalf("after trimming 3 s: 1000 Hz from sample %d, want about %d", at, 2*48000)
	}
}

// TestRepairAfterCrash: a file a crash left with a torn last page and a
// meta saying "recording" is repaired by the next Manager: cut at the last
// whole page, ended, indexed, and it resumes when the room goes live.
func TestRepairAfterCrash(t *testing.T) {
	dir := t.TempDir()
	st := Dir{Root: dir}
	m := newManager(t, st)
	p := program.New(program.Config{RingChunks: 1024})
	m.SetRecording("room4", true)
	m.Attach("room4", p)
	src := newToneSource(t)
	feed(p, src, 440, 3*time.Second)
	// Written out (every 250 ms): wait until the file holds the 3 s, at most
	// 10 s on a loaded machine.
	meta, _ := m.Meta("room4")
	for deadline := time.Now().Add(10 * time.Second); meta.Samples < 3*48000 && time.Now().Before(deadline); meta, _ = m.Meta("room4") {
		time.Sleep(20 * time.Millisecond)
	}
	if meta.State != StateRecording {
		t.Fatalf("state %q while writing", meta.State)
	}
	// What a kill -9 leaves: the file as flushed, no end of stream, the
	// meta "recording"; plus a torn page as if cut mid-write.
	fileBytes := readFile(t, filepath.Join(dir, meta.File))
	metaBytes := readFile(t, filepath.Join(dir, metaName("room4")))
	p.Close()
	m.Close()
	os.WriteFile(filepath.Join(dir, meta.File), append(fileBytes, "OggS\x00\x00garbage"...), 0o600)
	os.WriteFile(filepath.Join(dir, metaName("room4")), metaBytes, 0o600)
	os.WriteFile(filepath.Join(dir, meta.Index), nil, 0o600)

	m2 := newManager(t, st)
	fixed, err := m2.Meta("room4")
	if err != nil || fixed.State != StatePaused {
		t.Fatalf("after repair: %+v %v", fixed, err)
	}
	rp, err := m2.OpenReplay("room4")
	if err != nil {
		t.Fatal(err)
	}
	_, granule := decodeOgg(t, readAll(t, rp))
	rp.Close()
	if granule < 3*48000-48000/2 || granule > 3*48000 {
		t.Fatalf("repaired: %d samples, want the 3 s flushed", granule)
	}
	o, _ := st.Open(fixed.Index)
	if idx, _ := readIndex(o); len(idx) < 2 {
		t.Fatalf("rebuilt index: %d entries", len(idx))
	}
	o.Close()
	// The room resumes: recording goes on in the same file.
	p2 := program.New(program.Config{RingChunks: 1024})
	m2.Attach("room4", p2)
	feed(p2, src, 1000, 2*time.Second)
	p2.Close()
	m2.RoomEnded("room4")
	waitState(t, m2, "room4", StateFinished)
	rp, _ = m2.OpenReplay("room4")
	pcm, g2 := decodeOgg(t, readAll(t, rp))
	rp.Close()
	if g2 != granule+2*48000 {
		t.Fatalf("resumed: %d samples, want %d", g2, granule+2*48000)
	}
	if at := transition(pcm, 440, 1000); at < int(granule)-1920 || at > int(granule)+1920 {
		t.Fatalf("resumed: 1000 Hz from %d, want %d", at, granule)
	}
}

func readFile(t *testing.T, p string) []byte {
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// failingStore fails (or blocks) writes to the recording file.
type failingStore struct {
	Dir
	mu      sync.Mutex
	fail    bool
	block   chan struct{}
	blocked chan struct{} // told (without waiting) when a write starts waiting on block
}

type failingAppender struct {
	Appender
	s *failingStore
}

func (s *failingStore) Create(name string) (Appender, error) {
	a, err := s.Dir.Create(name)
	return &failingAppender{a, s}, err
}
func (s *failingStore) Append(name string) (Appender, error) {
	a, err := s.Dir.Append(name)
	return &failingAppender{a, s}, err
}

func (a *failingAppender) Write(b []byte) (int, error) {
	a.s.mu.Lock()
	fail, block, blocked := a.s.fail, a.s.block, a.s.blocked
	a.s.mu.Unlock()
	if block != nil {
		select {
		case blocked <- struct{}{}:
		default:
		}
		<-block
	}
	if fail {
		return 0, errors.New("no space left on device")
	}
	return a.Appender.Write(b)
}

// TestWriteErrorReported: a write error stops the recording with its
// error in the state and the metric, the file stays valid up to the last
// good write, and the program never waits (a full queue drops chunks).
func TestWriteErrorReported(t *testing.T) {
	st := &failingStore{Dir: Dir{Root: t.TempDir()}}
	var changes sync.WaitGroup
	changes.Add(1)
	var once sync.Once
	reg := prometheus.NewRegistry()
	m, err := New(Config{Storage: st, Logger: quietLog(), FlushEvery: 20 * time.Millisecond, QueueChunks: 10, Registry: reg,
		OnChange: func(string) { once.Do(changes.Done) }})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	p := program.New(program.Config{RingChunks: 1024})
	m.SetRecording("room5", true)
	m.Attach("room5", p)
	src := newToneSource(t)
	feed(p, src, 440, time.Second)
	// The disk stalls once that second is accounted for (polled, at most
	// 10 s: a loaded machine's pump may take longer than 100 ms): written,
	// or dropped (a burst that came while the writer was busy opening the
	// file). The file must keep what was written after the error.
	chunk := int64(p.ChunkFrames() * program.FrameSamples)
	var flushed int64
	var early float64 // chunks dropped before the stall
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if meta, err := m.Meta("room5"); err == nil {
			flushed = meta.Samples // what the writer has written to the file
		}
		early = counter(m.met.dropped) // read after: a chunk is counted once, or not yet
		if flushed+int64(early)*chunk >= 48000 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("of the first second, %d samples written and %v chunks dropped in 10 s", flushed, early)
		}
	}
	// The disk stalls: the program goes on; the queue fills and drops.
	block, blocked := make(chan struct{}), make(chan struct{}, 1)
	st.mu.Lock()
	st.block, st.blocked = block, blocked
	st.mu.Unlock()
	start := time.Now()
	feed(p, src, 440, 200*time.Millisecond)
	select {
	case <-blocked: // the writer is stuck in a write
	case <-time.After(5 * time.Second):
		t.Fatal("no write reached the stalled disk in 5 s")
	}
	feed(p, src, 440, 2*time.Second)
	if time.Since(start) > 5*time.Second {
		t.Fatal("the program waited on the stalled disk")
	}
	for deadline := time.Now().Add(5 * time.Second); counter(m.met.dropped) == early; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			break // reported below
		}
	}
	st.mu.Lock()
	st.fail, st.block = true, nil
	st.mu.Unlock()
	close(block)
	feed(p, src, 440, time.Second)
	changes.Wait()
	rs := m.Recording("room5")
	if rs.Error == "" {
		t.Fatalf("state after a write error: %+v", rs)
	}
	if n := counter(m.met.errors); n != 1 {
		t.Fatalf("majlis_recording_write_errors_total %v after one write error", n)
	}
	if n := counter(m.met.dropped); n == early {
		t.Fatalf("majlis_recording_dropped_chunks_total %v after a stalled disk, as before it", n)
	}
	if rs.On {
		t.Fatalf("still recording after a write error: %+v", rs)
	}
	st.mu.Lock()
	st.fail = false // space again: the file is repaired when the room ends
	st.mu.Unlock()
	p.Close()
	m.RoomEnded("room5")
	meta := waitState(t, m, "room5", StateFinished)
	if meta.Dropped == 0 {
		t.Fatalf("no chunk counted as dropped while the disk stalled: %+v", meta)
	}
	rp, err := m.OpenReplay("room5")
	if err != nil {
		t.Fatal(err)
	}
	_, g := decodeOgg(t, readAll(t, rp))
	rp.Close()
	if g < flushed {
		t.Fatalf("after the error: %d samples kept, %d were written before it", g, flushed)
	}
	b, _ := json.Marshal(meta)
	t.Logf("meta after a write error: %s", b)
}

func counter(c prometheus.Counter) float64 {
	var m dto.Metric
	c.Write(&m)
	return m.GetCounter().GetValue()
}

// TestReplayReadyAtEnd: one pump serves every recording, waking each
// FlushEvery; the end of a room does not wait for that wake-up. With an
// hour between flushes the stretch still opens when recording is turned
// on, and the replay is finished, whole, as soon as the room ended.
func TestReplayReadyAtEnd(t *testing.T) {
	m, err := New(Config{Storage: Dir{Root: t.TempDir()}, Logger: quietLog(), FlushEvery: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	p := program.New(program.Config{RingChunks: 1024})
	m.SetRecording("room9", true)
	m.Attach("room9", p)
	deadline := time.Now().Add(5 * time.Second)
	for {
		if meta, err := m.Meta("room9"); err == nil && meta.File != "" && meta.Bytes > 0 {
			break // the headers are in the file: the stretch opened
		}
		if time.Now().After(deadline) {
			t.Fatal("the stretch did not open within 5 s of recording on (an hour between flushes)")
		}
		time.Sleep(5 * time.Millisecond)
	}
	feed(p, newToneSource(t), 440, time.Second)
	p.Close()
	ended := time.Now()
	m.RoomEnded("room9")
	meta := waitState(t, m, "room9", StateFinished)
	if d := time.Since(ended); d > 2*time.Second {
		t.Fatalf("finished %v after the end, with an hour between flushes", d)
	}
	if meta.Dropped != 0 || meta.Duration() < 990*time.Millisecond || meta.Duration() > 1010*time.Millisecond {
		t.Fatalf("replay of 1 s of program: %v, %d chunks dropped", meta.Duration(), meta.Dropped)
	}
	rp, err := m.OpenReplay("room9")
	if err != nil {
		t.Fatal(err)
	}
	defer rp.Close()
	if _, g := decodeOgg(t, readAll(t, rp)); g != 48000 {
		t.Fatalf("replay decodes to %d samples, want 48000", g)
	}
}

// TestCloseTakesClosedProgram: at a graceful stop the live rooms' programs
// close first, then the Manager; what the program held when it closed is
// in the file, even with no flush in between.
func TestCloseTakesClosedProgram(t *testing.T) {
	m, err := New(Config{Storage: Dir{Root: t.TempDir()}, Logger: quietLog(), FlushEvery: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	p := program.New(program.Config{RingChunks: 1024})
	m.SetRecording("room10", true)
	m.Attach("room10", p)
	feed(p, newToneSource(t), 440, time.Second)
	p.Close()
	m.Close()
	meta, err := m.Meta("room10")
	if err != nil {
		t.Fatal(err)
	}
	if meta.State != StatePaused || meta.Dropped != 0 || meta.Duration() != time.Second {
		t.Fatalf("after a graceful stop: state %q, %v recorded of 1 s, %d chunks dropped", meta.State, meta.Duration(), meta.Dropped)
	}
}

// TestGoroutinesDoNotGrowWithRooms: 100 rooms recorded and in the evidence
// ring (program and a speaker track each) add no goroutine: the two pumps
// serve them all (their pass workers come and go: 2 × diskWorkers at most).
func TestGoroutinesDoNotGrowWithRooms(t *testing.T) {
	st := Dir{Root: t.TempDir()}
	m := newManager(t, st)
	ev, err := NewEvidence(EvidenceConfig{Storage: st, Logger: quietLog(), Speakers: true, FlushEvery: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer ev.Close()
	before := runtime.NumGoroutine()
	src := newToneSource(t)
	frame := src.frame(440)
	var progs []*program.Program
	var taps []*SpeakerTap
	for i := range 100 {
		id := "many" + strconv.Itoa(i)
		p := program.New(program.Config{})
		m.SetRecording(id, true)
		m.Attach(id, p)
		ev.Attach(id, p)
		progs = append(progs, p)
		taps = append(taps, ev.Speaker(id, "u"+strconv.Itoa(i)))
	}
	most := 0
	for range 25 { // half a second of every room
		for i, p := range progs {
			p.WriteFrame(frame)
			taps[i].Push(0, 0, frame)
		}
		most = max(most, runtime.NumGoroutine()-before)
		time.Sleep(20 * time.Millisecond)
	}
	if most > 2*diskWorkers {
		t.Fatalf("100 recorded rooms added up to %d goroutines, want at most %d", most, 2*diskWorkers)
	}
	for i, p := range progs {
		p.Close()
		taps[i].Close()
		m.RoomEnded("many" + strconv.Itoa(i))
	}
	for i := range progs {
		if meta := waitState(t, m, "many"+strconv.Itoa(i), StateFinished); meta.Samples == 0 || meta.Dropped != 0 {
			t.Fatalf("room %d: %d samples recorded, %d chunks dropped", i, meta.Samples, meta.Dropped)
		}
	}
}
