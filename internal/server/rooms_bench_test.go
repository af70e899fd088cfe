package server

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"majlis/internal/audio"
	"majlis/internal/loadgen"
	"majlis/internal/testkit"
)

// BenchmarkRoomsSpeaking: many live rooms on one origin, each with one
// speaker and a few listeners. The speakers' audio (recorded speech,
// testdata/speech-en.opus re-encoded in 20 ms packets at 32 kbit/s, each
// room at its own place in it) goes in through the ingest interface (the
// rooms' mixer sources, as the stage feeds them), in real time, from one
// goroutine of this process; the listeners are `majlis loadgen` in a
// process of its own (tickets minted with the data dir's key). Reported:
// the listeners' stalls and rates, the server process's CPU per room (the
// feeder included: about 1 µs a packet), its context switches, and how
// the mixers handled the speakers' packets. SPEAKERS=0 PER_ROOM=0: idle
// live rooms in a whole server (the stores, the evidence ring, the
// tickers), measured over DURATION with nobody connected. The measure
// starts SETTLE (default 2 s) after the rooms are live.
//
//	ROOMS=1000 PER_ROOM=10 DURATION=60s go test -run '^$' -bench RoomsSpeaking -benchtime 1x -timeout 30m ./internal/server/
func BenchmarkRoomsSpeaking(b *testing.B) {
	rooms, per, speakers := envInt("ROOMS", 1000), envCount("PER_ROOM", 10), envCount("SPEAKERS", 1) > 0
	dur := 60 * time.Second
	if d, err := time.ParseDuration(os.Getenv("DURATION")); err == nil {
		dur = d
	}
	bin := buildMajlis(b)
	speech := speechPackets(b)
	if per > 0 && !speakers {
		b.Fatal("PER_ROOM > 0 needs SPEAKERS=1")
	}
	dataDir := b.TempDir()
	conns := rooms*per + 512
	ts := startServerWith(b, dataDir, func(c *Config) {
		c.Admission.AudienceMaxConns, c.Admission.AudienceConnsPerIP, c.Admission.AudienceConnsPerNet = conns, conns, conns
		c.Admission.AudienceAcceptRate = 5000
	})
	_, hostTok := ts.createUser(b, "amal")
	ids := make([]string, rooms)
	srcs := make([]*audio.Source, rooms)
	for i := range ids {
		ids[i] = ts.liveRoom(b, hostTok)
		r := ts.LiveRoom(ids[i])
		if r == nil {
			b.Fatalf("room %s is not live", ids[i])
		}
		if speakers {
			srcs[i] = r.AddSpeaker("speaker")
		}
	}
	if !speakers {
		srcs = nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	fed := make(chan struct{})
	go func() {
		defer close(fed)
		if speakers {
			feed(ctx, srcs, speech)
		}
	}()
	defer func() { cancel(); <-fed }()
	// The jitter buffers fill, the chunk length settles; SETTLE longer
	// measures past the rooms' start (their first evidence segments).
	settle := 2 * time.Second
	if d, err := time.ParseDuration(os.Getenv("SETTLE")); err == nil {
		settle = d
	}
	time.Sleep(settle)

	for range b.N {
		if per == 0 {
			cpu0, csw0, t0 := testkit.ProcessCPU(), testkit.ContextSwitches(), time.Now()
			time.Sleep(dur)
			cpu, csw, took := testkit.ProcessCPU()-cpu0, testkit.ContextSwitches()-csw0, time.Since(t0)
			b.ReportMetric(cpu.Seconds()*1000/took.Seconds()/float64(rooms), "cpu-ms/s/room")
			b.ReportMetric(float64(csw)/took.Seconds(), "csw/s")
			continue
		}
		out := filepath.Join(b.TempDir(), "report.json")
		cpu0, csw0, t0 := testkit.ProcessCPU(), testkit.ContextSwitches(), time.Now()
		cmd := exec.Command(bin, "loadgen", "--origin", ts.base, "--room", strings.Join(ids, ","),
			"--listeners", strconv.Itoa(rooms*per), "--proto", "ws", "--ramp", "2000", "--duration", dur.String(),
			"--sources", "127.0.0.2-9", "--ticket-key-file", filepath.Join(dataDir, "ticket.key"),
			"--server-pids", strconv.Itoa(os.Getpid()), "--out", out)
		if msg, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("loadgen: %v\n%s", err, msg)
		}
		cpu, csw, took := testkit.ProcessCPU()-cpu0, testkit.ContextSwitches()-csw0, time.Since(t0)
		raw, err := os.ReadFile(out)
		if err != nil {
			b.Fatal(err)
		}
		var rep loadgen.Report
		if err := json.Unmarshal(raw, &rep); err != nil {
			b.Fatal(err)
		}
		var st audio.SourceStats
		for _, s := range srcs {
			x := s.Stats()
			st.Packets, st.Forwarded, st.Decoded, st.Skipped, st.Concealed = st.Packets+x.Packets, st.Forwarded+x.Forwarded, st.Decoded+x.Decoded, st.Skipped+x.Skipped, st.Concealed+x.Concealed
		}
		b.ReportMetric(float64(rep.Stalled), "stalled")
		b.ReportMetric(float64(rep.BelowRate), "below-rate")
		b.ReportMetric(rep.RateMin, "rate-min")
		b.ReportMetric(float64(rep.Failed), "failed")
		if rep.Server != nil {
			b.ReportMetric(rep.Server.CPUShare*1000/float64(rooms), "steady-cpu-ms/s/room")
		}
		b.ReportMetric(cpu.Seconds()*1000/took.Seconds()/float64(rooms), "cpu-ms/s/room")
		b.ReportMetric(float64(csw)/took.Seconds(), "csw/s")
		b.Logf("%d rooms × %d listeners: listeners %d, with audio %d, failed %d, stalled %d (%d stalls), below rate %d, rate min %.4f, ttfb p99 %.0f ms; server %+v",
			rooms, per, rep.Listeners, rep.WithAudio, rep.Failed, rep.Stalled, rep.Stalls, rep.BelowRate, rep.RateMin, rep.TTFBp99ms, rep.Server)
		b.Logf("speakers' packets: %d in, %d forwarded, %d decoded, %d skipped as silence, %d concealed", st.Packets, st.Forwarded, st.Decoded, st.Skipped, st.Concealed)
	}
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// envCount is envInt that also takes 0.
func envCount(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v >= 0 {
		return v
	}
	return def
}

// speechPackets is testdata/speech-en.opus decoded by ffmpeg and encoded
// again as a speaker's browser would send it: 20 ms Opus packets, mono,
// 32 kbit/s.
func speechPackets(t testing.TB) [][]byte {
	t.Helper()
	pcmBytes, err := exec.Command("ffmpeg", "-v", "error", "-i", "testdata/speech-en.opus", "-f", "s16le", "-ac", "1", "-ar", "48000", "-").Output()
	if err != nil {
		t.Fatalf("ffmpeg: %v", err)
	}
	enc, err := audio.NewEncoder(1, 32000)
	if err != nil {
		t.Fatal(err)
	}
	pcm := make([]int16, audio.FrameSamples)
	buf := make([]byte, audio.MaxPacketBytes)
	var out [][]byte
	for off := 0; off+2*audio.FrameSamples <= len(pcmBytes); off += 2 * audio.FrameSamples {
		for i := range pcm {
			pcm[i] = int16(binary.LittleEndian.Uint16(pcmBytes[off+2*i:]))
		}
		n, err := enc.Encode(pcm, buf)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, append([]byte(nil), buf[:n]...))
	}
	if len(out) < 100 {
		t.Fatalf("speech: %d packets", len(out))
	}
	return out
}

// feed pushes the next packet of speech into every source each 20 ms, on
// an absolute schedule, until ctx ends; source i starts at its own place
// in the speech, and its sequence numbers and timestamps run on.
func feed(ctx context.Context, srcs []*audio.Source, speech [][]byte) {
	start := time.Now()
	timer := time.NewTimer(0)
	defer timer.Stop()
	for n := 0; ; n++ {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		for i, s := range srcs {
			s.Push(uint16(n), uint32(n*audio.FrameSamples), speech[(n+i*37)%len(speech)])
		}
		timer.Reset(time.Until(start.Add(time.Duration(n+1) * audio.FrameDuration)))
	}
}
