package cluster

import (
	"bytes"
	"encoding/binary"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"majlis/internal/program"
)

func TestProgramRoundTrip(t *testing.T) {
	frames := [][]byte{{0xF8, 0xFF, 0xFE}, bytes.Repeat([]byte{7}, maxPacket), {}}
	b := AppendProgram(nil, 42, 1000, frames, nil)
	m, err := ParseProgram(b)
	if err != nil {
		t.Fatal(err)
	}
	if m.Epoch != 42 || m.FirstSeq != 1000 || len(m.Frames) != 3 || m.Levels != nil {
		t.Fatalf("got %+v", m)
	}
	// The chunk's level list rides after the frames.
	m, err = ParseProgram(AppendProgram(nil, 42, 1000, frames, []byte{1, 0x0a, 0x0b, 0x0c, 0x0d, 70}))
	if err != nil || len(m.Levels) != 1 || m.Levels[0] != (program.Level{Speaker: 0x0a0b0c0d, Level: 70}) {
		t.Fatalf("levels: %+v %v", m.Levels, err)
	}
	for i := range frames {
		if !bytes.Equal(m.Frames[i], frames[i]) {
			t.Fatalf("frame %d differs", i)
		}
	}
}

func TestEventStateRoundTrip(t *testing.T) {
	e, err := ParseEvent(AppendEvent(nil, EventMsg{Kind: EventRoomEnded, Epoch: 9}))
	if err != nil || e.Kind != EventRoomEnded || e.Epoch != 9 {
		t.Fatalf("event: %+v %v", e, err)
	}
	s, err := ParseState(AppendState(nil, StateMsg{State: StateLive, Epoch: 3}))
	if err != nil || s.State != StateLive || s.Epoch != 3 {
		t.Fatalf("state: %+v %v", s, err)
	}
	j := []byte(`{"seq":12,"type":"counts"}`)
	e, err = ParseEvent(AppendEvent(nil, EventMsg{Kind: EventRoom, Epoch: 9, Seq: 12, JSON: j}))
	if err != nil || e.Kind != EventRoom || e.Seq != 12 || e.Closed || string(e.JSON) != string(j) {
		t.Fatalf("room event: %+v %v", e, err)
	}
	e, err = ParseEvent(AppendEvent(nil, EventMsg{Kind: EventRoom, Epoch: 9, Seq: 13, Closed: true}))
	if err != nil || !e.Closed || e.Seq != 13 || len(e.JSON) != 0 {
		t.Fatalf("room stream end: %+v %v", e, err)
	}
	at := time.Unix(1_700_000_000, 123_456_789)
	e, err = ParseEvent(AppendEvent(nil, EventMsg{Kind: EventListenerRemoved, Epoch: 9, User: "u-amal", At: at}))
	if err != nil || e.Kind != EventListenerRemoved || e.Epoch != 9 || e.User != "u-amal" || !e.At.Equal(at) {
		t.Fatalf("listener removed: %+v %v", e, err)
	}
	long := strings.Repeat("u", maxUserID)
	if e, err = ParseEvent(AppendEvent(nil, EventMsg{Kind: EventListenerRemoved, User: long, At: at})); err != nil || e.User != long {
		t.Fatalf("listener removed, longest user id: %+v %v", e, err)
	}
	sn, err := ParseSnapshot(AppendSnapshot(nil, SnapshotMsg{Status: SnapshotOK, Closed: true, Seq: 12, JSON: j}))
	if err != nil || sn.Status != SnapshotOK || !sn.Closed || sn.Seq != 12 || string(sn.JSON) != string(j) {
		t.Fatalf("snapshot: %+v %v", sn, err)
	}
	sn, err = ParseSnapshot(AppendSnapshot(nil, SnapshotMsg{Status: SnapshotNotFound}))
	if err != nil || sn.Status != SnapshotNotFound {
		t.Fatalf("snapshot not found: %+v %v", sn, err)
	}
}

func TestRemovalsRoundTrip(t *testing.T) {
	at := time.Unix(1_700_000_000, 5)
	for _, since := range []time.Time{{}, at} {
		if got, err := ParseRemovalsRequest(AppendRemovalsRequest(nil, since)); err != nil || !got.Equal(since) {
			t.Fatalf("request since %v: %v %v", since, got, err)
		}
	}
	m := RemovalsMsg{More: true, Removals: []Removal{
		{Room: "r1", User: "u-amal", At: at},
		{User: "u-badr", At: at.Add(time.Nanosecond)}, // a suspension: every room
		{Room: strings.Repeat("r", maxRoomID), User: strings.Repeat("u", maxUserID), At: at.Add(time.Second)},
	}}
	got, err := ParseRemovals(AppendRemovals(nil, m))
	if err != nil || got.More != m.More || len(got.Removals) != 3 {
		t.Fatalf("removals: %+v %v", got, err)
	}
	for i, r := range got.Removals {
		if r.Room != m.Removals[i].Room || r.User != m.Removals[i].User || !r.At.Equal(m.Removals[i].At) {
			t.Fatalf("removal %d: %+v, want %+v", i, r, m.Removals[i])
		}
	}
	if got, err := ParseRemovals(AppendRemovals(nil, RemovalsMsg{})); err != nil || got.More || len(got.Removals) != 0 {
		t.Fatalf("no removals: %+v %v", got, err)
	}
}

func TestLoadSketchRoundTrip(t *testing.T) {
	r := LoadReport{Edge: "e1", BaseURL: "http://127.0.0.1:8081", Connections: 7,
		Rooms: []RoomLoad{{Room: "abc", Listeners: 3}, {Room: "def", Listeners: 4}}}
	got, err := ParseLoad(AppendLoad(nil, r))
	if err != nil || !reflect.DeepEqual(got, r) {
		t.Fatalf("load: %+v %v", got, err)
	}
	s := SketchReport{Edge: "e1", Room: "abc", Epoch: 5, Sketch: []byte{1, 2, 3}}
	gs, err := ParseSketch(AppendSketch(nil, s))
	if err != nil || !reflect.DeepEqual(gs, s) {
		t.Fatalf("sketch: %+v %v", gs, err)
	}
}

// TestBadMessages: every malformed message is ErrBadMessage, never a panic.
func TestBadMessages(t *testing.T) {
	good := AppendProgram(nil, 1, 2, [][]byte{{1, 2, 3}}, nil)
	wrongVersion := append([]byte{Version + 1}, good[1:]...)
	tooLong := AppendProgram(nil, 1, 2, [][]byte{bytes.Repeat([]byte{1}, maxPacket+1)}, nil)
	overflow := AppendProgram(nil, 1, ^uint64(0), [][]byte{{1}}, nil)
	load := AppendLoad(nil, LoadReport{Edge: "e", BaseURL: "http://h:1", Rooms: []RoomLoad{{Room: "r", Listeners: 1}}})
	now := time.Now()
	removals := AppendRemovals(nil, RemovalsMsg{More: true, Removals: []Removal{{Room: "r", User: "u", At: now}, {User: "v", At: now.Add(1)}}})
	cases := map[string]func() error{
		"program empty":         func() error { _, err := ParseProgram(nil); return err },
		"program version":       func() error { _, err := ParseProgram(wrongVersion); return err },
		"program truncated":     func() error { _, err := ParseProgram(good[:len(good)-1]); return err },
		"program trailing":      func() error { _, err := ParseProgram(append(good, 0)); return err },
		"program frame too big": func() error { _, err := ParseProgram(tooLong); return err },
		"program seq overflow":  func() error { _, err := ParseProgram(overflow); return err },
		"program no frames":     func() error { _, err := ParseProgram(AppendProgram(nil, 1, 2, nil, nil)); return err },
		"program short levels":  func() error { _, err := ParseProgram(append(good, 2, 0, 0, 0, 1, 9)); return err },
		"event kind":            func() error { _, err := ParseEvent(AppendEvent(nil, EventMsg{Kind: 99})); return err },
		"event ended trailing": func() error {
			_, err := ParseEvent(append(AppendEvent(nil, EventMsg{Kind: EventRoomEnded}), 1))
			return err
		},
		"removed no user": func() error {
			_, err := ParseEvent(AppendEvent(nil, EventMsg{Kind: EventListenerRemoved, At: now}))
			return err
		},
		"removed user too long": func() error {
			_, err := ParseEvent(AppendEvent(nil, EventMsg{Kind: EventListenerRemoved, User: strings.Repeat("u", maxUserID+1), At: now}))
			return err
		},
		"removed truncated": func() error {
			b := AppendEvent(nil, EventMsg{Kind: EventListenerRemoved, User: "u-amal", At: now})
			_, err := ParseEvent(b[:len(b)-1])
			return err
		},
		"removed trailing": func() error {
			_, err := ParseEvent(append(AppendEvent(nil, EventMsg{Kind: EventListenerRemoved, User: "u-amal", At: now}), 0))
			return err
		},
		"removed no length": func() error {
			_, err := ParseEvent([]byte{Version, byte(EventListenerRemoved), 0, 0, 0, 0, 0, 0, 0, 1})
			return err
		},
		"removed no time": func() error { // the format before the time was added
			_, err := ParseEvent(append([]byte{Version, byte(EventListenerRemoved), 0, 0, 0, 0, 0, 0, 0, 1}, 6, 'u', '-', 'a', 'm', 'a', 'l'))
			return err
		},
		"removed time 0": func() error {
			_, err := ParseEvent(AppendEvent(nil, EventMsg{Kind: EventListenerRemoved, User: "u-amal"}))
			return err
		},
		"removed time past int64": func() error {
			b := AppendEvent(nil, EventMsg{Kind: EventListenerRemoved, User: "u-amal", At: now})
			b[len(b)-8] = 0x80
			_, err := ParseEvent(b)
			return err
		},
		"removals request version": func() error {
			_, err := ParseRemovalsRequest(append([]byte{Version + 1}, AppendRemovalsRequest(nil, now)[1:]...))
			return err
		},
		"removals request short": func() error { _, err := ParseRemovalsRequest([]byte{Version, 0, 0}); return err },
		"removals request trailing": func() error {
			_, err := ParseRemovalsRequest(append(AppendRemovalsRequest(nil, now), 0))
			return err
		},
		"removals request time past int64": func() error {
			_, err := ParseRemovalsRequest([]byte{Version, 0x80, 0, 0, 0, 0, 0, 0, 0})
			return err
		},
		"removals version": func() error {
			_, err := ParseRemovals(append([]byte{Version + 1}, removals[1:]...))
			return err
		},
		"removals flags": func() error {
			b := append([]byte(nil), removals...)
			b[1] = 2
			_, err := ParseRemovals(b)
			return err
		},
		"removals too many": func() error {
			_, err := ParseRemovals(binary.BigEndian.AppendUint16([]byte{Version, 0}, maxRemovalsPage+1))
			return err
		},
		"removals truncated": func() error { _, err := ParseRemovals(removals[:len(removals)-1]); return err },
		"removals trailing":  func() error { _, err := ParseRemovals(append(removals, 0)); return err },
		"removals count short": func() error {
			b := append([]byte(nil), removals...)
			b[3]++ // one more than there are
			_, err := ParseRemovals(b)
			return err
		},
		"removals no user": func() error {
			_, err := ParseRemovals(AppendRemovals(nil, RemovalsMsg{Removals: []Removal{{Room: "r", At: now}}}))
			return err
		},
		"removals room too long": func() error {
			_, err := ParseRemovals(AppendRemovals(nil, RemovalsMsg{Removals: []Removal{{Room: strings.Repeat("r", maxRoomID+1), User: "u", At: now}}}))
			return err
		},
		"removals time 0": func() error {
			_, err := ParseRemovals(AppendRemovals(nil, RemovalsMsg{Removals: []Removal{{User: "u"}}}))
			return err
		},
		"removals out of order": func() error {
			_, err := ParseRemovals(AppendRemovals(nil, RemovalsMsg{Removals: []Removal{{User: "u", At: now}, {User: "v", At: now}}}))
			return err
		},
		"room event no json": func() error { _, err := ParseEvent(AppendEvent(nil, EventMsg{Kind: EventRoom, Seq: 1})); return err },
		"room event seq 0": func() error {
			_, err := ParseEvent(AppendEvent(nil, EventMsg{Kind: EventRoom, JSON: []byte("{}")}))
			return err
		},
		"room event closed json": func() error {
			_, err := ParseEvent(AppendEvent(nil, EventMsg{Kind: EventRoom, Seq: 1, Closed: true, JSON: []byte("{}")}))
			return err
		},
		"room event too big": func() error {
			_, err := ParseEvent(AppendEvent(nil, EventMsg{Kind: EventRoom, Seq: 1, JSON: make([]byte, maxEventJSON+1)}))
			return err
		},
		"snapshot ok empty": func() error { _, err := ParseSnapshot(AppendSnapshot(nil, SnapshotMsg{Seq: 1})); return err },
		"snapshot status": func() error {
			_, err := ParseSnapshot(AppendSnapshot(nil, SnapshotMsg{Status: 9, JSON: []byte("{}")}))
			return err
		},
		"snapshot short": func() error { _, err := ParseSnapshot([]byte{Version, 0, 0}); return err },
		"snapshot failed json": func() error {
			_, err := ParseSnapshot(AppendSnapshot(nil, SnapshotMsg{Status: SnapshotFailed, JSON: []byte("{}")}))
			return err
		},
		"state value":    func() error { _, err := ParseState(AppendState(nil, StateMsg{State: 7})); return err },
		"load truncated": func() error { _, err := ParseLoad(load[:len(load)-2]); return err },
		"load trailing":  func() error { _, err := ParseLoad(append(load, 1)); return err },
		"load no edge":   func() error { _, err := ParseLoad(AppendLoad(nil, LoadReport{BaseURL: "http://h:1"})); return err },
		"sketch bad length": func() error {
			_, err := ParseSketch(append(AppendSketch(nil, SketchReport{Edge: "e", Room: "r", Sketch: []byte{1}}), 9))
			return err
		},
		"sketch bytes": func() error { _, err := parseSketch([]byte{1, 2, 3, 4, 5}); return err },
	}
	for name, f := range cases {
		if err := f(); !errors.Is(err, ErrBadMessage) {
			t.Errorf("%s: %v, want ErrBadMessage", name, err)
		}
	}
}

func TestRoomToken(t *testing.T) {
	for _, id := range []string{"abcdefgh23456789", "xabc", "A.B", "*", ">", "room with space", "ü"} {
		tok := roomToken(id)
		for _, c := range []byte(tok) {
			if c == '.' || c == '*' || c == '>' || c == ' ' {
				t.Fatalf("%q: token %q is not one subject token", id, tok)
			}
		}
		if back, ok := roomFromToken(tok); !ok || back != id {
			t.Fatalf("%q: token %q reads back as %q", id, tok, back)
		}
	}
}

func TestSketchEstimate(t *testing.T) {
	a, b := NewSketch(), NewSketch()
	for i := range uint64(20000) {
		a.Insert(i)
		b.Insert(i + 10000) // half of them shared
	}
	ab, _ := a.MarshalBinary()
	bb, _ := b.MarshalBinary()
	sa, err := parseSketch(ab)
	if err != nil {
		t.Fatal(err)
	}
	sb, err := parseSketch(bb)
	if err != nil {
		t.Fatal(err)
	}
	m := newSketch()
	for _, s := range []*sketch{sa, sb, sa} { // merging again changes nothing
		if err := m.merge(s); err != nil {
			t.Fatal(err)
		}
	}
	// 30000 distinct; 4 standard errors of 0.81 % is ±3.3 %.
	if got := float64(m.estimate()); got < 30000*0.967 || got > 30000*1.033 {
		t.Fatalf("merged estimate %.0f, want 30000 ± 3.3 %%", got)
	}
	small := NewSketch()
	for i := range uint64(100) {
		small.Insert(i * 7919)
	}
	if got := small.Estimate(); got < 98 || got > 102 {
		t.Fatalf("small sketch: %d, want 100 ± 2 (sparse)", got)
	}
}
