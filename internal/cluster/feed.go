package cluster

import (
	"errors"
	"strings"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
)

// feedQueue bounds a room's decoded messages waiting for the edge's room
// goroutine: about 10 s of 40 ms chunks. When it is full a message is
// dropped and counted (a gap), never waited for.
const feedQueue = 256

// Msg is one decoded message of a room's feed: a program chunk or an event.
type Msg struct {
	Program *ProgramMsg
	Event   *EventMsg
}

// Feed is one room's program and events as an edge receives them.
type Feed struct {
	C    <-chan Msg
	ch   chan Msg
	subs []*nats.Subscription
}

// Follow subscribes to room's program and events subjects.
func (c *Conn) Follow(room string) (*Feed, error) {
	f := &Feed{ch: make(chan Msg, feedQueue)}
	f.C = f.ch
	prog, err := c.nc.Subscribe(programSubject(room), func(m *nats.Msg) {
		pm, err := ParseProgram(m.Data)
		if err != nil {
			c.bad.Add(1)
			return
		}
		offer(f.ch, Msg{Program: &pm}, &c.dropped)
	})
	if err != nil {
		return nil, err
	}
	ev, err := c.nc.Subscribe(eventsSubject(room), func(m *nats.Msg) {
		e, err := ParseEvent(m.Data)
		if err != nil {
			c.bad.Add(1)
			return
		}
		offer(f.ch, Msg{Event: &e}, &c.dropped)
	})
	if err != nil {
		_ = prog.Unsubscribe()
		return nil, err
	}
	f.subs = []*nats.Subscription{prog, ev}
	return f, nil
}

// offer queues v for the edge's goroutine without waiting: a NATS callback
// that waited for a slow room would pile its messages up in the client,
// out of sight. A full queue drops v and counts it in dropped (a gap the
// reader sees by the numbers).
func offer[T any](ch chan<- T, v T, dropped *atomic.Uint64) {
	select {
	case ch <- v:
	default:
		dropped.Add(1)
	}
}

// Close drops the subscriptions (messages already queued stay readable).
func (f *Feed) Close() {
	for _, s := range f.subs {
		_ = s.Unsubscribe()
	}
}

// FollowRemovals subscribes to every room's events subject for the
// listeners removed (EventListenerRemoved) and calls removed with each and
// its time on the origin's clock, on the client's goroutine: it must not
// block. One subscription for all
// rooms, so that an edge also hears of a removal in a room it serves no
// one in now (a ticket issued before it may still be brought there); the
// subject carries only rare admin events. Other kinds are ignored, a
// message that does not decode is counted. Close the subscription with
// the returned func.
func (c *Conn) FollowRemovals(removed func(room, user string, at time.Time)) (stop func(), err error) {
	sub, err := c.nc.Subscribe(subjectPrefix+"*.events", func(m *nats.Msg) {
		tok := strings.TrimSuffix(strings.TrimPrefix(m.Subject, subjectPrefix), ".events")
		room, ok := roomFromToken(tok)
		e, err := ParseEvent(m.Data)
		if !ok || err != nil {
			c.bad.Add(1)
			return
		}
		if e.Kind == EventListenerRemoved {
			removed(room, e.User, e.At)
		}
	})
	if err != nil {
		return nil, err
	}
	return func() { _ = sub.Unsubscribe() }, nil
}

// EventFeed is a room's event stream as an edge receives it (EventRoom
// messages only, in the origin's order).
type EventFeed struct {
	C   <-chan EventMsg
	ch  chan EventMsg
	sub *nats.Subscription
}

// FollowEvents subscribes to room's event stream. A message that does not
// decode is dropped and counted; a full queue drops and counts (the
// mirror's readers then lag and take a snapshot).
func (c *Conn) FollowEvents(room string) (*EventFeed, error) {
	f := &EventFeed{ch: make(chan EventMsg, feedQueue)}
	f.C = f.ch
	sub, err := c.nc.Subscribe(streamSubject(room), func(m *nats.Msg) {
		e, err := ParseEvent(m.Data)
		if err != nil || e.Kind != EventRoom {
			c.bad.Add(1)
			return
		}
		offer(f.ch, e, &c.dropped)
	})
	if err != nil {
		return nil, err
	}
	f.sub = sub
	return f, nil
}

// Close drops the subscription.
func (f *EventFeed) Close() { _ = f.sub.Unsubscribe() }

// Snapshot asks the origin for room's state as one event.
func (c *Conn) Snapshot(room string, timeout time.Duration) (SnapshotMsg, error) {
	m, err := c.nc.Request(snapshotSubject(room), nil, timeout)
	if err != nil {
		return SnapshotMsg{}, errors.Join(ErrNoOrigin, err)
	}
	s, err := ParseSnapshot(m.Data)
	if err != nil {
		c.bad.Add(1)
		return SnapshotMsg{}, err
	}
	return s, nil
}

// Removals asks the origin for one page of its recent listener removals,
// those after since (the zero time: from the first), oldest first.
func (c *Conn) Removals(since time.Time, timeout time.Duration) (RemovalsMsg, error) {
	m, err := c.nc.Request(subjectRemovals, AppendRemovalsRequest(nil, since), timeout)
	if err != nil {
		return RemovalsMsg{}, errors.Join(ErrNoOrigin, err)
	}
	r, err := ParseRemovals(m.Data)
	if err != nil {
		c.bad.Add(1)
		return RemovalsMsg{}, err
	}
	return r, nil
}

// ErrNoOrigin: no origin answered a state request (it is down, or the
// cluster is unreachable).
var ErrNoOrigin = errors.New("cluster: no origin answered")

// RoomState asks the origin whether room is live.
func (c *Conn) RoomState(room string, timeout time.Duration) (StateMsg, error) {
	m, err := c.nc.Request(stateSubject(room), nil, timeout)
	if err != nil {
		return StateMsg{}, errors.Join(ErrNoOrigin, err)
	}
	st, err := ParseState(m.Data)
	if err != nil {
		c.bad.Add(1)
		return StateMsg{}, err
	}
	return st, nil
}

// PublishLoad sends an edge's load report, on its edge's subject
// (r.Edge must be a ValidEdgeID).
func (c *Conn) PublishLoad(buf []byte, r LoadReport) []byte {
	buf = AppendLoad(buf[:0], r)
	_ = c.nc.Publish(subjectLoad+r.Edge, buf)
	return buf
}

// PublishSketch sends one room's unique-listener sketch, on its edge's
// subject.
func (c *Conn) PublishSketch(buf []byte, s SketchReport) []byte {
	buf = AppendSketch(buf[:0], s)
	_ = c.nc.Publish(subjectSketch+s.Edge, buf)
	return buf
}

// Flush waits until the server has everything published so far.
func (c *Conn) Flush(timeout time.Duration) error { return c.nc.FlushTimeout(timeout) }
