package live

import (
	"majlis/internal/program"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"majlis/internal/audio"
	"majlis/internal/metrics"
)

// TestMixerWakesPerChunk: a live room's mixer wakes once per program chunk,
// or every audio.MaxBatchFrames frames for longer chunks, not once per
// frame; a room with no speaker (silence, which nobody waits for) wakes
// every audio.MaxBatchFrames whatever its chunks.
func TestMixerWakesPerChunk(t *testing.T) {
	for _, tc := range []struct {
		chunk, perWake int
		speaker        bool
	}{{2, 2, true}, {10, audio.MaxBatchFrames, true}, {2, audio.MaxBatchFrames, false}} {
		met := metrics.New(nil)
		m := NewManager(Config{Metrics: met, ChunkFrames: tc.chunk, ChunkMaxFrames: tc.chunk})
		r, err := m.Start("room")
		if err != nil {
			t.Fatal(err)
		}
		if tc.speaker {
			r.AddSpeaker("speaker")
		}
		deadline := time.Now().Add(10 * time.Second)
		for r.Program.Head() < 4 {
			if time.Now().After(deadline) {
				t.Fatalf("chunk %d: %d chunks in 10 s", tc.chunk, r.Program.Head())
			}
			time.Sleep(10 * time.Millisecond)
		}
		m.Close()
		var frames int
		for i := range r.Program.Head() {
			frames += len(r.Program.Chunk(i).Frames)
		}
		var c dto.Metric
		if err := met.MixerWakeups.Write(&c); err != nil {
			t.Fatal(err)
		}
		wakeups := int(c.GetCounter().GetValue())
		// Run asks for the next batch before it sleeps, so the count
		// includes one wake-up that Close cut short; a stall of more than
		// 100 ms (a loaded CI machine) adds a one-frame wake-up.
		if min := frames / tc.perWake; wakeups < min || wakeups > min+3 {
			t.Errorf("chunks of %d frames, speaker %v: %d wake-ups for %d frames, want %d per wake-up", tc.chunk, tc.speaker, wakeups, frames, tc.perWake)
		}
	}
}

// TestChunksFollowTheProcessAudience: the chunk length follows the
// listeners of every room: 600 listeners in one room lengthen the chunks
// of a room with one listener too, and of a room started meanwhile; when
// they leave, every room is back to short chunks.
func TestChunksFollowTheProcessAudience(t *testing.T) {
	m := NewManager(Config{ChunkFrames: 2, ChunkMaxFrames: 50})
	defer m.Close()
	big, err := m.Start("big")
	if err != nil {
		t.Fatal(err)
	}
	small, err := m.Start("small")
	if err != nil {
		t.Fatal(err)
	}
	small.ListenerJoined()
	if f := small.Program.ChunkFrames(); f != 2 {
		t.Fatalf("one listener on the box: %d-frame chunks, want 2", f)
	}
	for range 600 {
		big.ListenerJoined()
	}
	late, err := m.Start("late")
	if err != nil {
		t.Fatal(err)
	}
	want := program.ChunkFramesFor(601, program.DefaultChunkSteps, 2, 50)
	for _, r := range []*Room{big, small, late} {
		if f := r.Program.ChunkFrames(); f != want || want <= 2 {
			t.Errorf("room %s with 601 listeners on the box: %d-frame chunks, want %d", r.ID, f, want)
		}
	}
	for range 600 {
		big.ListenerLeft()
	}
	for _, r := range []*Room{big, small, late} {
		if f := r.Program.ChunkFrames(); f != 2 {
			t.Errorf("room %s after the crowd left: %d-frame chunks, want 2", r.ID, f)
		}
	}
}

// TestChunksFollowTheFleet: on an origin the edges' listeners count for
// the chunk length as the origin's own do (every chunk is a message to
// each edge serving the room), and it comes back when they leave.
func TestChunksFollowTheFleet(t *testing.T) {
	m := NewManager(Config{ChunkFrames: 2, ChunkMaxFrames: 50})
	defer m.Close()
	r, err := m.Start("room")
	if err != nil {
		t.Fatal(err)
	}
	r.ListenerJoined()
	m.SetRemote(9_999)
	if f, want := r.Program.ChunkFrames(), program.ChunkFramesFor(10_000, program.DefaultChunkSteps, 2, 50); f != want || want <= 2 {
		t.Fatalf("1 listener here and 9,999 on the edges: %d-frame chunks, want %d", f, want)
	}
	late, err := m.Start("late")
	if err != nil {
		t.Fatal(err)
	}
	if f := late.Program.ChunkFrames(); f != r.Program.ChunkFrames() {
		t.Fatalf("a room started meanwhile: %d-frame chunks, want %d", f, r.Program.ChunkFrames())
	}
	m.SetRemote(0)
	for _, x := range []*Room{r, late} {
		if f := x.Program.ChunkFrames(); f != 2 {
			t.Fatalf("room %s once the edges are empty: %d-frame chunks, want 2", x.ID, f)
		}
	}
}

// TestEndKeepsTheLastFrames: a room that ends publishes the frames its
// mixer wrote since the last whole chunk (program.Finish), so listeners
// and recordings get its last words; at 50-frame chunks those are up to
// 980 ms.
func TestEndKeepsTheLastFrames(t *testing.T) {
	m := NewManager(Config{Metrics: metrics.New(nil), ChunkFrames: 50, ChunkMaxFrames: 50})
	defer m.Close()
	r, err := m.Start("room")
	if err != nil {
		t.Fatal(err)
	}
	r.AddSpeaker("speaker")
	p := r.Program
	for deadline := time.Now().Add(10 * time.Second); p.Head() < 1; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("no chunk in 10 s")
		}
	}
	time.Sleep(300 * time.Millisecond) // the mixer writes into the next chunk, in batches
	m.End("room")
	// The mixer no longer writes: what it left pending is readable here.
	if n := p.FramesToChunkEnd(); n != p.ChunkFrames() {
		t.Fatalf("%d frames left unpublished at the end", p.ChunkFrames()-n)
	}
	last := p.Chunk(p.Head() - 1)
	if !p.Closed() || p.Head() < 2 || len(last.Frames) >= 50 || last.FirstSeq != uint64(50*(p.Head()-1)) {
		t.Fatalf("after the end: closed %v, %d chunks, the last of %d frames from %d", p.Closed(), p.Head(), len(last.Frames), last.FirstSeq)
	}
}
