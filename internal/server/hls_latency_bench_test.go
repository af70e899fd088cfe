package server

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"majlis/internal/audio"
)

// Mouth-to-ear over LL-HLS: the speaker sends a click every 1.06 s, each
// a 10 ms burst at one of hlsClickHz (click k at hlsClickHz[k%5]), so a
// click heard is matched to the click sent by its frequency, however far
// behind live the listener is (up to five seconds). 1.06 s is no multiple
// of a part: the clicks fall at every place in their parts in turn.
const (
	hlsClickEvery = 53  // frames: 1.06 s
	hlsClickLen   = 480 // samples: 10 ms
)

const hlsClickGap = float64(hlsClickEvery) * 0.020 // s

var hlsClickHz = [...]float64{1000, 1400, 1800, 2200, 2600}

// goertzel is the power of pcm at freq Hz.
func goertzel(pcm []int16, freq float64) float64 {
	c := 2 * math.Cos(2*math.Pi*freq/audio.SampleRate)
	var s1, s2 float64
	for _, v := range pcm {
		s1, s2 = float64(v)+c*s1-s2, s1
	}
	return s1*s1 + s2*s2 - c*s1*s2
}

// parseFragment reads an LL-HLS part (moof + mdat, as internal/hls writes
// them): the decode time of its first frame (48 kHz samples) and its frames.
func parseFragment(b []byte) (base uint64, frames [][]byte, err error) {
	var sizes []uint32
	var walk func(b []byte) error
	walk = func(b []byte) error {
		for len(b) >= 8 {
			n := binary.BigEndian.Uint32(b)
			if n < 8 || int(n) > len(b) {
				return errors.New("bad box size")
			}
			typ, body := string(b[4:8]), b[8:n]
			switch typ {
			case "moof", "traf":
				if err := walk(body); err != nil {
					return err
				}
			case "tfdt":
				if len(body) < 12 || body[0] != 1 {
					return errors.New("tfdt: want version 1")
				}
				base = binary.BigEndian.Uint64(body[4:])
			case "trun":
				if len(body) < 12 || binary.BigEndian.Uint32(body)&0xffffff != 0x201 {
					return errors.New("trun: want data offset and sample sizes only")
				}
				k := int(binary.BigEndian.Uint32(body[4:]))
				if len(body) < 12+4*k {
					return errors.New("trun: short")
				}
				for i := range k {
					sizes = append(sizes, binary.BigEndian.Uint32(body[12+4*i:]))
				}
			case "mdat":
				for _, s := range sizes {
					if int(s) > len(body) {
						return errors.New("mdat: short")
					}
					frames, body = append(frames, body[:s]), body[s:]
				}
			}
			b = b[n:]
		}
		return nil
	}
	err = walk(b)
	return base, frames, err
}

// heardClick is a click found in the audio of the parts received.
type heardClick struct {
	code  int     // index in hlsClickHz
	media float64 // its onset, seconds of media time
	part  rxPart  // the part holding the onset
}

// rxPart is a part the listener received: when it had arrived, and its
// media times (s).
type rxPart struct {
	at         time.Time
	start, end float64
}

// sentClicks publishes the clicks and remembers when each was sent.
type sentClicks struct {
	mu   sync.Mutex
	sent map[int]time.Time // click k → when its frame was handed to WebRTC
}

// publishClicks has the host speak the clicks until the test ends.
func publishClicks(t testing.TB, ts *testServer, room, hostTok string) *sentClicks {
	t.Helper()
	c := &sentClicks{sent: map[int]time.Time{}}
	gen := func(n int, pcm []int16) {
		clear(pcm)
		if n%hlsClickEvery == 0 && n > 0 {
			f := hlsClickHz[(n/hlsClickEvery)%len(hlsClickHz)]
			for i := range hlsClickLen {
				pcm[i] = int16(0.7 * 32767 * math.Sin(2*math.Pi*f*float64(i)/audio.SampleRate))
			}
		}
	}
	onSent := func(n int, at time.Time) {
		if n%hlsClickEvery == 0 && n > 0 {
			c.mu.Lock()
			c.sent[n/hlsClickEvery] = at
			c.mu.Unlock()
		}
	}
	sp := publishPCM(t, ts, room, hostTok, gen, onSent)
	t.Cleanup(sp.stop)
	return c
}

// sentBefore is when the click of h's frequency sent last before h's part
// arrived was sent (zero: none).
func (c *sentClicks) sentBefore(h heardClick) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	var last time.Time
	for k, at := range c.sent {
		if k%len(hlsClickHz) == h.code && at.Before(h.part.at) && at.After(last) {
			last = at
		}
	}
	return last
}

// TestHLSClicksHeard: the clicks a speaker sends are heard in the LL-HLS
// parts a low-latency player fetches, each at its own frequency, in order
// (the machinery of BenchmarkHLSMouthToEar, on its audio). About 1.06 s
// apart: a loaded box's speaker sends some frames too late for the mixer.
func TestHLSClicksHeard(t *testing.T) {
	ts := startServer(t, "")
	_, hostTok := ts.createUser(t, "host")
	room := ts.liveRoom(t, hostTok)
	clicks := publishClicks(t, ts, room, hostTok)
	time.Sleep(3 * time.Second)
	j := ts.joinHLS(t, room)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	heard, parts, holdBack, err := listenHLS(ctx, ts.base, j.Listen.HLS[:strings.LastIndex(j.Listen.HLS, "/")+1]+"media.m3u8", 4)
	if err != nil {
		t.Fatal(err)
	}
	if holdBack <= 0 || len(parts) == 0 {
		t.Fatalf("PART-HOLD-BACK %v, %d parts", holdBack, len(parts))
	}
	// Each click is one 20 ms frame: one the mixer had to conceal (its
	// packet late on a loaded box) is not heard, and the next one comes
	// two gaps later with the code after next. One such loss is allowed.
	lost := 0
	for i, h := range heard {
		if clicks.sentBefore(h).IsZero() {
			t.Errorf("click %d (%v Hz at %.3f s) was never sent", i, hlsClickHz[h.code], h.media)
		}
		if i > 0 {
			k := (h.code - heard[i-1].code + len(hlsClickHz)) % len(hlsClickHz) // clicks on from the one before
			if d := h.media - heard[i-1].media; k < 1 || k > 2 || math.Abs(d-float64(k)*hlsClickGap) > 0.5 {
				t.Errorf("click %d: %v Hz %.3f s after the one before, want %v Hz about %v s after", i, hlsClickHz[h.code], d, hlsClickHz[(heard[i-1].code+1)%len(hlsClickHz)], hlsClickGap)
			}
			lost += k - 1
		}
	}
	if lost > 1 {
		t.Errorf("%d clicks not heard between the %d heard, want at most one", lost, len(heard))
	}
}

// BenchmarkHLSMouthToEar measures the delay from a click entering a
// speaker's encoder to an LL-HLS listener, on loopback, straight from the
// origin and through nginx (the cache of docs/operations.md). The listener
// plays as a low-latency player does: a blocking reload for the next part,
// then that part; it decodes each part's Opus and finds the clicks in the
// audio. Mouth is the click frame's capture (handed to the WHIP track less
// 20 ms, as in BenchmarkMouthToEar); two ears:
//
//   - part: when the part holding the click's onset has arrived;
//   - hold-back: when a player that plays PART-HOLD-BACK behind the live
//     edge plays it: at a fixed offset from media time, the parts' median
//     arrival offset (arrival less the part's media end) plus
//     PART-HOLD-BACK. late-parts counts parts that arrived after that
//     player needed them (none: the hold-back covers the jitter).
//
// One iteration is one click (1.06 s); p99 of 20 clicks is their worst.
//
//	go test -run '^$' -bench HLSMouthToEar -benchtime 20x ./internal/server/
func BenchmarkHLSMouthToEar(b *testing.B) {
	ts := startServer(b, "")
	_, hostTok := ts.createUser(b, "host")
	room := ts.liveRoom(b, hostTok)
	clicks := publishClicks(b, ts, room, hostTok)
	ng := startNginx(b, ts.HTTPAddr())
	time.Sleep(3 * time.Second) // a few parts out before the first playlist
	for _, via := range []struct{ name, base string }{{"direct", ts.base}, {"nginx", ng.base}} {
		b.Run(via.name, func(b *testing.B) {
			j := ts.joinHLS(b, room)
			media := j.Listen.HLS[:strings.LastIndex(j.Listen.HLS, "/")+1] + "media.m3u8"
			ctx, cancel := context.WithTimeout(context.Background(), time.Duration(b.N)*1100*time.Millisecond+60*time.Second)
			defer cancel()
			b.ResetTimer()
			heard, parts, holdBack, err := listenHLS(ctx, via.base, media, b.N)
			b.StopTimer()
			if err != nil {
				b.Fatal(err)
			}
			// The player: media time τ plays at ref + τ + play.
			ref := parts[0].at
			offsets := make([]float64, len(parts))
			for i, p := range parts {
				offsets[i] = p.at.Sub(ref).Seconds() - p.end
			}
			sorted := append([]float64(nil), offsets...)
			sort.Float64s(sorted)
			play := sorted[len(sorted)/2] + holdBack
			late := 0
			for i, p := range parts {
				if offsets[i]+p.end-p.start > play { // arrived after its first sample played
					late++
				}
			}
			var partMs, playedMs []float64
			for _, h := range heard {
				mouth := clicks.sentBefore(h)
				if mouth.IsZero() {
					continue
				}
				mouth = mouth.Add(-audio.FrameDuration)
				partMs = append(partMs, h.part.at.Sub(mouth).Seconds()*1000)
				ear := ref.Add(time.Duration((h.media + play) * float64(time.Second)))
				playedMs = append(playedMs, ear.Sub(mouth).Seconds()*1000)
			}
			if len(partMs) < b.N {
				b.Fatalf("%d clicks matched of %d heard", len(partMs), len(heard))
			}
			sort.Float64s(partMs)
			sort.Float64s(playedMs)
			b.ReportMetric(quantile(partMs, 0.5), "part-ms-p50")
			b.ReportMetric(quantile(partMs, 0.99), "part-ms-p99")
			b.ReportMetric(quantile(playedMs, 0.5), "holdback-ms-p50")
			b.ReportMetric(quantile(playedMs, 0.99), "holdback-ms-p99")
			b.ReportMetric(holdBack*1000, "hold-back-ms")
			b.ReportMetric(float64(late), "late-parts")
			b.ReportMetric(float64(len(partMs)), "clicks")
			b.ReportMetric(0, "ns/op")
		})
	}
}

// quantile is the q-quantile of sorted v (nearest rank).
func quantile(v []float64, q float64) float64 {
	return v[max(int(math.Ceil(q*float64(len(v))))-1, 0)]
}

// listenHLS plays base+media as a low-latency player does until it has
// heard want clicks: the media playlist, then for ever a blocking reload
// for the next part and that part. It decodes the parts' Opus in order and
// returns the clicks heard, the parts received, and the playlist's
// PART-HOLD-BACK (s).
func listenHLS(ctx context.Context, base, media string, want int) ([]heardClick, []rxPart, float64, error) {
	r, err := hlsGet(ctx, base+media)
	if err != nil || r.status != http.StatusOK {
		return nil, nil, 0, fmt.Errorf("media playlist: %v %d %s", err, r.status, r.body)
	}
	_, hb, _ := strings.Cut(string(r.body), "PART-HOLD-BACK=")
	hb, _, _ = strings.Cut(hb, ",")
	holdBack, err := strconv.ParseFloat(strings.TrimSpace(hb), 64)
	if err != nil {
		return nil, nil, 0, fmt.Errorf("PART-HOLD-BACK: %v", err)
	}
	msn, part, _ := lastPart(r.body)
	dir := media[:strings.LastIndex(media, "/")+1]
	dec, err := audio.NewDecoder(1)
	if err != nil {
		return nil, nil, 0, err
	}
	out := make([]int16, 5760)
	var (
		clicks  []heardClick
		parts   []rxPart
		pcm     []int16 // decoded audio from media sample pcm0 on
		pcm0    uint64
		next    uint64 // the media sample the next part should start at
		quiet   int    // silent samples before scanned
		scanned int    // pcm searched for onsets up to here
		onsets  []int  // onsets found, awaiting their whole burst
		onPart  []rxPart
	)
	for len(clicks) < want {
		reload := func(m, p int) ([]string, error) {
			u := fmt.Sprintf("%s?_HLS_msn=%d&_HLS_part=%d", media, m, p)
			r, err := hlsGet(ctx, base+u)
			if err != nil || r.status != http.StatusOK {
				return nil, fmt.Errorf("%s: %v %d %s", u, err, r.status, r.body)
			}
			msn2, part2, uris := lastPart(r.body)
			if msn2 == msn && part2 == part {
				return nil, nil // the next part begins the next segment
			}
			msn, part = msn2, part2
			return uris, nil
		}
		uris, err := reload(msn, part+1)
		if err == nil && uris == nil {
			uris, err = reload(msn+1, 0)
		}
		if err != nil {
			return nil, nil, 0, err
		}
		if len(uris) == 0 {
			return nil, nil, 0, errors.New("a reload without parts")
		}
		pr, err := hlsGet(ctx, base+dir+uris[len(uris)-1])
		at := time.Now()
		if err != nil || pr.status != http.StatusOK {
			return nil, nil, 0, fmt.Errorf("part %s: %v %d", uris[len(uris)-1], err, pr.status)
		}
		first, frames, err := parseFragment(pr.body)
		if err != nil {
			return nil, nil, 0, fmt.Errorf("part %s: %v", uris[len(uris)-1], err)
		}
		if len(pcm) == 0 || first != next { // the start, or a part missed: search afresh
			pcm, pcm0, quiet, scanned, onsets, onPart = pcm[:0], first, 0, 0, nil, nil
		}
		for _, f := range frames {
			k, err := dec.Decode(f, out)
			if err != nil {
				return nil, nil, 0, fmt.Errorf("decode: %v", err)
			}
			pcm = append(pcm, out[:k]...)
		}
		next = first + uint64(len(frames))*audio.FrameSamples
		p := rxPart{at: at, start: float64(first) / audio.SampleRate, end: float64(next) / audio.SampleRate}
		parts = append(parts, p)
		for ; scanned < len(pcm); scanned++ {
			if math.Abs(float64(pcm[scanned])) > 0.2*32767 {
				if quiet > 4800 { // 100 ms of silence before: an onset
					onsets, onPart = append(onsets, scanned), append(onPart, p)
				}
				quiet = 0
			} else {
				quiet++
			}
		}
		for len(onsets) > 0 && onsets[0]+hlsClickLen <= len(pcm) {
			w := pcm[onsets[0] : onsets[0]+hlsClickLen]
			code, best := 0, 0.0
			for i, f := range hlsClickHz {
				if g := goertzel(w, f); g > best {
					code, best = i, g
				}
			}
			clicks = append(clicks, heardClick{code: code, media: float64(pcm0+uint64(onsets[0])) / audio.SampleRate, part: onPart[0]})
			onsets, onPart = onsets[1:], onPart[1:]
		}
	}
	return clicks, parts, holdBack, nil
}
