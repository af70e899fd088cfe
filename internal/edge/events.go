package edge

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"majlis/internal/cluster"
	"majlis/internal/events"
	"majlis/internal/room"
)

// Mirrors of rooms' event streams.
const (
	// snapshotTimeout: how long the origin has to answer a snapshot request.
	snapshotTimeout = time.Second
	// maxMirrors bounds the rooms whose events an edge mirrors at once.
	maxMirrors = 10000
)

// Errors of Subscribe, as the events path answers them.
var (
	// ErrRoomNotFound: the origin has no such room (as on the origin).
	ErrRoomNotFound = room.ErrRoomNotFound
	// ErrNoOrigin: the origin did not answer (down, or the cluster is cut
	// off); the listener tries again later.
	ErrNoOrigin = errors.New("edge: the origin did not answer")
	// ErrShutdown: the edge is shutting down (as room.ErrShutdown on the origin).
	ErrShutdown = fmt.Errorf("edge: %w", room.ErrShutdown)
	// ErrTooManyRooms: the edge mirrors maxMirrors rooms already.
	ErrTooManyRooms = errors.New("edge: too many rooms")
)

// mirror is one room's event stream as the origin publishes it on the
// cluster, kept in a local events.Stream that any number of this edge's
// listeners read, exactly as an origin's listeners read the room's own.
// The origin's sequence numbers are kept: a listener's cursor is good on
// the origin and on any edge. One NATS subscription per room per edge,
// whatever the audience: the origin's cost does not grow with it.
type mirror struct {
	room   string
	stream *events.Stream // nil until the first snapshot came; then set once
	ready  chan struct{}  // closed once stream is set, or err
	err    error
	ctx    context.Context // ends when the mirror does
	cancel context.CancelFunc
	subs   int         // guarded by Edge.mu
	idle   *time.Timer // guarded by Edge.mu; runs while subs == 0

	snapMu sync.Mutex
	snap   events.Item // the newest snapshot from the origin
	flight *snapFlight // a snapshot request in progress
}

// snapFlight is one snapshot request that every reader needing a
// snapshot meanwhile waits for: a crowd resuming at once costs the origin
// one request per edge.
type snapFlight struct {
	done chan struct{}
	it   events.Item
	err  error
}

// Subscribe starts reading room's events after since (0: start with a
// snapshot), from this edge's mirror of the room's stream, started when
// the edge has none. Close the subscription when done: the mirror ends
// IdleTimeout after its last reader.
func (e *Edge) Subscribe(ctx context.Context, room string, since uint64) (*Subscription, error) {
	m, err := e.mirrorFor(room)
	if err != nil {
		return nil, err
	}
	sub := &Subscription{e: e, m: m, last: since, snap: since == 0}
	select {
	case <-m.ready:
	case <-ctx.Done():
		sub.Close()
		return nil, ctx.Err()
	}
	if m.err != nil {
		sub.Close()
		return nil, m.err
	}
	if since != 0 && since > m.known() {
		sub.snap = true // a cursor this room never reached (an earlier process's, or junk)
	}
	return sub, nil
}

// mirrorFor returns room's mirror, starting it if needed, and counts a reader.
func (e *Edge) mirrorFor(room string) (*mirror, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.ctx.Err() != nil {
		return nil, ErrShutdown
	}
	m := e.mirrors[room]
	if m == nil || m.ctx.Err() != nil { // none, or one ending (idle) that a new reader must not join
		if m == nil && len(e.mirrors) >= maxMirrors {
			return nil, ErrTooManyRooms
		}
		ctx, cancel := context.WithCancel(e.ctx)
		m = &mirror{room: room, ready: make(chan struct{}), ctx: ctx, cancel: cancel}
		e.mirrors[room] = m
		e.wg.Add(1)
		go func() {
			defer e.wg.Done()
			e.runMirror(ctx, m)
			e.mu.Lock()
			if e.mirrors[room] == m {
				delete(e.mirrors, room)
			}
			if m.idle != nil {
				m.idle.Stop()
			}
			e.mu.Unlock()
		}()
	}
	m.subs++
	if m.idle != nil {
		m.idle.Stop()
	}
	return m, nil
}

// unsubscribe uncounts a reader; the last one out arms the idle timer.
func (e *Edge) unsubscribe(m *mirror) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if m.subs--; m.subs > 0 {
		return
	}
	e.armIdle(&m.idle, func() bool { return m.subs == 0 }, m.cancel)
}

// runMirror keeps m's stream until the room's stream ends at the origin
// or ctx ends. It subscribes first, then takes the snapshot the stream
// starts from: no event published meanwhile is missed, and those the
// snapshot already holds are dropped as repeats.
func (e *Edge) runMirror(ctx context.Context, m *mirror) {
	feed, err := e.cfg.Cluster.FollowEvents(m.room)
	if err != nil {
		m.err = fmt.Errorf("%w: %v", ErrNoOrigin, err)
		close(m.ready)
		return
	}
	defer feed.Close()
	sn, err := e.fetchSnapshot(m.room)
	if err != nil {
		m.err = err
		close(m.ready)
		return
	}
	it := events.Item{Seq: sn.Seq, Raw: sn.JSON}
	m.snap = it
	m.stream = events.NewStream(0, sn.Seq)
	close(m.ready)
	if sn.Closed {
		m.stream.Close()
		return
	}
	for {
		select {
		case <-ctx.Done():
			m.stream.Close()
			return
		case ev := <-feed.C:
			if ev.Closed {
				m.stream.Close()
				return
			}
			m.stream.Put(events.Item{Seq: ev.Seq, Raw: ev.JSON})
		}
	}
}

// fetchSnapshot asks the origin for room's state.
func (e *Edge) fetchSnapshot(room string) (cluster.SnapshotMsg, error) {
	sn, err := e.cfg.Cluster.Snapshot(room, snapshotTimeout)
	switch {
	case err != nil:
		return sn, fmt.Errorf("%w: %v", ErrNoOrigin, err)
	case sn.Status == cluster.SnapshotNotFound:
		return sn, ErrRoomNotFound
	case sn.Status != cluster.SnapshotOK:
		return sn, ErrNoOrigin
	}
	// The message's bytes are the client's; keep a copy.
	sn.JSON = append([]byte(nil), sn.JSON...)
	return sn, nil
}

// known is the newest sequence number the mirror knows of: its stream's
// last event, or a newer snapshot whose events are still on their way.
func (m *mirror) known() uint64 {
	m.snapMu.Lock()
	defer m.snapMu.Unlock()
	return max(m.stream.Seq(), m.snap.Seq)
}

// snapshot is a snapshot a reader can go on from: the mirror's newest,
// when the stream still holds every event after it, else a new one from
// the origin (one request at a time per room: readers wait for it).
func (e *Edge) snapshot(ctx context.Context, m *mirror) (events.Item, error) {
	m.snapMu.Lock()
	if s := m.snap; s.Seq >= m.stream.Seq() || !m.stream.Since(s.Seq).Lagged {
		m.snapMu.Unlock()
		return s, nil
	}
	f := m.flight
	if f == nil {
		f = &snapFlight{done: make(chan struct{})}
		m.flight = f
		m.snapMu.Unlock()
		sn, err := e.fetchSnapshot(m.room)
		f.it, f.err = events.Item{Seq: sn.Seq, Raw: sn.JSON}, err
		m.snapMu.Lock()
		if err == nil && sn.Seq >= m.snap.Seq {
			m.snap = f.it
		}
		m.flight = nil
		m.snapMu.Unlock()
		close(f.done)
		return f.it, f.err
	}
	m.snapMu.Unlock()
	select {
	case <-f.done:
		return f.it, f.err
	case <-ctx.Done():
		return events.Item{}, ctx.Err()
	}
}

// Subscription is one reader of a room's mirrored events.
type Subscription struct {
	e    *Edge
	m    *mirror
	last uint64
	snap bool
	buf  []events.Item // the batches' array, reused by every Next
	once sync.Once
}

// Next waits for the next batch of encoded events, as
// room.Subscription.Next does on the origin: a reader that lags (or
// resumes from a cursor the mirror no longer holds) gets one snapshot
// instead of the events it missed; done is true after the stream's end
// (the room ended; err is ErrShutdown when the edge is stopping). The
// batch is valid until the next call of Next, which reuses its array.
func (s *Subscription) Next(ctx context.Context) (batch []events.Item, done bool, err error) {
	m := s.m
	for {
		if s.snap {
			it, err := s.e.snapshot(ctx, m)
			if err != nil {
				return nil, false, err
			}
			s.snap, s.last = false, it.Seq
			s.buf = append(s.buf[:0], it)
			return s.buf, false, nil
		}
		rd := m.stream.SinceInto(s.last, s.buf)
		s.buf = rd.Events
		if rd.Lagged && !rd.Closed && s.last > m.stream.Seq() && s.last <= m.known() {
			// The snapshot is newer than the stream: its events are on their way.
		} else if rd.Lagged {
			s.snap = true
			continue
		} else {
			s.last = rd.Last
			if len(rd.Events) > 0 || rd.Closed {
				if rd.Closed && s.e.ctx.Err() != nil {
					return rd.Events, true, ErrShutdown
				}
				return rd.Events, rd.Closed, nil
			}
		}
		select {
		case <-ctx.Done():
			return nil, false, ctx.Err()
		case <-rd.Wake:
		}
	}
}

// Close ends the subscription (idempotent).
func (s *Subscription) Close() { s.once.Do(func() { s.e.unsubscribe(s.m) }) }

// Mirrors is the number of rooms whose events this edge mirrors now.
func (e *Edge) Mirrors() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.mirrors)
}

// EventReaders is the number of readers of the mirrored rooms' events now.
func (e *Edge) EventReaders() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	n := 0
	for _, m := range e.mirrors {
		n += m.subs
	}
	return n
}

// RegisterEvents exposes the mirrors' gauges.
func (e *Edge) RegisterEvents(reg *prometheus.Registry) error {
	for _, col := range []prometheus.Collector{
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "majlis_edge_event_rooms",
			Help: "Rooms whose event streams this edge mirrors from the origin (one NATS subscription each)."},
			func() float64 { return float64(e.Mirrors()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "majlis_edge_event_readers",
			Help: "Readers of room events on this edge (WebSocket and Server-Sent Events)."},
			func() float64 { return float64(e.EventReaders()) }),
	} {
		if err := reg.Register(col); err != nil {
			return err
		}
	}
	return nil
}
