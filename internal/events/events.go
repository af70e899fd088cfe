// Package events is a room's event log: numbered JSON events kept in a
// bounded ring and read by any number of subscribers, each with its own
// cursor into the ring.
//
// Publishing encodes an event once, stores it in the ring and wakes every
// waiting reader by closing one channel: its cost does not grow with the
// audience. A subscriber's queue is the part of the ring it has not read yet,
// so it is bounded by the ring; a subscriber that falls further behind than
// the ring (or resumes from a sequence number the ring no longer holds) is
// told it lagged and gets a snapshot of the current state instead of a
// backlog.
//
// The producer (internal/room) decides how often events happen: state
// changes are rare and human-made; counts and reaction aggregates are
// produced at most once per interval, never per join or per reaction.
package events

import (
	"encoding/json"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultHistory is how many recent events a stream keeps for resuming.
const DefaultHistory = 256

// Event is the wire form of one event.
type Event struct {
	Seq  uint64    `json:"seq"`
	Type string    `json:"type"`
	At   time.Time `json:"at"`
	Data any       `json:"data,omitempty"`
}

// Encode marshals an event (used for snapshots, which are not in the ring).
func Encode(seq uint64, typ string, data any) []byte {
	b, err := json.Marshal(Event{Seq: seq, Type: typ, At: time.Now().UTC(), Data: data})
	if err != nil {
		// Data comes from our own types; fall back to an event without it.
		b, _ = json.Marshal(Event{Seq: seq, Type: typ, At: time.Now().UTC()})
	}
	return b
}

// Item is one encoded event.
type Item struct {
	Seq uint64
	Raw []byte // JSON of Event
}

// Stream is one room's event log. Writers (Publish, Close: the room's
// stage commits) are serialised by a mutex; readers (Seq, Since: the
// audience's subscribers) take no lock, so a crowd of subscribers never
// delays a stage commit, nor a commit encoding its event the readers.
type Stream struct {
	mu   sync.Mutex                 // writers only
	ring []atomic.Pointer[Item]     // event seq lives at ring[seq % len(ring)]
	head atomic.Pointer[streamHead] // the last published state, replaced whole
	tap  func(it Item, closed bool) // set before the stream is shared (Tap); called under mu
}

// streamHead is a stream's state as readers see it at one moment.
type streamHead struct {
	seq    uint64        // last published
	closed bool          // no more events
	wake   chan struct{} // closed by the next Publish or by Close
}

// NewStream returns a stream keeping history events (DefaultHistory if <= 0),
// whose next event will have sequence number start+1.
func NewStream(history int, start uint64) *Stream {
	if history <= 0 {
		history = DefaultHistory
	}
	s := &Stream{ring: make([]atomic.Pointer[Item], history)}
	s.head.Store(&streamHead{seq: start, wake: make(chan struct{})})
	return s
}

// Tap makes fn see every event published from now on, and the close, in
// order (the origin puts its rooms' events on the cluster with it). fn
// runs under the writers' lock: it must not block. Call Tap before the
// stream is shared.
func (s *Stream) Tap(fn func(it Item, closed bool)) { s.tap = fn }

// Publish appends an event and wakes the readers; it returns its sequence
// number (0 once the stream is closed).
func (s *Stream) Publish(typ string, data any) uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	h := s.head.Load()
	if h.closed {
		return 0
	}
	seq := h.seq + 1
	s.putLocked(h, &Item{Seq: seq, Raw: Encode(seq, typ, data)})
	return seq
}

// Put appends an event numbered elsewhere: an edge mirrors the origin's
// stream with it. An event not numbered after the last one is a repeat
// and is dropped (false). A jump in the numbering (events lost on the way)
// makes readers whose cursor is before it lag, and take a snapshot.
func (s *Stream) Put(it Item) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	h := s.head.Load()
	if h.closed || it.Seq <= h.seq {
		return false
	}
	s.putLocked(h, &it)
	return true
}

func (s *Stream) putLocked(h *streamHead, it *Item) {
	// The item is in its slot before the head that names it is published.
	s.ring[it.Seq%uint64(len(s.ring))].Store(it)
	s.head.Store(&streamHead{seq: it.Seq, wake: make(chan struct{})})
	close(h.wake)
	if s.tap != nil {
		s.tap(*it, false)
	}
}

// Seq is the last published sequence number.
func (s *Stream) Seq() uint64 { return s.head.Load().seq }

// Close marks the end of the stream (the room ended) and wakes the readers.
func (s *Stream) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if h := s.head.Load(); !h.closed {
		s.head.Store(&streamHead{seq: h.seq, closed: true, wake: h.wake})
		close(h.wake)
		if s.tap != nil {
			s.tap(Item{Seq: h.seq}, true)
		}
	}
}

// Read is what Since and SinceInto return.
type Read struct {
	Events []Item        // events after the cursor, oldest first (SinceInto: in the caller's buffer)
	Last   uint64        // the cursor to pass next time
	Lagged bool          // the cursor is older than the ring: take a snapshot
	Closed bool          // no more events will come after Events
	Wake   chan struct{} // closed when something new happens
}

// Since returns the events after sequence number after, in a new slice:
// for the occasional reader. A reader that reads every event uses
// SinceInto.
func (s *Stream) Since(after uint64) Read { return s.SinceInto(after, nil) }

// SinceInto returns the events after sequence number after, appended to
// buf[:0]: a reader that passes back the Events of its last read reads
// without allocating once its buffer has grown to its usual batch, where a
// new slice per reader per event would make every event cost the heap as
// much as the room has readers. Events is buf's array when it fits, so it
// is the caller's until its next SinceInto with the same buffer; the Raw
// bytes are the stream's and never change.
//
// It takes no lock: a slot overwritten by newer events while it reads (the
// reader fell a whole ring behind) makes the read Lagged, as a cursor older
// than the ring does.
func (s *Stream) SinceInto(after uint64, buf []Item) Read {
	h := s.head.Load()
	r := Read{Events: buf[:0], Last: after, Closed: h.closed, Wake: h.wake}
	if after > h.seq {
		// A cursor from the future (a stale client of an earlier process): start over.
		r.Lagged = true
		return r
	}
	n := uint64(len(s.ring))
	if h.seq-after > n {
		r.Lagged = true
		return r
	}
	for q := after + 1; q <= h.seq; q++ {
		it := s.ring[q%n].Load()
		if it == nil || it.Seq != q {
			return Read{Events: buf[:0], Last: after, Lagged: true, Closed: h.closed, Wake: h.wake}
		}
		r.Events = append(r.Events, *it)
	}
	r.Last = h.seq
	return r
}
