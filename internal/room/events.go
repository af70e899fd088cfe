package room

import (
	"context"

	"majlis/internal/events"
	"majlis/internal/store"
)

// commitLocked publishes a stage change: first the new snapshot (so a
// reader that sees the event's sequence number also sees its state), then
// the event. Every state change carries the room's full state so a client
// never has to merge deltas.
func (s *Service) commitLocked(ctx context.Context, r *state, typ string, detail any) {
	v := s.refreshLocked(ctx, r)
	v.Counts = s.counts(r, r.rec.State == store.StateLive)
	r.stream.Publish(typ, map[string]any{"change": detail, "room": v})
}

// Subscription reads a room's events.
type Subscription struct {
	s      *Service
	id     string
	stream *events.Stream
	last   uint64
	snap   bool
	buf    []events.Item // the batches' array, reused by every Next
}

// Subscribe starts reading a room's events after since (0: start with a snapshot).
func (s *Service) Subscribe(ctx context.Context, id string, since uint64) (*Subscription, error) {
	r, err := s.get(ctx, id)
	if err != nil {
		return nil, err
	}
	return &Subscription{s: s, id: id, stream: r.stream, last: since, snap: since == 0}, nil
}

// Next waits for the next batch of encoded events. A lagging subscriber gets
// one snapshot event instead of the events it missed. done is true after the
// room's last event (room_ended). The batch is valid until the next call of
// Next, which reuses its array (the events' Raw bytes stay valid).
func (sub *Subscription) Next(ctx context.Context) (batch []events.Item, done bool, err error) {
	for {
		if sub.snap {
			sub.snap = false
			sub.buf = append(sub.buf[:0], sub.snapshot(ctx))
			return sub.buf, false, nil
		}
		rd := sub.stream.SinceInto(sub.last, sub.buf)
		sub.buf = rd.Events
		if rd.Lagged {
			sub.snap = true
			continue
		}
		sub.last = rd.Last
		if len(rd.Events) > 0 || rd.Closed {
			return rd.Events, rd.Closed, nil
		}
		select {
		case <-ctx.Done():
			return nil, false, ctx.Err()
		case <-sub.s.stop:
			return nil, true, ErrShutdown
		case <-rd.Wake:
		}
	}
}

// snapshot is the room's current state as one event. It reads the
// sequence number before the snapshot: a change in between is then both in
// the snapshot and delivered after it, never lost.
func (sub *Subscription) snapshot(ctx context.Context) events.Item {
	s := sub.s
	seq := sub.stream.Seq()
	sub.last = seq
	r := s.loaded(sub.id)
	if r == nil || r.stream != sub.stream {
		// The room was unloaded (ended): its stream is closed; the snapshot says so.
		rec, err := s.aud.Room(ctx, sub.id)
		if err != nil {
			return events.Item{Seq: seq, Raw: events.Encode(seq, "snapshot", nil)}
		}
		return events.Item{Seq: seq, Raw: events.Encode(seq, "snapshot", View{ID: rec.ID, Title: rec.Title, State: rec.State, Host: rec.Host, Stage: []MemberView{}, Requests: []RequestView{}})}
	}
	return events.Item{Seq: seq, Raw: events.Encode(seq, "snapshot", s.view(r))}
}

// Snapshot is a room's current state as one event, and whether its
// stream has ended (the room ended): what an edge starts its mirror of the
// room's events from.
func (s *Service) Snapshot(ctx context.Context, id string) (it events.Item, closed bool, err error) {
	sub, err := s.Subscribe(ctx, id, 0)
	if err != nil {
		return events.Item{}, false, err
	}
	it = sub.snapshot(ctx)
	return it, sub.stream.Since(it.Seq).Closed, nil
}

// Notify publishes an event of another domain (a trust and safety
// decision) to a loaded room's event stream; false when the room is not
// loaded (not live: nobody is subscribed). It takes only the stream's lock.
func (s *Service) Notify(id, typ string, detail any) bool {
	r := s.loaded(id)
	if r == nil {
		return false
	}
	return r.stream.Publish(typ, map[string]any{"change": detail}) != 0
}
