package room

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"sync/atomic"
)

// fakeMedia is room.Media without WebRTC or audio: Publish returns a
// fakeSession; an offer "bad" is refused like an invalid SDP offer. A
// member's session while an older one runs is pending, as the stage's is,
// until the test calls connect.
type fakeMedia struct {
	mu        sync.Mutex
	ended     []string
	sessions  []*fakeSession
	listeners atomic.Int64
	n         atomic.Int64

	// gate, when set, is handed to every new session: SetMuted waits on it.
	gate *gate
}

var errFakeOffer = errors.New("fake: bad offer")

func (m *fakeMedia) Start(string) error { return nil }
func (m *fakeMedia) End(id string) {
	m.mu.Lock()
	m.ended = append(m.ended, id)
	ss := m.sessions
	m.mu.Unlock()
	for _, s := range ss {
		if s.room == id {
			s.Close()
		}
	}
}
func (m *fakeMedia) Listeners(string) int64 { return m.listeners.Load() }

func (m *fakeMedia) Publish(_ context.Context, room, member, offer string) (Published, string, error) {
	if offer == "bad" {
		return nil, "", errFakeOffer
	}
	s := &fakeSession{id: "s" + strconv.FormatInt(m.n.Add(1), 10), room: room, member: member, done: make(chan struct{})}
	m.mu.Lock()
	s.gate = m.gate
	for _, o := range m.sessions {
		if o.room == room && o.member == member && !o.closed() && !o.pending.Load() {
			s.pending.Store(true)
		}
	}
	m.sessions = append(m.sessions, s)
	m.mu.Unlock()
	return s, "answer:" + offer, nil
}

// connect has a pending session take over as the stage does: the older
// sessions of its member close as replaced (no LeftStage), then TookOver.
func (m *fakeMedia) connect(svc *Service, s *fakeSession) {
	m.mu.Lock()
	var old []*fakeSession
	for _, o := range m.sessions {
		if o != s && o.room == s.room && o.member == s.member && !o.pending.Load() {
			old = append(old, o)
		}
	}
	m.mu.Unlock()
	s.pending.Store(false)
	for _, o := range old {
		o.Close()
	}
	svc.TookOver(s.room, s.member, s.id)
}

// session returns the member's latest session.
func (m *fakeMedia) session(member string) *fakeSession {
	m.mu.Lock()
	defer m.mu.Unlock()
	for i := len(m.sessions) - 1; i >= 0; i-- {
		if m.sessions[i].member == member {
			return m.sessions[i]
		}
	}
	return nil
}

type fakeSession struct {
	id, room, member string
	gate             *gate
	muted            atomic.Bool
	pending          atomic.Bool
	once             sync.Once
	done             chan struct{}
}

func (s *fakeSession) ID() string            { return s.id }
func (s *fakeSession) Done() <-chan struct{} { return s.done }
func (s *fakeSession) Close()                { s.once.Do(func() { close(s.done) }) }
func (s *fakeSession) closed() bool          { return !running(s) }
func (s *fakeSession) Pending() bool         { return s.pending.Load() }
func (s *fakeSession) SetMuted(m bool) {
	if s.gate != nil {
		s.gate.wait()
	}
	s.muted.Store(m)
}

// gate holds whoever calls wait, once armed, until it is released.
type gate struct {
	armed    atomic.Bool
	entered  chan struct{} // closed when the first caller is held
	release  chan struct{}
	enterOne sync.Once
}

func newGate() *gate { return &gate{entered: make(chan struct{}), release: make(chan struct{})} }

func (g *gate) wait() {
	if !g.armed.Load() {
		return
	}
	g.enterOne.Do(func() { close(g.entered) })
	<-g.release
}
