package live

import (
	"os"
	"strconv"
	"testing"
	"time"

	"majlis/internal/metrics"
	"majlis/internal/testkit"
)

// BenchmarkIdleRooms runs ROOMS live rooms (default 100) with no speaker
// and no listener for 10 s of real time per op and reports what they cost
// the process: CPU per room (ms per second) and context switches per
// second, the fixed cost of a room a platform hosts most of the time.
func BenchmarkIdleRooms(b *testing.B) {
	rooms := 100
	if v, err := strconv.Atoi(os.Getenv("ROOMS")); err == nil && v > 0 {
		rooms = v
	}
	const window = 10 * time.Second
	for range b.N {
		m := NewManager(Config{Metrics: metrics.New(nil)})
		for i := range rooms {
			if _, err := m.Start("idle" + strconv.Itoa(i)); err != nil {
				b.Fatal(err)
			}
		}
		time.Sleep(time.Second) // past the start and the encoders' settling
		cpu0, csw0 := testkit.ProcessCPU(), testkit.ContextSwitches()
		time.Sleep(window)
		cpu1, csw1 := testkit.ProcessCPU(), testkit.ContextSwitches()
		m.Close()
		b.ReportMetric(float64((cpu1-cpu0).Microseconds())/1000/window.Seconds()/float64(rooms), "cpu-ms/s/room")
		b.ReportMetric(float64(csw1-csw0)/window.Seconds(), "csw/s")
	}
}
