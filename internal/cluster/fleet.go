package cluster

import (
	"math/rand/v2"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
)

// Freshness of edge reports.
const (
	// ReportTTL: a report counts (listeners, placement) while it is
	// younger than this; an edge that stops reporting is left out after it.
	ReportTTL = 5 * time.Second
	// healthyAge: placement prefers edges whose last report is younger than
	// this (1.5 report periods: they report every second), so a killed
	// edge gets no new listeners well before its counts expire. Shorter
	// would drop a live edge whose report is a little late; when no edge
	// is this fresh, any within ReportTTL serves.
	healthyAge = 1500 * time.Millisecond
	// maxSketchRooms bounds the rooms the fleet keeps a merged sketch of
	// (at most 16 KiB each, dense); when full, sketches not updated for
	// sketchIdle go first.
	maxSketchRooms = 20000
	sketchIdle     = 10 * time.Minute
	// forgetAfter: an ended room's unique estimate is kept this long after
	// its sketch is dropped (the room's final counts are stored by then).
	forgetAfter = time.Minute
	// MaxEdges bounds the edges the fleet keeps (reported within the last
	// minute). A report from an edge id it does not know while it keeps
	// as many is refused (RefusedReports): a publisher inventing edge ids
	// adds at most MaxEdges × maxPerEdge listeners, and the list each
	// report copies stays small. (Where NATS permissions allow each
	// edge's credentials only its own report subjects, it can invent none.)
	MaxEdges = 1024
)

// Fleet is the origin's view of its edges, from their reports: listeners
// per room (room.FleetCounts), unique listeners merged from the edges'
// HyperLogLog sketches, and placement of new listeners (httpapi.Placement).
// Readers take no lock: the edges' reports are an immutable list swapped
// atomically, and each room's unique estimate is an atomic.
type Fleet struct {
	c          *Conn
	epoch      uint64
	maxPerEdge uint32
	now        func() time.Time

	edges atomic.Pointer[[]*edgeView] // by edge id, replaced on every report

	onTotal atomic.Pointer[func(int64)] // told the edges' listeners after each report (OnTotal)

	refused atomic.Int64 // reports from a new edge id beyond MaxEdges

	mu       sync.Mutex // ingest only: the edges list and the sketches
	sketches map[string]*roomSketch
	unique   sync.Map // room → *atomic.Int64, the merged sketch's estimate
	subs     []*nats.Subscription
}

// edgeView is one edge's latest report, capped. Immutable but assigned.
type edgeView struct {
	id       string
	base     string
	conns    int64
	at       time.Time
	rooms    map[string]int64
	assigned atomic.Int64 // listeners sent there since this report
}

type roomSketch struct {
	sk *sketch
	at time.Time // last merge
}

// NewFleet subscribes to the edges' reports (every edge's subject; a
// report naming another edge than its subject's is dropped as bad). epoch is the origin's
// (Publisher.Epoch): sketches an edge counted for an earlier origin process
// are not merged again, since that process stored them. maxPerEdge caps
// one edge's listeners (0: DefaultMaxPerEdge).
func NewFleet(c *Conn, epoch uint64, maxPerEdge int) (*Fleet, error) {
	if maxPerEdge <= 0 {
		maxPerEdge = DefaultMaxPerEdge
	}
	f := &Fleet{c: c, epoch: epoch, maxPerEdge: uint32(min(maxPerEdge, 1<<31)), now: time.Now, sketches: make(map[string]*roomSketch)}
	empty := []*edgeView{}
	f.edges.Store(&empty)
	load, err := c.nc.Subscribe(subjectLoad+"*", func(m *nats.Msg) {
		r, err := ParseLoad(m.Data)
		if err != nil || !reportedBy(m.Subject, subjectLoad, r.Edge) {
			c.bad.Add(1)
			return
		}
		f.ingestLoad(r)
	})
	if err != nil {
		return nil, err
	}
	sk, err := c.nc.Subscribe(subjectSketch+"*", func(m *nats.Msg) {
		s, err := ParseSketch(m.Data)
		if err != nil || !reportedBy(m.Subject, subjectSketch, s.Edge) {
			c.bad.Add(1)
			return
		}
		f.ingestSketch(s)
	})
	if err != nil {
		_ = load.Unsubscribe()
		return nil, err
	}
	f.subs = []*nats.Subscription{load, sk}
	return f, nil
}

// Close drops the subscriptions.
func (f *Fleet) Close() {
	for _, s := range f.subs {
		_ = s.Unsubscribe()
	}
}

// ingestLoad replaces an edge's report. An edge cannot count more
// listeners than it holds connections, nor more than maxPerEdge: rooms are
// scaled down to fit.
func (f *Fleet) ingestLoad(r LoadReport) {
	if u, err := url.Parse(r.BaseURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		f.c.bad.Add(1)
		return
	}
	capN := int64(min(r.Connections, f.maxPerEdge))
	var sum int64
	for _, rm := range r.Rooms {
		sum += int64(rm.Listeners)
	}
	v := &edgeView{id: r.Edge, base: r.BaseURL, conns: capN, at: f.now(), rooms: make(map[string]int64, len(r.Rooms))}
	for _, rm := range r.Rooms {
		n := int64(rm.Listeners)
		if sum > capN {
			n = n * capN / sum
		}
		v.rooms[rm.Room] += n
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	old := *f.edges.Load()
	next := make([]*edgeView, 0, len(old)+1)
	now := f.now()
	known := false
	for _, e := range old {
		if e.id == r.Edge {
			known = true
		}
	}
	if !known && len(old) >= MaxEdges && now.Sub(old[0].at) < time.Minute {
		// Full of edges heard from within the minute (the oldest report
		// is first): a new id waits for one to go quiet.
		f.refused.Add(1)
		return
	}
	for _, e := range old {
		if e.id == r.Edge {
			// Listeners sent there that its connections do not show yet
			// still count, halved each report (a join that never connects
			// is forgotten in a few seconds): a surge of joins between two
			// reports does not all go to the edge that looked idlest.
			if pending := e.assigned.Load() - (capN - e.conns); pending > 0 && now.Sub(e.at) < ReportTTL {
				v.assigned.Store(pending / 2)
			}
			continue
		}
		if now.Sub(e.at) < time.Minute {
			next = append(next, e)
		}
	}
	next = append(next, v)
	f.edges.Store(&next)
	if fn := f.onTotal.Load(); fn != nil {
		(*fn)(f.Total())
	}
}

// RefusedReports counts the load reports of a new edge id refused while
// the fleet kept MaxEdges edges.
func (f *Fleet) RefusedReports() int64 { return f.refused.Load() }

// OnTotal has fn told the edges' listeners in all (Total) after each
// report, on the subscription's goroutine: the origin's chunk length
// follows the whole fleet's audience (live.Manager.SetRemote).
func (f *Fleet) OnTotal(fn func(int64)) { f.onTotal.Store(&fn) }

// Total is the listeners of every room on the edges whose report is
// younger than ReportTTL.
func (f *Fleet) Total() int64 {
	var n int64
	for _, e := range f.fresh(ReportTTL) {
		for _, l := range e.rooms {
			n += l
		}
	}
	return n
}

// ingestSketch merges an edge's sketch of a room into the room's.
func (f *Fleet) ingestSketch(s SketchReport) {
	if s.Epoch != f.epoch {
		return // counted by an earlier origin process, which stored it
	}
	in, err := parseSketch(s.Sketch)
	if err != nil {
		f.c.bad.Add(1)
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	rs := f.sketches[s.Room]
	if rs == nil {
		if len(f.sketches) >= maxSketchRooms {
			f.pruneLocked()
		}
		if len(f.sketches) >= maxSketchRooms {
			return
		}
		rs = &roomSketch{sk: newSketch()}
		f.sketches[s.Room] = rs
	}
	if err := rs.sk.merge(in); err != nil {
		f.c.bad.Add(1)
		return
	}
	rs.at = f.now()
	v, _ := f.unique.LoadOrStore(s.Room, new(atomic.Int64))
	v.(*atomic.Int64).Store(int64(rs.sk.estimate()))
}

// pruneLocked drops the sketches not merged for sketchIdle; f.mu is held.
func (f *Fleet) pruneLocked() {
	now := f.now()
	for room, rs := range f.sketches {
		if now.Sub(rs.at) >= sketchIdle {
			delete(f.sketches, room)
		}
	}
}

// Forget drops an ended room's sketch (its final counts are stored); its
// estimate goes a minute later.
func (f *Fleet) Forget(room string) {
	f.mu.Lock()
	delete(f.sketches, room)
	f.mu.Unlock()
	time.AfterFunc(forgetAfter, func() { f.unique.Delete(room) })
}

// fresh returns the edges whose report is younger than age.
func (f *Fleet) fresh(age time.Duration) []*edgeView {
	now := f.now()
	var out []*edgeView
	for _, e := range *f.edges.Load() {
		if now.Sub(e.at) < age {
			out = append(out, e)
		}
	}
	return out
}

// Listeners is room's listeners on the edges: the sum of the reports
// younger than ReportTTL.
func (f *Fleet) Listeners(room string) int64 {
	now := f.now()
	var n int64
	for _, e := range *f.edges.Load() {
		if now.Sub(e.at) < ReportTTL {
			n += e.rooms[room]
		}
	}
	return n
}

// Unique is the estimated number of distinct listener tickets of room on
// the edges since this origin process started (HyperLogLog, about 0.8 %
// standard error; exact while small).
func (f *Fleet) Unique(room string) int64 {
	if v, ok := f.unique.Load(room); ok {
		return v.(*atomic.Int64).Load()
	}
	return 0
}

// Edges is the number of edges reporting now.
func (f *Fleet) Edges() int { return len(f.fresh(ReportTTL)) }

// EdgeFor picks the edge a new listener of room should connect to: of two
// edges drawn at random among those reporting, the less loaded
// (connections in its last report plus listeners sent there since).
// Healthy edges (a report in the last 1.5 s) come first. ok is false when
// no edge reports: the origin serves the listener itself.
func (f *Fleet) EdgeFor(room string) (base string, ok bool) {
	cands := f.fresh(healthyAge)
	if len(cands) == 0 {
		cands = f.fresh(ReportTTL)
	}
	if len(cands) == 0 {
		return "", false
	}
	i := rand.IntN(len(cands))
	e := cands[i]
	if len(cands) > 1 {
		o := cands[(i+1+rand.IntN(len(cands)-1))%len(cands)]
		if o.conns+o.assigned.Load() < e.conns+e.assigned.Load() {
			e = o
		}
	}
	e.assigned.Add(1)
	return e.base, true
}
