package live

import (
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"majlis/internal/audio"
	"majlis/internal/metrics"
)

// TestMixerWakesPerChunk: a live room's mixer wakes once per program chunk,
// or every audio.MaxBatchFrames frames for longer chunks, not once per frame.
func TestMixerWakesPerChunk(t *testing.T) {
	for _, tc := range []struct{ chunk, perWake int }{{2, 2}, {10, audio.MaxBatchFrames}} {
		met := metrics.New(nil)
		m := NewManager(Config{Metrics: met, ChunkFrames: tc.chunk, ChunkMaxFrames: tc.chunk})
		r, err := m.Start("room")
		if err != nil {
			t.Fatal(err)
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
			t.Errorf("chunks of %d frames: %d wake-ups for %d frames, want %d per wake-up", tc.chunk, wakeups, frames, tc.perWake)
		}
	}
}
