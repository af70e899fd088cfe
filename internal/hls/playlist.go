package hls

import (
	"context"
	"strconv"
	"sync"
	"time"
)

// Answer kinds, which decide how long a cache may keep a playlist.
const (
	// Plain: a reload without _HLS_msn, the newest playlist.
	Plain = iota
	// Blocking: the playlist as of the asked part, the same bytes for
	// everyone whenever they ask.
	Blocking
	// Shed: a blocking reload answered at once with the newest playlist
	// (the process sheds polling); it may not hold the asked part yet.
	Shed
)

// Playlist is a rendered media playlist and how caches may keep it.
type Playlist struct {
	Body []byte
	Kind int
	// CacheControl is the Cache-Control header for Body.
	CacheControl string
}

// Cache-Control of immutable media (init, parts, segments): their names
// never name other bytes (the program's serial is in each).
const MediaCacheControl = "public, max-age=86400, immutable"

// cacheControl says how long a cache may keep a playlist of kind: a plain
// reload at most half a part (whole seconds: 0 below 2 s parts, so caches
// revalidate it every time), a blocking answer a target duration (it never
// changes; a late player that gets it asks the next part at once), the
// final playlist of an ended room an hour.
func (t Timing) cacheControl(kind int, final bool) string {
	switch {
	case final:
		return "public, max-age=3600"
	case kind == Blocking:
		return "public, max-age=" + strconv.Itoa(t.TargetDuration())
	}
	return "public, max-age=" + strconv.Itoa(int(t.Part/2/time.Second))
}

// MediaPlaylist answers a media playlist request. A blocking request
// (_HLS_msn, _HLS_part) waits on the program, in the caller's goroutine, up
// to three target durations for its part; noWait answers it at once with
// the newest playlist instead (shedding). Each (part, skip, final) is
// rendered once and shared, however many requests wait for it.
func (p *Packager) MediaPlaylist(ctx context.Context, req Request, noWait bool) (Playlist, error) {
	t := p.timing
	per := uint64(t.PartsPerSegment())
	if req.HasPart && req.Part > per {
		return Playlist{}, ErrTooFarAhead
	}
	// A room's first request may come before its first part.
	if !p.waitUntil(ctx, p.started0, t.holdLimit()) {
		if p.Ended() {
			return Playlist{}, ErrNotFound
		}
		return Playlist{}, ErrTimeout
	}
	last := p.head.Load() - 1
	if !req.HasMSN {
		return p.playlist(last, req.Skip, Plain), nil
	}
	k := req.MSN*per + per - 1 // the whole segment
	if req.HasPart {
		k = req.MSN*per + req.Part
	}
	if req.MSN > last/per+2 || (req.HasPart && k > last+t.advanceParts()) {
		return Playlist{}, ErrTooFarAhead
	}
	switch {
	case k <= last:
		return p.playlist(k, req.Skip, Blocking), nil
	case p.Ended():
		return p.playlist(last, req.Skip, Blocking), nil
	case noWait:
		return p.playlist(last, req.Skip, Shed), nil
	}
	if !p.waitPart(ctx, k, t.holdLimit()) {
		if p.Ended() {
			return p.playlist(p.head.Load()-1, req.Skip, Blocking), nil
		}
		if ctx.Err() != nil {
			return Playlist{}, ctx.Err()
		}
		return Playlist{}, ErrTimeout
	}
	return p.playlist(k, req.Skip, Blocking), nil
}

// started0 reports whether the first part is out.
func (p *Packager) started0() bool { return p.head.Load() > p.first.Load() }

func (p *Packager) playlist(k uint64, skip bool, kind int) Playlist {
	last := p.head.Load() - 1
	final := p.Ended() && k >= last
	if k < p.first.Load() || p.part(k) == nil {
		k, final = last, p.Ended() // fell out of the ring: the newest instead
	}
	body := p.render.get(renderKey{k: k, skip: skip, final: final}, last, func() []byte { return p.renderAt(k, skip, final) })
	return Playlist{Body: body, Kind: kind, CacheControl: p.timing.cacheControl(kind, final)}
}

type renderKey struct {
	k           uint64
	skip, final bool
}

// renderCache holds rendered playlists by (part, skip, final).
type renderCache struct {
	mu sync.Mutex
	m  map[renderKey][]byte
}

// renderKeep bounds the cache: older versions are rendered again if asked.
const renderKeep = 64

func (c *renderCache) get(key renderKey, last uint64, render func() []byte) []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	if b, ok := c.m[key]; ok {
		return b
	}
	if c.m == nil {
		c.m = make(map[renderKey][]byte)
	}
	if len(c.m) >= renderKeep {
		for k := range c.m {
			if k.k+renderKeep/4 < last || len(c.m) >= 2*renderKeep {
				delete(c.m, k)
			}
		}
	}
	b := render()
	c.m[key] = b
	return b
}

func seconds(d time.Duration) string { return strconv.FormatFloat(d.Seconds(), 'f', 3, 64) }

// renderAt writes the media playlist as it was when part k was the last
// one out; final adds EXT-X-ENDLIST in place of the preload hint.
func (p *Packager) renderAt(k uint64, skip, final bool) []byte {
	t := p.timing
	per := uint64(t.PartsPerSegment())
	cur := k / per             // the segment of part k
	complete := (k+1)%per == 0 // part k ends its segment
	lastFull := int64(cur)
	if !complete && !final {
		lastFull--
	}
	firstSeg := p.first.Load() / per
	first := int64(firstSeg)
	if w := lastFull + 1 - int64(t.Window); w > first {
		first = w
	}
	// Delta update: leave out the segments before the skip boundary.
	skipped := int64(0)
	if skip {
		boundary := int64(t.skipUntil() / t.Segment)
		if n := lastFull + 1 - boundary - first; n > 0 {
			skipped = n
		}
	}
	b := make([]byte, 0, 2048)
	b = append(b, "#EXTM3U\n#EXT-X-VERSION:9\n#EXT-X-TARGETDURATION:"...)
	b = strconv.AppendInt(b, int64(t.TargetDuration()), 10)
	b = append(b, "\n#EXT-X-PART-INF:PART-TARGET="...)
	b = strconv.AppendFloat(b, t.Part.Seconds(), 'f', -1, 64)
	b = append(b, "\n#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK="...)
	b = strconv.AppendFloat(b, (3 * t.Part).Seconds(), 'f', -1, 64)
	b = append(b, ",CAN-SKIP-UNTIL="...)
	b = strconv.AppendFloat(b, t.skipUntil().Seconds(), 'f', -1, 64)
	b = append(b, "\n#EXT-X-MEDIA-SEQUENCE:"...)
	b = strconv.AppendInt(b, first, 10)
	b = append(b, "\n#EXT-X-MAP:URI=\""...)
	b = append(b, initName(p.serial)...)
	b = append(b, "\"\n"...)
	if skipped > 0 {
		b = append(b, "#EXT-X-SKIP:SKIPPED-SEGMENTS="...)
		b = strconv.AppendInt(b, skipped, 10)
		b = append(b, '\n')
	}
	// Parts are listed for the last segments only (three target durations).
	partsFrom := int64(cur) - 2
	for s := first + skipped; s <= int64(cur); s++ {
		msn := uint64(s)
		p0 := p.part(msn * per)
		if p0 == nil && msn*per < p.first.Load() {
			continue
		}
		if p0 != nil {
			b = append(b, "#EXT-X-PROGRAM-DATE-TIME:"...)
			b = p0.pdt.UTC().AppendFormat(b, "2006-01-02T15:04:05.000Z")
			b = append(b, '\n')
		}
		frames := 0
		for i := uint64(0); i < per && msn*per+i <= k; i++ {
			pt := p.part(msn*per + i)
			if pt == nil {
				continue
			}
			frames += pt.frames
			if s >= partsFrom {
				b = append(b, "#EXT-X-PART:DURATION="...)
				b = append(b, seconds(time.Duration(pt.frames)*frameDur)...)
				b = append(b, ",URI=\""...)
				b = append(b, partName(p.serial, msn, i)...)
				b = append(b, "\",INDEPENDENT=YES\n"...)
			}
		}
		if s <= lastFull {
			b = append(b, "#EXTINF:"...)
			b = append(b, seconds(time.Duration(frames)*frameDur)...)
			b = append(b, ",\n"...)
			b = append(b, segName(p.serial, msn)...)
			b = append(b, '\n')
		}
	}
	if final {
		return append(b, "#EXT-X-ENDLIST\n"...)
	}
	next := k + 1
	b = append(b, "#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\""...)
	b = append(b, partName(p.serial, next/per, next%per)...)
	return append(b, "\"\n"...)
}

// Media answers a request for a media file of the rendition by name: the
// init section, a segment, or a part. A part announced but not yet out
// (the preload hint, or a few parts ahead) is waited for, in the caller's
// goroutine, up to three target durations.
func (p *Packager) Media(ctx context.Context, name string) ([]byte, error) {
	n, ok := parseName(name)
	if !ok || n.serial != p.serial {
		return nil, ErrNotFound
	}
	per := uint64(p.timing.PartsPerSegment())
	switch n.kind {
	case kindInit:
		return p.init, nil
	case kindSegment:
		if s := p.segment(n.msn); s != nil {
			return s.data, nil
		}
		return nil, ErrNotFound
	}
	if n.part >= per || n.msn > (1<<62)/per {
		return nil, ErrNotFound
	}
	k := n.msn*per + n.part
	head := p.head.Load()
	if k >= head {
		if p.Ended() || !p.started0() || k > head+p.timing.advanceParts() {
			return nil, ErrNotFound
		}
		if !p.waitPart(ctx, k, p.timing.holdLimit()) {
			if p.Ended() {
				return nil, ErrNotFound
			}
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return nil, ErrTimeout
		}
	}
	if pt := p.part(k); pt != nil {
		return pt.data, nil
	}
	return nil, ErrNotFound
}
