package safety

import (
	"context"
	"time"

	"majlis/internal/recording"
)

// Evidence is what the safety domain asks of the evidence store
// (*recording.Evidence): the segments around a reported moment, held
// until every complaint window on the notice has closed.
type Evidence interface {
	Find(room string, from, to time.Time) []recording.Segment
	Hold(id string, until time.Time) error
}

// Evidence hold times.
const (
	// evidenceMargin widens the reported range on both sides: the moment a
	// listener reports is a little after what they heard.
	evidenceMargin = 30 * time.Second
	// noticeHold keeps a notice's evidence before it is decided: longer
	// than any wait for a decision plus its complaint window; the
	// decision then sets the hold to its own window's end.
	noticeHold = (ComplaintMonth + 1) * 31 * 24 * time.Hour
)

// holdEvidence holds the evidence segments of a room's live moment
// [from, to] (seconds after the room's start) until until. A room never
// started, or a server without evidence, holds nothing; a failure is
// logged (the notice or decision stands).
func (s *Service) holdEvidence(ctx context.Context, roomID string, from, to float64, until time.Time) int {
	if s.cfg.Evidence == nil || roomID == "" {
		return 0
	}
	ri, err := s.cfg.Rooms.Peek(ctx, roomID)
	if err != nil || ri.StartedAt.IsZero() {
		return 0
	}
	start := ri.StartedAt.Add(time.Duration(from*float64(time.Second)) - evidenceMargin)
	end := ri.StartedAt.Add(time.Duration(to*float64(time.Second)) + evidenceMargin)
	n := 0
	for _, seg := range s.cfg.Evidence.Find(roomID, start, end) {
		if err := s.cfg.Evidence.Hold(seg.ID, until); err != nil {
			s.log.Error("safety: hold evidence", "room", roomID, "segment", seg.ID, "err", err)
			continue
		}
		n++
	}
	return n
}
