package program

import (
	"context"
	"encoding/json"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

const (
	ffprobePath = "/usr/bin/ffprobe"
	ffmpegPath  = "/usr/bin/ffmpeg"
)

// TestFFprobe checks that an independent demuxer accepts our stream, both
// from the start and as seen by a listener joining mid-stream (page sequence
// gap after the headers, granule not starting at zero).
func TestFFprobe(t *testing.T) {
	if _, err := os.Stat(ffprobePath); err != nil {
		t.Skip("MAJLIS-SKIP-TOOL: ffprobe not installed (MAJLIS_DEPS=test scripts/deps installs Debian's ffmpeg)")
	}
	p := New(Config{})
	const frames = 100 // 2 s
	for range frames {
		p.WriteFrame(silence20ms)
	}
	for _, tc := range []struct {
		name      string
		fromChunk uint64
	}{
		{"from start", 0},
		{"joined mid-stream", 20},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stream := append([]byte(nil), p.OggHeaders()...)
			for i := tc.fromChunk; i < p.Head(); i++ {
				stream = append(stream, p.Chunk(i).Ogg...)
			}
			path := filepath.Join(t.TempDir(), "program.opus")
			if err := os.WriteFile(path, stream, 0o600); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
			defer cancel()
			// -count_packets makes ffprobe demux the whole file, so a bad CRC or
			// framing shows up as an error or a short count.
			out, err := exec.CommandContext(ctx, ffprobePath, "-v", "error", "-count_packets",
				"-show_entries", "stream=codec_name,sample_rate,channels,nb_read_packets,duration,start_time:format=duration,start_time",
				"-of", "json", path).CombinedOutput()
			if err != nil {
				t.Fatalf("ffprobe: %v\n%s", err, out)
			}
			var res struct {
				Streams []struct {
					CodecName     string `json:"codec_name"`
					SampleRate    string `json:"sample_rate"`
					Channels      int    `json:"channels"`
					NbReadPackets string `json:"nb_read_packets"`
				} `json:"streams"`
				Format struct {
					Duration  string `json:"duration"`
					StartTime string `json:"start_time"`
				} `json:"format"`
			}
			if err := json.Unmarshal(out, &res); err != nil {
				t.Fatalf("ffprobe output %s: %v", out, err)
			}
			if len(res.Streams) != 1 {
				t.Fatalf("ffprobe streams: %s", out)
			}
			s := res.Streams[0]
			wantFrames := frames - int(tc.fromChunk)*p.Config().ChunkFrames
			if s.CodecName != "opus" || s.SampleRate != "48000" || s.Channels != 1 || s.NbReadPackets != strconv.Itoa(wantFrames) {
				t.Fatalf("ffprobe stream %+v, want opus 48000 mono %d packets", s, wantFrames)
			}
			// ffmpeg reports the end position as the duration and the first
			// page's start as start_time, so a mid-stream join shows a start
			// of fromChunk*40 ms and the same end as the full stream.
			start, err1 := strconv.ParseFloat(res.Format.StartTime, 64)
			end, err2 := strconv.ParseFloat(res.Format.Duration, 64)
			if err1 != nil || err2 != nil {
				t.Fatalf("start %q duration %q", res.Format.StartTime, res.Format.Duration)
			}
			wantStart := float64(int(tc.fromChunk)*p.Config().ChunkFrames) * 0.020
			if math.Abs(start-wantStart) > 0.010 || math.Abs(end-frames*0.020) > 0.010 {
				t.Fatalf("start %.3f s end %.3f s, want %.3f s and %.3f s (output %s)", start, end, wantStart, frames*0.020, out)
			}

			// Decoding with ffmpeg must yield the audio of every frame; only the
			// pre-skip is trimmed (ffmpeg trims it from a mid-stream start too).
			if _, err := os.Stat(ffmpegPath); err != nil {
				return
			}
			pcm, err := exec.CommandContext(ctx, ffmpegPath, "-v", "error", "-i", path, "-f", "s16le", "-ac", "1", "-ar", "48000", "-").Output()
			if err != nil {
				t.Fatalf("ffmpeg decode: %v", err)
			}
			samples := len(pcm) / 2
			t.Logf("decoded %d samples", samples)
			wantSamples := wantFrames * FrameSamples
			if samples > wantSamples || samples < wantSamples-int(p.Config().PreSkip) {
				t.Fatalf("decoded %d samples, want %d less at most the pre-skip", samples, wantSamples)
			}
			for i := 0; i+1 < len(pcm); i += 2 {
				if v := int16(uint16(pcm[i]) | uint16(pcm[i+1])<<8); v > 1 || v < -1 {
					t.Fatalf("sample %d = %d, want silence", i/2, v)
				}
			}
		})
	}
}
