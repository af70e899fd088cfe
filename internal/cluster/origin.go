package cluster

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"majlis/internal/events"
	"majlis/internal/program"
	"majlis/internal/room"
)

// Publisher puts an origin's live programs on the cluster: one follower
// goroutine per live room publishes each new chunk of the room's program
// as one message on the room's program subject. It answers the rooms'
// state requests and publishes a room's end, and each listener removed
// from it, on its events subject.
type Publisher struct {
	c        *Conn
	epoch    uint64
	programs func(room string) *program.Program // a live room's program, or nil
	stateSub *nats.Subscription
	snapSub  *nats.Subscription // ServeSnapshots
	// removalsSub answers the removals requests (ServeRemovals); guarded by mu.
	removalsSub *nats.Subscription

	mu     sync.Mutex
	rooms  map[string]*follower
	closed bool
	wg     sync.WaitGroup
}

type follower struct {
	cancel context.CancelFunc
	done   chan struct{}
}

// NewPublisher returns an origin's publisher. programs finds a live room's
// program (live.Manager.Get). Its epoch, random per process, tells edges
// that frame numbers started again.
func NewPublisher(c *Conn, programs func(room string) *program.Program) (*Publisher, error) {
	var b [8]byte
	rand.Read(b[:])
	p := &Publisher{c: c, epoch: binary.BigEndian.Uint64(b[:]) | 1, programs: programs, rooms: make(map[string]*follower)}
	sub, err := c.nc.Subscribe(subjectPrefix+"*.state", p.answerState)
	if err != nil {
		return nil, err
	}
	p.stateSub = sub
	return p, nil
}

// Epoch is this origin process's epoch (never 0).
func (p *Publisher) Epoch() uint64 { return p.epoch }

// answerState replies whether a room is live here (and this epoch).
func (p *Publisher) answerState(m *nats.Msg) {
	tok := strings.TrimSuffix(strings.TrimPrefix(m.Subject, subjectPrefix), ".state")
	id, ok := roomFromToken(tok)
	if !ok || m.Reply == "" {
		p.c.bad.Add(1)
		return
	}
	st := StateMsg{State: StateNotLive, Epoch: p.epoch}
	if p.programs(id) != nil {
		st.State = StateLive
	}
	_ = m.Respond(AppendState(nil, st))
}

// RoomEvent publishes one event of a room's event stream, or its end
// (room.Config.EventTap). It does not block: while the client reconnects
// the event is lost, and edges whose readers needed it give them a
// snapshot.
func (p *Publisher) RoomEvent(room string, it events.Item, closed bool) {
	m := EventMsg{Kind: EventRoom, Epoch: p.epoch, Seq: it.Seq, Closed: closed}
	if !closed {
		m.JSON = it.Raw
	}
	if it.Seq == 0 || len(m.JSON) > maxEventJSON {
		return
	}
	_ = p.c.nc.Publish(streamSubject(room), AppendEvent(nil, m))
}

// SnapshotFunc is a room's state as one event and whether its stream
// ended (room.Service.Snapshot); room.ErrRoomNotFound (any error matching
// notFound) is answered SnapshotNotFound.
type SnapshotFunc func(ctx context.Context, room string) (events.Item, bool, error)

// snapshotTimeout bounds the origin's work on one snapshot request (it
// may load the room from the store).
const snapshotTimeout = 2 * time.Second

// ServeSnapshots answers edges' snapshot requests with snap; notFound
// tells which errors mean there is no such room.
func (p *Publisher) ServeSnapshots(snap SnapshotFunc, notFound func(error) bool) error {
	return p.serve(subjectPrefix+"*.snapshot", &p.snapSub, func(m *nats.Msg) {
		tok := strings.TrimSuffix(strings.TrimPrefix(m.Subject, subjectPrefix), ".snapshot")
		id, ok := roomFromToken(tok)
		if !ok || m.Reply == "" {
			p.c.bad.Add(1)
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), snapshotTimeout)
		it, closed, err := snap(ctx, id)
		cancel()
		r := SnapshotMsg{Status: SnapshotOK, Closed: closed, Seq: it.Seq, JSON: it.Raw}
		switch {
		case err != nil && notFound(err):
			r = SnapshotMsg{Status: SnapshotNotFound}
		case err != nil || len(it.Raw) == 0 || len(it.Raw) > maxEventJSON:
			r = SnapshotMsg{Status: SnapshotFailed}
		}
		_ = m.Respond(AppendSnapshot(nil, r))
	})
}

// Start begins publishing room's program (a no-op when it is not live or
// already published).
func (p *Publisher) Start(id string) {
	prog := p.programs(id)
	if prog == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed || p.rooms[id] != nil {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	f := &follower{cancel: cancel, done: make(chan struct{})}
	p.rooms[id] = f
	from := prog.Head() // now, not whenever the goroutine first runs
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		defer close(f.done)
		p.follow(ctx, id, prog, from)
		p.mu.Lock()
		if p.rooms[id] == f {
			delete(p.rooms, id)
		}
		p.mu.Unlock()
	}()
}

// follow publishes every chunk of prog from chunk next on until it closes
// or ctx ends; either way it publishes the chunks already there first (a
// room's end closes its program, with its last chunk, just before End
// cancels ctx). A chunk overwritten before it was read (never, unless the
// NATS client stalls for the whole ring) is skipped.
func (p *Publisher) follow(ctx context.Context, id string, prog *program.Program, next uint64) {
	subj := programSubject(id)
	var buf []byte
	for {
		wait := prog.Wait()
		for head := prog.Head(); next < head; next++ {
			c := prog.Chunk(next)
			if c == nil {
				continue
			}
			buf = AppendProgram(buf[:0], p.epoch, c.FirstSeq, c.Frames, c.LevelList())
			// Publish copies buf into the client's buffer; while the client
			// reconnects it buffers up to reconnectBuf, then fails: a gap.
			_ = p.c.nc.Publish(subj, buf)
		}
		if prog.Closed() || ctx.Err() != nil {
			return
		}
		select {
		case <-wait:
		case <-ctx.Done():
		}
	}
}

// End stops publishing room's program and tells edges the room ended.
func (p *Publisher) End(id string) {
	p.mu.Lock()
	f := p.rooms[id]
	delete(p.rooms, id)
	p.mu.Unlock()
	if f != nil {
		f.cancel()
		<-f.done
	}
	_ = p.c.nc.Publish(eventsSubject(id), AppendEvent(nil, EventMsg{Kind: EventRoomEnded, Epoch: p.epoch}))
}

// ListenerRemoved tells the room's edges that user was removed from it at
// at (room.Config.Removed: a block, or a suspension): they end the user's
// listener streams there and refuse their tickets issued before. It does
// not block; while the client reconnects the message is lost
// (reconnectBuf), and an edge away from the cluster misses it: each edge
// asks for the removals it missed when it is back (ServeRemovals).
func (p *Publisher) ListenerRemoved(room, user string, at time.Time) {
	if user == "" || len(user) > maxUserID {
		return
	}
	_ = p.c.nc.Publish(eventsSubject(room), AppendEvent(nil, EventMsg{Kind: EventListenerRemoved, Epoch: p.epoch, User: user, At: at}))
}

// RemovalsFunc lists the origin's recent removals after since, oldest
// first, at most limit of them, and whether more follow
// (room.Service.Removals).
type RemovalsFunc func(since time.Time, limit int) ([]room.Removal, bool)

// ServeRemovals answers edges' removals requests (Conn.Removals) from
// list, a page (maxRemovalsPage) at a time.
func (p *Publisher) ServeRemovals(list RemovalsFunc) error {
	return p.serve(subjectRemovals, &p.removalsSub, func(m *nats.Msg) {
		since, err := ParseRemovalsRequest(m.Data)
		if err != nil || m.Reply == "" {
			p.c.bad.Add(1)
			return
		}
		rs, more := list(since, maxRemovalsPage)
		out := RemovalsMsg{More: more, Removals: make([]Removal, 0, len(rs))}
		for _, r := range rs {
			if r.User == "" || len(r.User) > maxUserID || len(r.Room) > maxRoomID {
				continue // never made by the room service; an edge would refuse the page
			}
			out.Removals = append(out.Removals, Removal{Room: r.Room, User: r.User, At: r.At})
		}
		_ = m.Respond(AppendRemovals(nil, out))
	})
}

// serve subscribes h to the requests on subject, keeping the subscription
// in *keep (under mu) for Close, and returns once the server knows of it,
// before anyone asks.
func (p *Publisher) serve(subject string, keep **nats.Subscription, h nats.MsgHandler) error {
	sub, err := p.c.nc.Subscribe(subject, h)
	if err != nil {
		return err
	}
	p.mu.Lock()
	*keep = sub
	p.mu.Unlock()
	return p.c.nc.Flush()
}

// Close stops every follower without telling edges anything: rooms go on
// when this origin (or its successor) comes back, and edges hold meanwhile.
func (p *Publisher) Close() {
	p.mu.Lock()
	p.closed = true
	for _, f := range p.rooms {
		f.cancel()
	}
	subs := []*nats.Subscription{p.snapSub, p.removalsSub}
	p.mu.Unlock()
	p.wg.Wait()
	_ = p.stateSub.Unsubscribe()
	for _, s := range subs {
		if s != nil {
			_ = s.Unsubscribe()
		}
	}
}

// Media is a room.Media whose rooms are also published on the cluster:
// Start starts the room's follower after its program, End tells edges
// after the program stopped (and drops the room's merged sketch from
// Fleet, when set: the room service stored its final counts before).
type Media struct {
	room.Media
	Publisher *Publisher
	Fleet     *Fleet
}

// Start starts the room's program, then publishes it.
func (m Media) Start(id string) error {
	if err := m.Media.Start(id); err != nil {
		return err
	}
	m.Publisher.Start(id)
	return nil
}

// End stops the room's media, then tells the edges.
func (m Media) End(id string) {
	m.Media.End(id)
	m.Publisher.End(id)
	if m.Fleet != nil {
		m.Fleet.Forget(id)
	}
}
