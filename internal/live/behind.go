package live

import (
	"log/slog"
	"time"

	"majlis/internal/audio"
)

// behindEvery is how often at most a room that runs behind is logged.
const behindEvery = 10 * time.Second

// behind reports a room whose mixer runs behind: ticks that started more
// than a frame late (its worker was held up) and ticks that took longer
// than a frame (the room holds up its worker). The metrics count them for
// the process; this names the room, in one log line per behindEvery at
// most with what happened since the last. Its note runs in the room's
// ticks, one at a time.
type behind struct {
	room       string
	log        *slog.Logger
	now        func() time.Time
	late, slow int
	longest    time.Duration
	last       time.Time // the last line
}

// note takes one tick's measure.
func (b *behind) note(took time.Duration, late bool) {
	if late {
		b.late++
	}
	if took > audio.FrameDuration {
		b.slow++
		b.longest = max(b.longest, took)
	}
	if b.late+b.slow == 0 {
		return
	}
	now := b.now()
	if !b.last.IsZero() && now.Sub(b.last) < behindEvery {
		return
	}
	b.log.Warn("majlis room behind", "room", b.room, "late_ticks", b.late, "slow_ticks", b.slow,
		"longest_tick", b.longest.Round(time.Microsecond))
	b.late, b.slow, b.longest, b.last = 0, 0, 0, now
}
