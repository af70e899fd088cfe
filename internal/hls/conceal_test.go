package hls

import (
	"context"
	"encoding/binary"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"majlis/internal/audio"
	"majlis/internal/testkit"
)

// TestConcealedFramePlays: a speaker packet lost while the mixer forwards
// reaches the program as the TOC byte alone, which asks the listener's
// decoder to conceal (RFC 6716 section 3.2.1). Cut into parts and
// segments, it still does: libopus, as the browsers decode, plays a 440 Hz
// tone at its level in every 100 ms window, the concealed frame's included.
// ffmpeg's own Opus decoder, which has no concealment, plays that window at
// a third of the level; the live HLS tests decode with libopus for this.
func TestConcealedFramePlays(t *testing.T) {
	ffmpeg, err := exec.LookPath("ffmpeg")
	if err != nil {
		t.Fatal("ffmpeg not installed: scripts/deps installs Debian's ffmpeg")
	}
	const (
		frames = 100 // 2 s: five 400 ms segments
		lost   = 52  // inside the third segment, not on a part boundary
		amp    = 0.3
	)
	_, prog, p := newRendition(t, testTiming)
	enc, err := audio.NewEncoder(1, 32000)
	if err != nil {
		t.Fatal(err)
	}
	pcm := make([]int16, audio.FrameSamples)
	buf := make([]byte, 1500)
	for n := range frames {
		for i := range pcm {
			s := n*audio.FrameSamples + i
			pcm[i] = int16(amp * 32767 * math.Sin(2*math.Pi*440*float64(s)/audio.SampleRate))
		}
		k, err := enc.Encode(pcm, buf)
		if err != nil {
			t.Fatal(err)
		}
		if n == lost {
			prog.WriteFrame([]byte{buf[0] &^ 0x03}) // what Source.forward sends for a lost packet
			continue
		}
		prog.WriteFrame(append([]byte(nil), buf[:k]...))
	}
	prog.Close()
	if !p.waitUntil(ctxT(t), p.Ended, 10*time.Second) {
		t.Fatal("packager did not end with the program")
	}
	pl, err := p.MediaPlaylist(ctxT(t), Request{}, true)
	if err != nil {
		t.Fatal(err)
	}
	// The ended rendition as files: the playlist and everything it names.
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "media.m3u8"), pl.Body, 0o644); err != nil {
		t.Fatal(err)
	}
	names := regexp.MustCompile(`(?m)URI="([^"]+)"|^([^#\n][^\n]*)$`).FindAllStringSubmatch(string(pl.Body), -1)
	segs := 0
	for _, m := range names {
		name := m[1] + m[2]
		b, err := p.Media(ctxT(t), name)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
		if m[2] != "" {
			segs++
		}
	}
	if segs != frames*20/400 {
		t.Fatalf("ended playlist lists %d segments, want %d:\n%s", segs, frames*20/400, pl.Body)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, ffmpeg, "-v", "error", "-c:a", "libopus", "-i", filepath.Join(dir, "media.m3u8"),
		"-f", "s16le", "-ac", "1", "-ar", "48000", "-").Output()
	if err != nil {
		t.Fatalf("ffmpeg: %v", err)
	}
	got := make([]int16, len(out)/2)
	for i := range got {
		got[i] = int16(binary.LittleEndian.Uint16(out[2*i:]))
	}
	// Every frame is there, the concealed one too, less the pre-skip.
	if want := frames*audio.FrameSamples - int(prog.Config().PreSkip); len(got) != want {
		t.Fatalf("ffmpeg decoded %d samples, want %d", len(got), want)
	}
	// Every 100 ms window after the first (the encoder's start-up).
	const win = audio.SampleRate / 10
	for i := win; i+win <= len(got); i += win {
		if lvl := testkit.Goertzel(got[i:i+win], audio.SampleRate, 440); lvl < amp/1.4 || lvl > amp*1.4 {
			t.Errorf("window at %.1f s: 440 Hz at %.3f, want ≈ %.2f", float64(i)/audio.SampleRate, lvl, amp)
		}
	}
}
