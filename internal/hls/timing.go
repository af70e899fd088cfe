package hls

import (
	"fmt"
	"math"
	"time"
)

// Defaults of Timing (config.Default uses them too).
//
// The part target is 500 ms: nginx's proxy_cache_lock wakes the requests
// waiting on a cache fill every 500 ms, so a shorter part would reach the
// listeners behind it no sooner and cost the origin more requests, while a
// 1 s part would put PART-HOLD-BACK (3 parts) past the 3 s behind live the
// rendition aims at behind a cache (docs/operations.md, "LL-HLS behind a cache").
const (
	DefaultPart    = 500 * time.Millisecond
	DefaultSegment = 2 * time.Second
	DefaultWindow  = 12 // segments listed in a media playlist
	MinPart        = 100 * time.Millisecond
	MaxPart        = 2 * time.Second
	MaxSegment     = 10 * time.Second
)

// Timing is the shape of a rendition: the part target, the segment length
// (a whole number of parts) and how many segments a playlist lists.
type Timing struct {
	Part    time.Duration
	Segment time.Duration
	Window  int
}

// normalized fills zero fields with the defaults.
func (t Timing) normalized() Timing {
	if t.Part == 0 {
		t.Part = DefaultPart
	}
	if t.Segment == 0 {
		t.Segment = max(DefaultSegment, t.Part)
	}
	if t.Window == 0 {
		t.Window = DefaultWindow
	}
	return t
}

// Validate reports whether t describes a rendition majlis can make.
func (t Timing) Validate() error {
	t = t.normalized()
	switch {
	case t.Part < MinPart || t.Part > MaxPart || t.Part%frameDur != 0:
		return fmt.Errorf("hls part %v: want a multiple of 20ms from %v to %v", t.Part, MinPart, MaxPart)
	case t.Segment < t.Part || t.Segment > MaxSegment || t.Segment%t.Part != 0:
		return fmt.Errorf("hls segment %v: want a multiple of the part (%v) up to %v", t.Segment, t.Part, MaxSegment)
	case t.Window < 7 || t.Window > 100:
		return fmt.Errorf("hls window %d: want 7..100 segments", t.Window)
	}
	return nil
}

// PartFrames is the number of 20 ms program frames in a part.
func (t Timing) PartFrames() int { return int(t.Part / frameDur) }

// PartsPerSegment is the number of parts in a segment.
func (t Timing) PartsPerSegment() int { return int(t.Segment / t.Part) }

// TargetDuration is EXT-X-TARGETDURATION: the segment length rounded up to seconds.
func (t Timing) TargetDuration() int { return int(math.Ceil(t.Segment.Seconds())) }

// advanceParts is the spec's Advance Part Limit: how far past the last
// part a blocking request may ask before it is a 400.
func (t Timing) advanceParts() uint64 {
	if t.Part < time.Second {
		return uint64(math.Ceil(3 / t.Part.Seconds()))
	}
	return 3
}

// holdLimit bounds how long one request waits for a future part or
// playlist: three target durations (after which the answer is 503).
func (t Timing) holdLimit() time.Duration { return 3 * time.Duration(t.TargetDuration()) * time.Second }

// skipUntil is CAN-SKIP-UNTIL: six target durations, the spec's minimum.
func (t Timing) skipUntil() time.Duration { return 6 * time.Duration(t.TargetDuration()) * time.Second }
