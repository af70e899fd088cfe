package cluster

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"time"

	"majlis/internal/program"
)

// Version is byte 0 of every message this package sends. A message of
// another version does not decode (ErrBadMessage): a fleet upgrades its
// origin and edges together, or a new version adds subjects of its own.
// Version 2: a program message may end with its chunk's speaker levels.
const Version = 2

// Limits a decoder enforces on what it reads from the network.
const (
	maxFrames     = 255  // frames in one program message (a chunk has at most 50)
	maxPacket     = 1275 // one Opus frame (RFC 6716), as program.MaxPacket
	maxRoomID     = 64   // as admission's room id limit
	maxEdgeID     = 64
	maxUserID     = 64 // a listener's user id (EventListenerRemoved)
	maxBaseURL    = 512
	maxRooms      = 10000    // rooms in one load report
	maxSketch     = 64 << 10 // bytes of one HyperLogLog sketch (p14 dense is 16 KiB)
	programHeader = 1 + 8 + 8 + 1
)

// ErrBadMessage is every decoding failure.
var ErrBadMessage = errors.New("cluster: bad message")

func bad(what string) error { return fmt.Errorf("%w: %s", ErrBadMessage, what) }

// ProgramMsg is one chunk of a room's program: consecutive frames from
// FirstSeq, numbered by the origin process whose Epoch it carries (frame
// numbers start again at 0 when the origin restarts a room's program).
type ProgramMsg struct {
	Epoch    uint64
	FirstSeq uint64
	Frames   [][]byte // alias the message's bytes
	// Levels are the speakers heard in the chunk (program.Chunk.LevelList),
	// none when nobody talked.
	Levels []program.Level
}

// AppendProgram appends the encoding of a program message:
// version, epoch, first frame number, frame count, then each frame as a
// 16-bit big-endian length and its Opus bytes, then levels as they are
// (a level list in the form of program.ParseLevels, or nothing).
func AppendProgram(b []byte, epoch, first uint64, frames [][]byte, levels []byte) []byte {
	b = append(b, Version)
	b = binary.BigEndian.AppendUint64(b, epoch)
	b = binary.BigEndian.AppendUint64(b, first)
	b = append(b, byte(len(frames)))
	for _, f := range frames {
		b = binary.BigEndian.AppendUint16(b, uint16(len(f)))
		b = append(b, f...)
	}
	return append(b, levels...)
}

// ParseProgram decodes a program message; its frames alias b.
func ParseProgram(b []byte) (ProgramMsg, error) {
	if len(b) < programHeader {
		return ProgramMsg{}, bad("program: short")
	}
	if b[0] != Version {
		return ProgramMsg{}, bad("program: version")
	}
	m := ProgramMsg{Epoch: binary.BigEndian.Uint64(b[1:]), FirstSeq: binary.BigEndian.Uint64(b[9:])}
	n := int(b[17])
	if n == 0 {
		return ProgramMsg{}, bad("program: no frames")
	}
	if m.FirstSeq > math.MaxUint64-uint64(n) {
		return ProgramMsg{}, bad("program: frame number")
	}
	b = b[programHeader:]
	m.Frames = make([][]byte, 0, n)
	for range n {
		if len(b) < 2 {
			return ProgramMsg{}, bad("program: truncated")
		}
		l := int(binary.BigEndian.Uint16(b))
		if l > maxPacket || len(b) < 2+l {
			return ProgramMsg{}, bad("program: frame length")
		}
		m.Frames = append(m.Frames, b[2:2+l:2+l])
		b = b[2+l:]
	}
	lv, err := program.ParseLevels(b)
	if err != nil {
		return ProgramMsg{}, bad("program: trailing bytes")
	}
	m.Levels = lv
	return m, nil
}

// EventKind is what happened to a room, as edges must enforce or serve it.
type EventKind byte

// Event kinds.
const (
	// EventRoomEnded: the room ended at the origin; edges close its program
	// (their listeners see the clean end) and drop the subscription.
	EventRoomEnded EventKind = 1
	// EventRoom: one event of the room's event stream (state, counts,
	// reactions, speaking: events.Item), which edges serve on the room's
	// events path; or the stream's end (Closed).
	EventRoom EventKind = 2
	// EventListenerRemoved: a user was blocked from the room at the origin,
	// or suspended, at At (the origin's clock); edges end that user's
	// listener streams in the room and refuse their tickets issued at or
	// before At (User).
	EventListenerRemoved EventKind = 3
)

// maxEventJSON bounds one room event's JSON (a room's view with its stage
// and requests is a few KiB).
const maxEventJSON = 256 << 10

// EventMsg is one room event for edges.
type EventMsg struct {
	Kind  EventKind
	Epoch uint64
	// EventRoom only:
	Seq    uint64 // the event's sequence number in the room's stream
	Closed bool   // the stream ended after Seq (JSON is empty)
	JSON   []byte // the event (events.Event); aliases the message
	// EventListenerRemoved only: the user removed (not empty) and when, on
	// the origin's clock (after 1970: sent as Unix nanoseconds, not 0).
	User string
	At   time.Time
}

// AppendEvent appends the encoding of an event: version, kind, epoch; then
// for EventRoom the sequence number, a flags byte (1: closed) and the JSON;
// for EventListenerRemoved the user id (8-bit length) and the time (Unix
// nanoseconds, 64 bits).
func AppendEvent(b []byte, e EventMsg) []byte {
	b = append(b, Version, byte(e.Kind))
	b = binary.BigEndian.AppendUint64(b, e.Epoch)
	if e.Kind == EventListenerRemoved {
		b = appendStr8(b, e.User)
		b = appendTime(b, e.At)
	}
	if e.Kind == EventRoom {
		b = binary.BigEndian.AppendUint64(b, e.Seq)
		var flags byte
		if e.Closed {
			flags = 1
		}
		b = append(b, flags)
		b = append(b, e.JSON...)
	}
	return b
}

// ParseEvent decodes an event; an unknown kind is an error.
func ParseEvent(b []byte) (EventMsg, error) {
	if len(b) < 10 || b[0] != Version {
		return EventMsg{}, bad("event: length or version")
	}
	e := EventMsg{Kind: EventKind(b[1]), Epoch: binary.BigEndian.Uint64(b[2:])}
	b = b[10:]
	switch e.Kind {
	case EventRoomEnded:
		if len(b) != 0 {
			return EventMsg{}, bad("event: trailing bytes")
		}
	case EventRoom:
		if len(b) < 9 || b[8] > 1 {
			return EventMsg{}, bad("event: room event header")
		}
		e.Seq, e.Closed = binary.BigEndian.Uint64(b), b[8] == 1
		j := b[9:]
		if e.Seq == 0 || len(j) > maxEventJSON || e.Closed != (len(j) == 0) {
			return EventMsg{}, bad("event: room event")
		}
		e.JSON = j[:len(j):len(j)]
	case EventListenerRemoved:
		d := decoder{b: b}
		e.User = d.str8(maxUserID)
		e.At = d.time()
		if err := d.end(); err != nil {
			return EventMsg{}, err
		}
		if e.User == "" {
			return EventMsg{}, bad("event: no user")
		}
	default:
		return EventMsg{}, bad("event: kind")
	}
	return e, nil
}

// SnapshotStatus is the origin's answer to a snapshot request.
type SnapshotStatus byte

// Snapshot statuses.
const (
	SnapshotOK       SnapshotStatus = 0
	SnapshotNotFound SnapshotStatus = 1 // no such room
	SnapshotFailed   SnapshotStatus = 2 // the origin could not read it (try again)
)

// SnapshotMsg is the origin's reply on a room's snapshot subject: the
// room's state as one event (its snapshot event, numbered like the events
// after which it stands), and whether the stream has ended.
type SnapshotMsg struct {
	Status SnapshotStatus
	Closed bool
	Seq    uint64
	JSON   []byte // aliases the message
}

// AppendSnapshot appends the encoding of a snapshot reply: version,
// status, flags (1: closed), sequence number, JSON.
func AppendSnapshot(b []byte, s SnapshotMsg) []byte {
	var flags byte
	if s.Closed {
		flags = 1
	}
	b = append(b, Version, byte(s.Status), flags)
	b = binary.BigEndian.AppendUint64(b, s.Seq)
	return append(b, s.JSON...)
}

// ParseSnapshot decodes a snapshot reply.
func ParseSnapshot(b []byte) (SnapshotMsg, error) {
	if len(b) < 11 || b[0] != Version || b[1] > byte(SnapshotFailed) || b[2] > 1 {
		return SnapshotMsg{}, bad("snapshot: header")
	}
	s := SnapshotMsg{Status: SnapshotStatus(b[1]), Closed: b[2] == 1, Seq: binary.BigEndian.Uint64(b[3:])}
	j := b[11:]
	if len(j) > maxEventJSON || (s.Status == SnapshotOK) == (len(j) == 0) {
		return SnapshotMsg{}, bad("snapshot: body")
	}
	s.JSON = j[:len(j):len(j)]
	return s, nil
}

// Removals: an edge that was away from the cluster (starting, or
// reconnecting) may have missed listener removals (EventListenerRemoved
// is delivered at most once). It asks the origin on subjectRemovals for
// those after the last it knows of, and gets them a page at a time.

// maxRemovalsPage bounds the removals in one reply: about 140 KiB at the
// longest ids, well under a NATS server's 1 MiB payload.
const maxRemovalsPage = 1000

// Removal is one listener removal at the origin.
type Removal struct {
	Room string // "" for every room (a suspension)
	User string // not empty
	At   time.Time
}

// RemovalsMsg is one page of the origin's recent removals, oldest first
// (their times strictly increase); More: ask again after the last one.
type RemovalsMsg struct {
	More     bool
	Removals []Removal
}

// AppendRemovalsRequest appends the encoding of a removals request:
// version, then the time after which the asker wants them (Unix
// nanoseconds; 0 for all of them).
func AppendRemovalsRequest(b []byte, since time.Time) []byte {
	b = append(b, Version)
	if since.IsZero() {
		return binary.BigEndian.AppendUint64(b, 0)
	}
	return appendTime(b, since)
}

// ParseRemovalsRequest decodes a removals request (the zero time: all).
func ParseRemovalsRequest(b []byte) (time.Time, error) {
	d := decoder{b: b}
	if d.byte() != Version {
		return time.Time{}, bad("removals request: version")
	}
	n := d.u64()
	if err := d.end(); err != nil {
		return time.Time{}, err
	}
	if n > math.MaxInt64 {
		return time.Time{}, bad("removals request: time")
	}
	if n == 0 {
		return time.Time{}, nil
	}
	return time.Unix(0, int64(n)), nil
}

// AppendRemovals appends the encoding of a removals reply: version, flags
// (1: more), count (16-bit), then each removal's room id (8-bit length,
// empty for every room), user id (8-bit length) and time (Unix
// nanoseconds).
func AppendRemovals(b []byte, m RemovalsMsg) []byte {
	var flags byte
	if m.More {
		flags = 1
	}
	b = append(b, Version, flags)
	b = binary.BigEndian.AppendUint16(b, uint16(len(m.Removals)))
	for _, r := range m.Removals {
		b = appendStr8(b, r.Room)
		b = appendStr8(b, r.User)
		b = appendTime(b, r.At)
	}
	return b
}

// ParseRemovals decodes a removals reply: at most maxRemovalsPage
// removals, each naming a user, in strictly increasing time.
func ParseRemovals(b []byte) (RemovalsMsg, error) {
	d := decoder{b: b}
	if d.byte() != Version {
		return RemovalsMsg{}, bad("removals: version")
	}
	flags := d.byte()
	n := int(d.u16())
	if d.err == nil && (flags > 1 || n > maxRemovalsPage) {
		d.err = bad("removals: header")
	}
	m := RemovalsMsg{More: flags == 1}
	for i := 0; i < n && d.err == nil; i++ {
		r := Removal{Room: d.str8(maxRoomID), User: d.str8(maxUserID), At: d.time()}
		if d.err == nil && (r.User == "" || i > 0 && !r.At.After(m.Removals[i-1].At)) {
			d.err = bad("removals: removal")
		}
		if m.Removals == nil {
			m.Removals = make([]Removal, 0, min(n, len(b)/10))
		}
		m.Removals = append(m.Removals, r)
	}
	if err := d.end(); err != nil {
		return RemovalsMsg{}, err
	}
	return m, nil
}

// RoomState is the origin's answer to "is this room live?".
type RoomState byte

// Room states.
const (
	StateNotLive RoomState = 0
	StateLive    RoomState = 1
)

// StateMsg is the origin's reply on a room's state subject.
type StateMsg struct {
	State RoomState
	Epoch uint64
}

// AppendState appends the encoding of a state reply: version, state, epoch.
func AppendState(b []byte, s StateMsg) []byte {
	b = append(b, Version, byte(s.State))
	return binary.BigEndian.AppendUint64(b, s.Epoch)
}

// ParseState decodes a state reply.
func ParseState(b []byte) (StateMsg, error) {
	if len(b) != 10 || b[0] != Version || b[1] > byte(StateLive) {
		return StateMsg{}, bad("state")
	}
	return StateMsg{State: RoomState(b[1]), Epoch: binary.BigEndian.Uint64(b[2:])}, nil
}

// LoadReport is an edge's load, sent every second.
type LoadReport struct {
	Edge        string // the edge's id (random per process)
	BaseURL     string // where its listeners connect: http(s)://host:port
	Connections uint32 // listener connections it holds now
	Rooms       []RoomLoad
}

// RoomLoad is one room's listeners on an edge.
type RoomLoad struct {
	Room      string
	Listeners uint32
}

// AppendLoad appends the encoding of a load report: version, edge id (8-bit
// length), base URL (16-bit length), connections, room count (16-bit), then
// each room's id (8-bit length) and listeners (32-bit).
func AppendLoad(b []byte, r LoadReport) []byte {
	b = append(b, Version)
	b = appendStr8(b, r.Edge)
	b = binary.BigEndian.AppendUint16(b, uint16(len(r.BaseURL)))
	b = append(b, r.BaseURL...)
	b = binary.BigEndian.AppendUint32(b, r.Connections)
	b = binary.BigEndian.AppendUint16(b, uint16(len(r.Rooms)))
	for _, rm := range r.Rooms {
		b = appendStr8(b, rm.Room)
		b = binary.BigEndian.AppendUint32(b, rm.Listeners)
	}
	return b
}

// ParseLoad decodes a load report.
func ParseLoad(b []byte) (LoadReport, error) {
	d := decoder{b: b}
	if d.byte() != Version {
		return LoadReport{}, bad("load: version")
	}
	var r LoadReport
	r.Edge = d.str8(maxEdgeID)
	r.BaseURL = d.str16(maxBaseURL)
	r.Connections = d.u32()
	n := int(d.u16())
	if d.err == nil && n > maxRooms {
		d.err = bad("load: rooms")
	}
	if d.err == nil && r.Edge == "" {
		d.err = bad("load: no edge id")
	}
	for i := 0; i < n && d.err == nil; i++ {
		id := d.str8(maxRoomID)
		l := d.u32()
		if r.Rooms == nil {
			r.Rooms = make([]RoomLoad, 0, min(n, len(b)/5))
		}
		r.Rooms = append(r.Rooms, RoomLoad{Room: id, Listeners: l})
	}
	if err := d.end(); err != nil {
		return LoadReport{}, err
	}
	return r, nil
}

// SketchReport is an edge's HyperLogLog sketch of the ticket nonces of a
// room's listeners since it learnt the origin's Epoch for that room.
type SketchReport struct {
	Edge   string
	Room   string
	Epoch  uint64
	Sketch []byte // hyperloglog.Sketch.MarshalBinary; aliases the message
}

// AppendSketch appends the encoding of a sketch report: version, edge id
// and room id (8-bit lengths), epoch, sketch (32-bit length).
func AppendSketch(b []byte, s SketchReport) []byte {
	b = append(b, Version)
	b = appendStr8(b, s.Edge)
	b = appendStr8(b, s.Room)
	b = binary.BigEndian.AppendUint64(b, s.Epoch)
	b = binary.BigEndian.AppendUint32(b, uint32(len(s.Sketch)))
	return append(b, s.Sketch...)
}

// ParseSketch decodes a sketch report (the sketch itself is decoded by
// the Fleet, which also refuses a bad one).
func ParseSketch(b []byte) (SketchReport, error) {
	d := decoder{b: b}
	if d.byte() != Version {
		return SketchReport{}, bad("sketch: version")
	}
	var s SketchReport
	s.Edge = d.str8(maxEdgeID)
	s.Room = d.str8(maxRoomID)
	s.Epoch = d.u64()
	n := d.u32()
	if d.err == nil && (n > maxSketch || int(n) != len(d.b)) {
		d.err = bad("sketch: length")
	}
	if d.err == nil {
		s.Sketch = d.b[:n:n]
		d.b = d.b[n:]
	}
	if d.err == nil && (s.Edge == "" || s.Room == "") {
		d.err = bad("sketch: ids")
	}
	if err := d.end(); err != nil {
		return SketchReport{}, err
	}
	return s, nil
}

// appendTime appends t as Unix nanoseconds; a time before 1970 or past
// 2262 (which no clock of this fleet reads) is sent as 0, which no decoder
// takes.
func appendTime(b []byte, t time.Time) []byte {
	n := t.UnixNano()
	if t.Before(time.Unix(0, 1)) || n <= 0 {
		n = 0
	}
	return binary.BigEndian.AppendUint64(b, uint64(n))
}

func appendStr8(b []byte, s string) []byte {
	if len(s) > 255 {
		s = s[:255]
	}
	b = append(b, byte(len(s)))
	return append(b, s...)
}

// decoder reads big-endian fields; the first failure sticks in err.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) take(n int) []byte {
	if d.err != nil {
		return nil
	}
	if len(d.b) < n {
		d.err = bad("truncated")
		return nil
	}
	v := d.b[:n]
	d.b = d.b[n:]
	return v
}

func (d *decoder) byte() byte {
	if v := d.take(1); v != nil {
		return v[0]
	}
	return 0
}

func (d *decoder) u16() uint16 {
	if v := d.take(2); v != nil {
		return binary.BigEndian.Uint16(v)
	}
	return 0
}

func (d *decoder) u32() uint32 {
	if v := d.take(4); v != nil {
		return binary.BigEndian.Uint32(v)
	}
	return 0
}

func (d *decoder) u64() uint64 {
	if v := d.take(8); v != nil {
		return binary.BigEndian.Uint64(v)
	}
	return 0
}

// time reads appendTime's Unix nanoseconds: 0, or past what an int64 holds, is an error.
func (d *decoder) time() time.Time {
	n := d.u64()
	if d.err == nil && (n == 0 || n > math.MaxInt64) {
		d.err = bad("time")
	}
	return time.Unix(0, int64(n))
}

func (d *decoder) str8(limit int) string {
	n := int(d.byte())
	if d.err == nil && n > limit {
		d.err = bad("string length")
	}
	return string(d.take(n))
}

func (d *decoder) str16(limit int) string {
	n := int(d.u16())
	if d.err == nil && n > limit {
		d.err = bad("string length")
	}
	return string(d.take(n))
}

func (d *decoder) end() error {
	if d.err == nil && len(d.b) != 0 {
		d.err = bad("trailing bytes")
	}
	return d.err
}
