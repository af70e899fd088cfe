package hls

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"majlis/internal/program"
)

// testTiming: 100 ms parts, 400 ms segments (4 parts), 8 segments listed.
var testTiming = Timing{Part: 100 * time.Millisecond, Segment: 400 * time.Millisecond, Window: 8}

func frame(n int) []byte { return []byte{0xF8, 0xFF, 0xFE, byte(n)} }

// newRendition starts an Origin over one program.
func newRendition(t *testing.T, tm Timing) (*Origin, *program.Program, *Packager) {
	t.Helper()
	// A ring longer than any test writes: the packager, however late it
	// starts reading, begins at frame 0.
	prog := program.New(program.Config{ChunkFrames: 2, RingChunks: 4096})
	o := New(Config{Timing: tm, Programs: func(room string) *program.Program {
		if room == "r" {
			return prog
		}
		return nil
	}})
	t.Cleanup(o.Close)
	p, err := o.Rendition("r")
	if err != nil {
		t.Fatal(err)
	}
	return o, prog, p
}

var seq int

func write(prog *program.Program, frames int) {
	for range frames {
		prog.WriteFrame(frame(seq))
		seq++
	}
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// waitParts waits until the packager has cut n parts.
func waitParts(t *testing.T, p *Packager, n uint64) {
	t.Helper()
	if !p.waitUntil(ctxT(t), func() bool { return p.head.Load()-p.first.Load() >= n }, 10*time.Second) {
		t.Fatalf("packager cut %d parts, want %d", p.head.Load()-p.first.Load(), n)
	}
}

type parsed struct {
	tags     map[string][]string
	parts    []float64
	segs     []string
	extinf   []float64
	pdts     int
	preload  string
	skipped  int
	ended    bool
	mediaSeq int
}

func parse(t *testing.T, b []byte) parsed {
	t.Helper()
	pl := parsed{tags: map[string][]string{}, mediaSeq: -1}
	sc := bufio.NewScanner(bytes.NewReader(b))
	first := true
	for sc.Scan() {
		line := sc.Text()
		if first && line != "#EXTM3U" {
			t.Fatalf("first line %q", line)
		}
		first = false
		if !strings.HasPrefix(line, "#") {
			pl.segs = append(pl.segs, line)
			continue
		}
		name, val, _ := strings.Cut(line, ":")
		pl.tags[name] = append(pl.tags[name], val)
		switch name {
		case "#EXT-X-PART":
			d := attr(val, "DURATION")
			f, err := strconv.ParseFloat(d, 64)
			if err != nil {
				t.Fatalf("part duration %q", line)
			}
			pl.parts = append(pl.parts, f)
		case "#EXTINF":
			f, _ := strconv.ParseFloat(strings.TrimSuffix(val, ","), 64)
			pl.extinf = append(pl.extinf, f)
		case "#EXT-X-PROGRAM-DATE-TIME":
			if _, err := time.Parse(time.RFC3339Nano, val); err != nil {
				t.Fatalf("PDT %q: %v", val, err)
			}
			pl.pdts++
		case "#EXT-X-PRELOAD-HINT":
			pl.preload = strings.Trim(attr(val, "URI"), `"`)
		case "#EXT-X-SKIP":
			pl.skipped, _ = strconv.Atoi(attr(val, "SKIPPED-SEGMENTS"))
		case "#EXT-X-ENDLIST":
			pl.ended = true
		case "#EXT-X-MEDIA-SEQUENCE":
			pl.mediaSeq, _ = strconv.Atoi(val)
		}
	}
	return pl
}

func attr(list, key string) string {
	for _, kv := range strings.Split(list, ",") {
		if k, v, ok := strings.Cut(kv, "="); ok && k == key {
			return v
		}
	}
	return ""
}

func TestPlaylistConformance(t *testing.T) {
	_, prog, p := newRendition(t, testTiming)
	write(prog, 5*60) // 6 s: 60 parts, 15 segments
	waitParts(t, p, 60)
	pl, err := p.MediaPlaylist(ctxT(t), Request{}, false)
	if err != nil {
		t.Fatal(err)
	}
	got := parse(t, pl.Body)
	for _, tag := range []string{"#EXT-X-VERSION", "#EXT-X-TARGETDURATION", "#EXT-X-PART-INF", "#EXT-X-SERVER-CONTROL", "#EXT-X-MAP", "#EXT-X-MEDIA-SEQUENCE"} {
		if len(got.tags[tag]) != 1 {
			t.Errorf("%s: %d times, want once:\n%s", tag, len(got.tags[tag]), pl.Body)
		}
	}
	if v, _ := strconv.Atoi(got.tags["#EXT-X-VERSION"][0]); v < 9 {
		t.Errorf("version %d, want ≥ 9", v)
	}
	sc := got.tags["#EXT-X-SERVER-CONTROL"][0]
	if !strings.Contains(sc, "CAN-BLOCK-RELOAD=YES") || attr(sc, "PART-HOLD-BACK") != "0.3" || attr(sc, "CAN-SKIP-UNTIL") != "6" {
		t.Errorf("server control %q", sc)
	}
	if got.tags["#EXT-X-PART-INF"][0] != "PART-TARGET=0.1" {
		t.Errorf("part inf %q", got.tags["#EXT-X-PART-INF"])
	}
	if len(got.segs) != testTiming.Window {
		t.Errorf("%d segments listed, want %d:\n%s", len(got.segs), testTiming.Window, pl.Body)
	}
	if got.pdts != len(got.segs) { // every segment (the last one is complete)
		t.Errorf("%d program-date-times for %d segments", got.pdts, len(got.segs))
	}
	for _, d := range got.parts {
		if d > testTiming.Part.Seconds() {
			t.Errorf("part of %v s > part target", d)
		}
	}
	for _, d := range got.extinf {
		if d > float64(testTiming.TargetDuration()) || d != 0.4 {
			t.Errorf("segment of %v s", d)
		}
	}
	if got.preload == "" || got.ended {
		t.Errorf("preload %q, ended %v", got.preload, got.ended)
	}
	if pl.CacheControl != "public, max-age=0" {
		t.Errorf("plain reload cache control %q", pl.CacheControl)
	}
	// Segments named are served, with the media sequence their names say.
	for i, s := range got.segs {
		if want := segName(p.Serial(), uint64(got.mediaSeq+i)); s != want {
			t.Errorf("segment %d is %q, want %q", i, s, want)
		}
		if b, err := p.Media(ctxT(t), s); err != nil || len(b) == 0 {
			t.Errorf("segment %s: %v", s, err)
		}
	}
	// The media sequence only grows.
	write(prog, 40)
	waitParts(t, p, 68)
	pl2, _ := p.MediaPlaylist(ctxT(t), Request{}, false)
	if g2 := parse(t, pl2.Body); g2.mediaSeq <= got.mediaSeq {
		t.Errorf("media sequence %d then %d", got.mediaSeq, g2.mediaSeq)
	}
}

func TestBlockingReload(t *testing.T) {
	_, prog, p := newRendition(t, testTiming)
	write(prog, 40)
	waitParts(t, p, 8)
	last := p.head.Load() - 1
	next := last + 1
	per := uint64(testTiming.PartsPerSegment())
	req := Request{MSN: next / per, Part: next % per, HasMSN: true, HasPart: true}
	type res struct {
		pl  Playlist
		err error
	}
	done := make(chan res, 1)
	go func() {
		pl, err := p.MediaPlaylist(ctxT(t), req, false)
		done <- res{pl, err}
	}()
	select {
	case r := <-done:
		t.Fatalf("answered before the part was out: %v\n%s", r.err, r.pl.Body)
	case <-time.After(100 * time.Millisecond):
	}
	write(prog, 6) // one part (the program publishes 2-frame chunks)
	r := <-done
	if r.err != nil {
		t.Fatal(r.err)
	}
	got := parse(t, r.pl.Body)
	want := partName(p.Serial(), next/per, next%per)
	if !bytes.Contains(r.pl.Body, []byte(`URI="`+want+`"`)) || got.preload == want {
		t.Fatalf("blocking answer lacks part %s:\n%s", want, r.pl.Body)
	}
	if r.pl.Kind != Blocking || r.pl.CacheControl != "public, max-age=1" {
		t.Errorf("kind %d, cache control %q", r.pl.Kind, r.pl.CacheControl)
	}
	// The same request later gets the same bytes, though the program moved on.
	write(prog, 20) // 66 frames: 13 parts
	waitParts(t, p, 13)
	again, err := p.MediaPlaylist(ctxT(t), req, false)
	if err != nil || !bytes.Equal(again.Body, r.pl.Body) {
		t.Fatalf("second answer differs (%v):\n%s\nvs\n%s", err, again.Body, r.pl.Body)
	}
	// Shedding answers at once with the newest playlist.
	far := p.head.Load() + 1
	shed, err := p.MediaPlaylist(ctxT(t), Request{MSN: far / per, Part: far % per, HasMSN: true, HasPart: true}, true)
	if err != nil || shed.Kind != Shed {
		t.Fatalf("shed answer: %v kind %d", err, shed.Kind)
	}
	// A preload-hinted part is waited for, then served.
	hint := parse(t, shed.Body).preload
	got2 := make(chan error, 1)
	go func() {
		b, err := p.Media(ctxT(t), hint)
		if err == nil && len(b) == 0 {
			err = errors.New("empty part")
		}
		got2 <- err
	}()
	write(prog, 10)
	if err := <-got2; err != nil {
		t.Fatalf("preload hint %s: %v", hint, err)
	}
}

func TestTooFarAheadAndBadInput(t *testing.T) {
	_, prog, p := newRendition(t, testTiming)
	write(prog, 40)
	waitParts(t, p, 8)
	last := p.head.Load() - 1
	per := uint64(testTiming.PartsPerSegment())
	limit := testTiming.advanceParts()
	for _, tc := range []struct {
		name string
		req  Request
	}{
		{"msn +3", Request{MSN: last/per + 3, HasMSN: true}},
		{"part past the advance limit", Request{MSN: (last + limit + 1) / per, Part: (last + limit + 1) % per, HasMSN: true, HasPart: true}},
		{"part index past the segment", Request{MSN: last / per, Part: per + 1, HasMSN: true, HasPart: true}},
	} {
		if _, err := p.MediaPlaylist(ctxT(t), tc.req, false); !errors.Is(err, ErrTooFarAhead) {
			t.Errorf("%s: %v, want ErrTooFarAhead", tc.name, err)
		}
	}
	for _, name := range []string{"", "x.m4s", "part-" + p.Serial() + "-1.m4s", "part-00000000-0-0.m4s",
		partName(p.Serial(), 1<<40, 0), partName(p.Serial(), 0, per), segName(p.Serial(), last/per+1),
		"seg-" + p.Serial() + "-01.m4s", "init-" + p.Serial() + ".m4s"} {
		if _, err := p.Media(ctxT(t), name); !errors.Is(err, ErrNotFound) {
			t.Errorf("media %q: %v, want ErrNotFound", name, err)
		}
	}
	for _, q := range []string{"_HLS_msn=", "_HLS_msn=-1", "_HLS_msn=+1", "_HLS_msn=1e3", "_HLS_msn=1&_HLS_msn=2",
		"_HLS_part=1", "_HLS_msn=1&_HLS_part=x", "_HLS_skip=NO", "_HLS_msn=9999999999999"} {
		v, _ := url.ParseQuery(q)
		if _, err := ParseRequest(v); !errors.Is(err, ErrBadRequest) {
			t.Errorf("%q: %v, want ErrBadRequest", q, err)
		}
	}
	v, _ := url.ParseQuery("_HLS_msn=12&_HLS_part=3&_HLS_skip=YES&t=ignored")
	if r, err := ParseRequest(v); err != nil || r != (Request{MSN: 12, Part: 3, HasMSN: true, HasPart: true, Skip: true}) {
		t.Errorf("good query: %+v %v", r, err)
	}
}

func TestDeltaUpdate(t *testing.T) {
	tm := Timing{Part: 100 * time.Millisecond, Segment: 200 * time.Millisecond, Window: 20}
	_, prog, p := newRendition(t, tm)
	write(prog, 10*25)  // 5 s: 25 segments
	waitParts(t, p, 50) // every part of what was written: no part lands between the two reads
	full, _ := p.MediaPlaylist(ctxT(t), Request{}, false)
	delta, _ := p.MediaPlaylist(ctxT(t), Request{Skip: true}, false)
	f, d := parse(t, full.Body), parse(t, delta.Body)
	// CAN-SKIP-UNTIL is 6 s (6 target durations of 1 s): 30 segments of
	// 200 ms; a window of 20 has nothing to skip.
	if d.skipped != 0 || !bytes.Equal(full.Body, delta.Body) {
		t.Fatalf("skipped %d segments of a playlist shorter than CAN-SKIP-UNTIL", d.skipped)
	}
	tm = Timing{Part: 100 * time.Millisecond, Segment: 200 * time.Millisecond, Window: 40}
	_, prog, p = newRendition(t, tm)
	write(prog, 10*45)
	waitParts(t, p, 90)
	full, _ = p.MediaPlaylist(ctxT(t), Request{}, false)
	delta, _ = p.MediaPlaylist(ctxT(t), Request{Skip: true}, false)
	f, d = parse(t, full.Body), parse(t, delta.Body)
	if d.skipped != 10 || len(d.segs)+d.skipped != len(f.segs) || d.mediaSeq != f.mediaSeq {
		t.Fatalf("delta: skipped %d + %d segments, full %d, seq %d vs %d:\n%s", d.skipped, len(d.segs), len(f.segs), d.mediaSeq, f.mediaSeq, delta.Body)
	}
	if d.segs[0] != f.segs[10] {
		t.Fatalf("delta starts at %s, want %s", d.segs[0], f.segs[10])
	}
}

func TestEndedRoom(t *testing.T) {
	_, prog, p := newRendition(t, testTiming)
	write(prog, 42) // 8 parts and 2 frames
	waitParts(t, p, 8)
	per := uint64(testTiming.PartsPerSegment())
	next := p.head.Load() + 1
	done := make(chan Playlist, 1)
	go func() {
		pl, _ := p.MediaPlaylist(ctxT(t), Request{MSN: next / per, Part: next % per, HasMSN: true, HasPart: true}, false)
		done <- pl
	}()
	time.Sleep(50 * time.Millisecond)
	prog.Close()
	pl := <-done
	got := parse(t, pl.Body)
	if !got.ended || got.preload != "" {
		t.Fatalf("ended room's playlist without EXT-X-ENDLIST or with a preload hint:\n%s", pl.Body)
	}
	if pl.CacheControl != "public, max-age=3600" {
		t.Errorf("final playlist cache control %q", pl.CacheControl)
	}
	// The last part is short; the last segment is listed and served.
	if d := got.parts[len(got.parts)-1]; d > 0.1 || d <= 0 {
		t.Errorf("last part %v s", d)
	}
	last := got.segs[len(got.segs)-1]
	if b, err := p.Media(ctxT(t), last); err != nil || len(b) == 0 {
		t.Errorf("last segment %s: %v", last, err)
	}
	if _, err := p.Media(ctxT(t), partName(p.Serial(), next/per, next%per)); !errors.Is(err, ErrNotFound) {
		t.Errorf("part after the end: %v", err)
	}
}

func TestTokens(t *testing.T) {
	now := time.Unix(1_000_000, 0)
	clock := func() time.Time { return now }
	key := bytes.Repeat([]byte{7}, 32)
	tk, err := NewTokens([][]byte{key}, time.Hour, clock)
	if err != nil {
		t.Fatal(err)
	}
	a := tk.Mint("room-a")
	if !tk.Valid("room-a", a) || tk.Valid("room-b", a) || tk.Valid("room-a", a[:len(a)-1]+"A") || tk.Valid("room-a", "") {
		t.Fatal("token checks")
	}
	if tk.Mint("room-a") != a {
		t.Fatal("token differs within a window")
	}
	now = now.Add(time.Hour)
	if !tk.Valid("room-a", a) {
		t.Fatal("previous window's token refused")
	}
	now = now.Add(time.Hour)
	if tk.Valid("room-a", a) {
		t.Fatal("token two windows old accepted")
	}
	other, _ := NewTokens([][]byte{bytes.Repeat([]byte{8}, 32), key}, time.Hour, clock)
	if !other.Valid("room-a", tk.Mint("room-a")) {
		t.Fatal("old key refused during a rotation")
	}
}
