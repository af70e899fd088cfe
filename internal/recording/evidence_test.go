package recording

import (
	"errors"
	"sync"
	"testing"
	"time"

	"majlis/internal/program"
)

// TestEvidenceRing: the program of a live room is kept as 1 s segments of
// which only the last Window stay (a held one stays too); each is a valid
// Ogg file with the tone; a speaker's own track is kept beside it; every
// read goes through the Access hook, which can refuse it; the retention
// job deletes what expired.
func TestEvidenceRing(t *testing.T) {
	st := Dir{Root: t.TempDir()}
	var mu sync.Mutex
	var accesses []Access
	refuse := false
	ev, err := NewEvidence(EvidenceConfig{Storage: st, Logger: quietLog(), Window: 2 * time.Second, Segment: time.Second,
		Retention: time.Hour, Speakers: true, FlushEvery: 20 * time.Millisecond,
		Access: func(a Access) error {
			mu.Lock()
			defer mu.Unlock()
			if refuse {
				return errors.New("audit log down")
			}
			accesses = append(accesses, a)
			return nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	defer ev.Close()
	p := program.New(program.Config{RingChunks: 1024})
	start := time.Now()
	ev.Attach("room6", p)
	tap := ev.Speaker("room6", "user1")
	src := newToneSource(t)
	spk := newToneSource(t)
	var held string
	for i := 0; i < 300; i++ { // 6 s in real time: the ring works on wall time
		p.WriteFrame(src.frame(440))
		tap.Push(uint16(i), uint32(i*960), spk.frame(1000))
		if i == 60 { // the first finished segment is tied to a report
			if segs := ev.Find("room6", start, time.Now()); len(segs) > 0 {
				held = segs[0].ID
				if err := ev.Hold(held, time.Now().Add(2*time.Hour)); err != nil {
					t.Fatal(err)
				}
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	tap.Close()
	p.Close()
	var segs []Segment
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		segs = ev.Find("room6", start, time.Now())
		open := false
		for _, s := range segs {
			open = open || s.Open()
		}
		if !open || time.Now().After(deadline) {
			break
		}
	}
	var program, speaker int
	for _, s := range segs {
		if s.Open() {
			t.Fatalf("segment %s still open after the room ended", s.ID)
		}
		switch s.Track {
		case "program":
			program++
		case "speaker-user1":
			speaker++
		}
	}
	// 6 s in 1 s segments, 2 s kept (+1 being finished, +1 held).
	if program < 2 || program > 5 || speaker < 2 || speaker > 5 {
		t.Fatalf("segments kept: program %d, speaker %d, want the last 2-4 s of each", program, speaker)
	}
	if held == "" {
		t.Fatal("no segment to hold at 1.2 s")
	}
	found := false
	for _, s := range segs {
		if s.ID == held {
			found = true
		}
		o, seg, err := ev.Open(Access{Actor: "mod1", Segment: s.ID, Reason: "report 7"})
		if err != nil {
			t.Fatalf("open %s: %v", s.ID, err)
		}
		b := make([]byte, o.Size())
		o.ReadAt(b, 0)
		o.Close()
		pcm, g := decodeOgg(t, b)
		if g != seg.Samples || g < 48000/2 {
			t.Fatalf("segment %s: %d samples (meta %d)", s.ID, g, seg.Samples)
		}
		want := 0
		if seg.Track != "program" {
			want = 1
		}
		if toneAt(pcm, len(pcm)/2, 960, 440, 1000) != want {
			t.Fatalf("segment %s (%s): not its tone", s.ID, seg.Track)
		}
	}
	if !found {
		t.Fatalf("the held segment %s was dropped by the ring", held)
	}
	mu.Lock()
	if len(accesses) != len(segs) || accesses[0].Actor != "mod1" || accesses[0].Reason != "report 7" || accesses[0].Room != "room6" {
		t.Fatalf("accesses: %+v", accesses)
	}
	refuse = true
	mu.Unlock()
	if _, _, err := ev.Open(Access{Actor: "mod1", Segment: segs[0].ID}); !errors.Is(err, ErrAccessRefused) {
		t.Fatalf("open with the audit log down: %v", err)
	}
	// Retention: after an hour all but the held one go; after two, it does.
	ev.Sweep(time.Now().Add(90 * time.Minute))
	if left := ev.Find("room6", start, time.Now()); len(left) != 1 || left[0].ID != held {
		t.Fatalf("after the retention: %d segments", len(left))
	}
	ev.Sweep(time.Now().Add(3 * time.Hour))
	if left := ev.Find("room6", start, time.Now()); len(left) != 0 {
		t.Fatalf("after the hold: %d segments", len(left))
	}
	// A restart finds nothing left open.
	ev2, err := NewEvidence(EvidenceConfig{Storage: st, Logger: quietLog()})
	if err != nil {
		t.Fatal(err)
	}
	defer ev2.Close()
	if n := len(ev2.Find("room6", start, time.Now())); n != 0 {
		t.Fatalf("after a restart: %d segments", n)
	}
}

// TestClipFromRing: a live room that is not being recorded is clipped from
// the evidence ring: the last 3 s across 1 s segments, in one stream with
// granules from 0 (1 s of 440 Hz, then 2 s of 1000 Hz). Once the room has
// ended, the ring is no source of clips.
func TestClipFromRing(t *testing.T) {
	st := Dir{Root: t.TempDir()}
	ev, err := NewEvidence(EvidenceConfig{Storage: st, Logger: quietLog(), Segment: time.Second, FlushEvery: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer ev.Close()
	m, err := New(Config{Storage: st, Logger: quietLog(), Ring: ev})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	p := program.New(program.Config{RingChunks: 1024})
	m.Attach("room7", p)
	ev.Attach("room7", p)
	src := newToneSource(t)
	feed(p, src, 440, 2*time.Second)
	feed(p, src, 1000, 2*time.Second)
	// The ring's writer flushes every 10 ms; on a loaded machine it may
	// take longer to hold all 4 s. A clip of the last 3 s is exact once it
	// has them: ask until then (at most 10 s), and check the last answer.
	var (
		c   Clip
		pcm []int16
		g   int64
		at  int
	)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		c, err = m.MakeClip("room7", "user", -1, 3*time.Second, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		o, _, err := m.OpenClip(c.ID)
		if err != nil {
			t.Fatal(err)
		}
		b := make([]byte, o.Size())
		o.ReadAt(b, 0)
		o.Close()
		pcm, g = decodeOgg(t, b)
		at = transition(pcm, 440, 1000)
		want := int((c.Seconds - 2) * 48000)
		if c.Seconds >= 3-0.05 && at >= want-960 && at <= want+960 || time.Now().After(deadline) {
			break
		}
	}
	if c.At.IsZero() || c.Seconds < 3-0.05 || c.Seconds > 3.05 {
		t.Fatalf("clip from the ring: %+v", c)
	}
	if g != int64(c.Seconds*48000) {
		t.Fatalf("clip: granule %d for %.3f s", g, c.Seconds)
	}
	if at < int((c.Seconds-2)*48000)-960 || at > int((c.Seconds-2)*48000)+960 {
		t.Fatalf("clip from the ring: 1000 Hz from sample %d, want %d", at, int((c.Seconds-2)*48000))
	}
	p.Close()
	m.RoomEnded("room7")
	if _, err := m.MakeClip("room7", "user", -1, 3*time.Second, time.Hour); !errors.Is(err, ErrNotFound) {
		t.Fatalf("clip of an ended room that was not recorded: %v", err)
	}
}

// TestEvidenceQuietWrites: a program of silence (libopus's digital
// silence, at most 3 bytes a packet) is written to its segment once per
// QuietFlushEvery, not every pass, and runs on in one segment past
// Segment's length; the first sound after it starts a segment of its own
// and is written in the next pass; and the two finished segments hold
// every frame, the silence included.
func TestEvidenceQuietWrites(t *testing.T) {
	st := Dir{Root: t.TempDir()}
	ev, err := NewEvidence(EvidenceConfig{Storage: st, Logger: quietLog(), FlushEvery: 20 * time.Millisecond,
		QuietFlushEvery: time.Second, Segment: 200 * time.Millisecond, Window: time.Minute, Retention: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer ev.Close()
	src := newToneSource(t)
	silence := src.frame(0)
	for range 20 { // the encoder settles on digital silence
		silence = src.frame(0)
	}
	if len(silence) > maxQuietPacket {
		t.Fatalf("libopus's silence is %d bytes, over maxQuietPacket %d", len(silence), maxQuietPacket)
	}
	p := program.New(program.Config{RingChunks: 1024})
	start := time.Now()
	ev.Attach("quiet1", p)
	segments := func() []Segment { return ev.Find("quiet1", start, time.Now().Add(time.Minute)) }
	bytes := func() int64 {
		segs := segments()
		if len(segs) != 1 {
			t.Fatalf("%d segments of silence, want 1", len(segs))
		}
		return segs[0].Bytes
	}
	frames := 0
	write := func(f []byte) { p.WriteFrame(f); frames++ }
	// The segment opens with its headers at once (a chunk is a few frames).
	for range 5 {
		write(silence)
	}
	for deadline := time.Now().Add(5 * time.Second); len(segments()) == 0 || bytes() <= 0; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("no segment with its headers")
		}
	}
	// 3 s of silence in real time (15 segments' length): 150 passes, a
	// write per QuietFlushEvery of the time they took, one segment.
	writes, last := 0, bytes()
	quietFrom := time.Now()
	for range 150 {
		write(silence)
		time.Sleep(20 * time.Millisecond)
		if b := bytes(); b != last {
			writes++
			last = b
		}
	}
	took := time.Since(quietFrom)
	if want := int(took / time.Second); writes < max(1, want-1) || writes > want+1 {
		t.Fatalf("%v of silence written %d times, want about %d (every second)", took.Round(time.Millisecond), writes, want)
	}
	// A clip from the ring asks for the silence held in memory: it is all there at once.
	var tail int64
	for _, sg := range ev.programTail("quiet1", 1<<40) {
		tail += sg.Samples
	}
	if tail < int64((frames-5)*program.FrameSamples) { // but the last chunk, still being built
		t.Fatalf("the ring's tail holds %d samples of the %d frames written", tail, frames)
	}
	// Sound starts a segment, written in the next pass (20 ms), not at the
	// next quiet write: it comes right after one, so the next is a second
	// away.
	for deadline := time.Now().Add(5 * time.Second); bytes() == last; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("no quiet write in 5 s")
		}
		write(silence)
	}
	silent := frames
	// The sound, and a frame after it: its chunk (two frames) is finished.
	write(src.frame(440))
	write(silence)
	sound := time.Now()
	for len(segments()) < 2 || segments()[1].Bytes == 0 {
		if time.Since(sound) > 700*time.Millisecond {
			t.Fatalf("a frame of sound not written within %v (%d segments)", time.Since(sound), len(segments()))
		}
		time.Sleep(5 * time.Millisecond)
	}
	// The room ends (before the sound's segment is Segment long): the rest is written, the segments finished whole.
	// The last 3 frames leave a chunk incomplete half the time (it
	// depends on how many quiet passes the wait above took): Finish
	// publishes it, as the live room does.
	for range 3 {
		write(silence)
	}
	p.Finish()
	var segs []Segment
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		segs = segments()
		if len(segs) == 2 && !segs[0].Open() && !segs[1].Open() {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the segments were not finished: %+v", segs)
		}
	}
	var total int64
	for i, seg := range segs {
		o, _, err := ev.Open(Access{Actor: "mod1", Segment: seg.ID})
		if err != nil {
			t.Fatal(err)
		}
		b := make([]byte, o.Size())
		o.ReadAt(b, 0)
		o.Close()
		pcm, g := decodeOgg(t, b)
		if seg.Samples != g {
			t.Fatalf("segment %d holds %d samples, its meta says %d", i, g, seg.Samples)
		}
		total += g
		if i == 1 { // the sound is in its first chunk (at most 5 frames)
			heard := false
			for k := range 5 {
				heard = heard || toneAt(pcm, k*program.FrameSamples, program.FrameSamples, 440, 1000) == 0
			}
			if !heard {
				t.Fatal("the second segment does not start with the sound")
			}
		}
	}
	// The program's chunks end where they end: the silent segment takes whole chunks, up to the sound's.
	if segs[0].Samples > int64(silent*program.FrameSamples) || total != int64(frames*program.FrameSamples) {
		t.Fatalf("segments of %d and %d samples; %d frames of silence before the sound, %d in all", segs[0].Samples, segs[1].Samples, silent, frames)
	}
}
