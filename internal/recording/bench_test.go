package recording

import (
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"majlis/internal/program"
	"majlis/internal/testkit"
)

// BenchmarkRecordRoomMinute records one minute of a 32 kbit/s program (the
// default chunk of 2 frames: 1,500 pages) per op, through the real file
// system: the writer's CPU (page patching, checksums, writes, the index,
// four flushes and one sync a second of audio) and the bytes it stores.
// Reported per recorded room-hour: cpu-s/room-h and MB/room-h.
func BenchmarkRecordRoomMinute(b *testing.B) {
	src := &toneSource{}
	enc, err := newEncoder()
	if err != nil {
		b.Fatal(err)
	}
	src.enc = enc
	frames := make([][]byte, 50)
	for i := range frames {
		frames[i] = src.frame(440)
	}
	m, err := New(Config{Storage: Dir{Root: b.TempDir()}, Logger: quietLog(), QueueChunks: 4096})
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	var bytes int64
	cpu0 := testkit.ProcessCPU()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		room := "bench" + strconv.Itoa(i)
		p := program.New(program.Config{RingChunks: 2048})
		m.SetRecording(room, true)
		m.Attach(room, p)
		for f := 0; f < 3000; f++ { // 60 s
			p.WriteFrame(frames[f%len(frames)])
		}
		p.Close()
		m.RoomEnded(room)
		for {
			meta, _ := m.Meta(room)
			if meta.State == StateFinished {
				bytes += meta.Bytes
				if meta.Dropped != 0 {
					b.Fatalf("%d chunks dropped", meta.Dropped)
				}
				break
			}
			time.Sleep(100 * time.Microsecond)
		}
	}
	cpu := testkit.ProcessCPU() - cpu0
	b.ReportMetric(cpu.Seconds()/float64(b.N)*60, "cpu-s/room-h")
	b.ReportMetric(float64(bytes)/float64(b.N)*60/1e6, "MB/room-h")
}

// BenchmarkWriteFrameRecorded is the mixer's side of recording: the cost of
// program.WriteFrame (framing each chunk once) with no reader, and with a
// recording and the evidence ring following the program. The readers run
// on their own goroutines and the program never waits for them; what
// remains is sharing the CPU.
func BenchmarkWriteFrameRecorded(b *testing.B) {
	enc, err := newEncoder()
	if err != nil {
		b.Fatal(err)
	}
	src := &toneSource{enc: enc}
	frames := make([][]byte, 50)
	for i := range frames {
		frames[i] = src.frame(440)
	}
	for _, recorded := range []bool{false, true} {
		name := "none"
		if recorded {
			name = "recording+evidence"
		}
		b.Run(name, func(b *testing.B) {
			st := Dir{Root: b.TempDir()}
			p := program.New(program.Config{})
			if recorded {
				m, err := New(Config{Storage: st, Logger: quietLog()})
				if err != nil {
					b.Fatal(err)
				}
				defer m.Close()
				ev, err := NewEvidence(EvidenceConfig{Storage: st, Logger: quietLog()})
				if err != nil {
					b.Fatal(err)
				}
				defer ev.Close()
				m.SetRecording("room", true)
				m.Attach("room", p)
				ev.Attach("room", p)
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				p.WriteFrame(frames[i%len(frames)])
				if i%50 == 49 { // let the readers keep up, as in real time, off the clock
					b.StopTimer()
					time.Sleep(time.Millisecond)
					b.StartTimer()
				}
			}
			b.StopTimer()
			p.Close()
		})
	}
}

// BenchmarkRecordingLoad records many rooms at once in real time: one
// goroutine stands in for the rooms' mixers and writes a frame to every
// room's program each 20 ms (ROOMS, default 100), each room recorded and
// in the evidence ring, for SECONDS (default 5) per op. It reports how late
// the stand-in mixer's ticks ran (p99 and max, ms), the process CPU per
// room (over the last 60% of the run) and the chunks the recordings and the evidence ring
// dropped (none, unless the disk fell 30 s behind): what recording that
// many rooms costs the mixers sharing the machine.
func BenchmarkRecordingLoad(b *testing.B) {
	rooms, seconds := 100, 5
	if v, err := strconv.Atoi(os.Getenv("ROOMS")); err == nil && v > 0 {
		rooms = v
	}
	if v, err := strconv.Atoi(os.Getenv("SECONDS")); err == nil && v > 0 {
		seconds = v
	}
	ticks, from := seconds*50, seconds*20 // CPU counted from 40% of the run on
	enc, err := newEncoder()
	if err != nil {
		b.Fatal(err)
	}
	src := &toneSource{enc: enc}
	frames := make([][]byte, 50)
	for i := range frames {
		frames[i] = src.frame(440)
	}
	for n := 0; n < b.N; n++ {
		st := Dir{Root: b.TempDir()}
		m, err := New(Config{Storage: st, Logger: quietLog()})
		if err != nil {
			b.Fatal(err)
		}
		ev, err := NewEvidence(EvidenceConfig{Storage: st, Logger: quietLog()})
		if err != nil {
			b.Fatal(err)
		}
		progs := make([]*program.Program, rooms)
		for i := range progs {
			id := "load" + strconv.Itoa(i)
			progs[i] = program.New(program.Config{})
			if os.Getenv("NOREC") == "" { // NOREC=1: the same clock without recording, to compare
				m.SetRecording(id, true)
				m.Attach(id, progs[i])
				ev.Attach(id, progs[i])
			}
		}
		start := time.Now()
		var late []time.Duration
		var cpu0 time.Duration
		for tick := 0; tick < ticks; tick++ {
			if tick == from {
				// The files' creation (metas, headers) is a cost per
				// recording, not per second: the CPU is counted after it.
				cpu0 = testkit.ProcessCPU()
			}
			due := start.Add(time.Duration(tick) * 20 * time.Millisecond)
			time.Sleep(time.Until(due))
			late = append(late, time.Since(due))
			for _, p := range progs {
				p.WriteFrame(frames[tick%len(frames)])
			}
		}
		cpu := testkit.ProcessCPU() - cpu0
		for _, p := range progs {
			p.Close()
		}
		m.Close()
		ev.Close()
		slices.Sort(late)
		b.ReportMetric(float64(late[len(late)*99/100].Microseconds())/1000, "p99-late-ms")
		b.ReportMetric(float64(late[len(late)-1].Microseconds())/1000, "max-late-ms")
		b.ReportMetric(cpu.Seconds()/(float64(ticks-from)/50)/float64(rooms)*100, "cpu%/room")
		b.ReportMetric(counter(m.met.dropped)+counter(ev.dropped), "dropped")
	}
}
