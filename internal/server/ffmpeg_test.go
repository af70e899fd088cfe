package server

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"os/exec"
	"testing"
	"time"
)

// TestFFmpegReadsListenOgg: Debian's ffprobe sees listen.ogg as 48 kHz mono
// Opus, and ffmpeg decodes the host's tone from it.
func TestFFmpegReadsListenOgg(t *testing.T) {
	ffprobe, err1 := exec.LookPath("ffprobe")
	ffmpeg, err2 := exec.LookPath("ffmpeg")
	if err1 != nil || err2 != nil {
		t.Fatal("ffprobe/ffmpeg not installed: scripts/deps installs Debian's ffmpeg")
	}
	ts := startServer(t, "")
	_, hostTok := ts.createUser(t, "amal")
	room := ts.liveRoom(t, hostTok)
	sp := publishTone(t, ts, room, hostTok, &tone{freq: lowHz, amp: toneAmp})
	defer sp.stop()
	time.Sleep(500 * time.Millisecond)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, ffprobe, "-v", "error", "-probesize", "32768", "-analyzeduration", "500000",
		"-show_streams", "-of", "json", ts.base+ts.join(t, room).Listen.Ogg).Output()
	if err != nil {
		t.Fatalf("ffprobe: %v", err)
	}
	var probe struct {
		Streams []struct {
			CodecName  string `json:"codec_name"`
			SampleRate string `json:"sample_rate"`
			Channels   int    `json:"channels"`
		} `json:"streams"`
	}
	if err := json.Unmarshal(out, &probe); err != nil || len(probe.Streams) != 1 {
		t.Fatalf("ffprobe output %s: %v", out, err)
	}
	if s := probe.Streams[0]; s.CodecName != "opus" || s.SampleRate != "48000" || s.Channels != 1 {
		t.Fatalf("ffprobe sees %+v, want opus 48000 Hz mono", s)
	}

	pcmBytes, err := exec.CommandContext(ctx, ffmpeg, "-v", "error", "-c:a", "libopus", "-i", ts.base+ts.join(t, room).Listen.Ogg,
		"-t", "3", "-f", "s16le", "-ac", "1", "-ar", "48000", "-").Output()
	if err != nil {
		t.Fatalf("ffmpeg: %v", err)
	}
	pcm := make([]int16, len(pcmBytes)/2)
	for i := range pcm {
		pcm[i] = int16(binary.LittleEndian.Uint16(pcmBytes[2*i:]))
	}
	if len(pcm) < 2*48000 {
		t.Fatalf("ffmpeg decoded %d samples, want ≥ 2 s", len(pcm))
	}
	for i, w := range windowLevels(pcm[4800:], win, lowHz) {
		if !within(w[0], toneAmp, 3) {
			t.Errorf("ffmpeg window %d: %v Hz at %.3f, want ≈ %.2f", i, lowHz, w[0], toneAmp)
		}
	}
}
