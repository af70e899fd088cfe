package cluster

import (
	"bytes"
	"errors"
	"testing"
	"time"
)

// The decoders face the network (any publisher on the cluster): whatever
// the bytes, they return a message or ErrBadMessage, never panic, and what
// they accept encodes back to the same bytes.

func FuzzParseProgram(f *testing.F) {
	f.Add(AppendProgram(nil, 1, 0, [][]byte{{0xF8, 0xFF, 0xFE}, {1, 2}}, nil))
	f.Add(AppendProgram(nil, 1, 0, [][]byte{{0xF8, 0xFF, 0xFE}}, []byte{2, 0, 0, 0, 7, 60, 1, 2, 3, 4, 50}))
	f.Add([]byte{Version})
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := ParseProgram(b)
		if err != nil {
			if !errors.Is(err, ErrBadMessage) {
				t.Fatalf("error %v is not ErrBadMessage", err)
			}
			return
		}
		var lv []byte
		if len(m.Levels) > 0 {
			lv = append(lv, byte(len(m.Levels)))
			for _, l := range m.Levels {
				lv = append(lv, byte(l.Speaker>>24), byte(l.Speaker>>16), byte(l.Speaker>>8), byte(l.Speaker), l.Level)
			}
		}
		if got := AppendProgram(nil, m.Epoch, m.FirstSeq, m.Frames, lv); string(got) != string(b) {
			t.Fatalf("re-encoded %x, want %x", got, b)
		}
	})
}

func FuzzParseLoad(f *testing.F) {
	f.Add(AppendLoad(nil, LoadReport{Edge: "e1", BaseURL: "http://127.0.0.1:8081", Connections: 2, Rooms: []RoomLoad{{Room: "r", Listeners: 2}}}))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := ParseLoad(b)
		if err != nil {
			if !errors.Is(err, ErrBadMessage) {
				t.Fatalf("error %v is not ErrBadMessage", err)
			}
			return
		}
		if got := AppendLoad(nil, r); string(got) != string(b) {
			t.Fatalf("re-encoded %x, want %x", got, b)
		}
	})
}

func FuzzParseSketch(f *testing.F) {
	sk := NewSketch()
	for i := range uint64(50) {
		sk.Insert(i)
	}
	sb, _ := sk.MarshalBinary()
	f.Add(AppendSketch(nil, SketchReport{Edge: "e1", Room: "r", Epoch: 1, Sketch: sb}))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := ParseSketch(b)
		if err != nil {
			if !errors.Is(err, ErrBadMessage) {
				t.Fatalf("error %v is not ErrBadMessage", err)
			}
			return
		}
		if _, err := parseSketch(s.Sketch); err != nil && !errors.Is(err, ErrBadMessage) {
			t.Fatalf("sketch error %v is not ErrBadMessage", err)
		}
	})
}

func FuzzParseEventState(f *testing.F) {
	f.Add(AppendEvent(nil, EventMsg{Kind: EventRoomEnded, Epoch: 1}))
	f.Add(AppendState(nil, StateMsg{State: StateLive, Epoch: 1}))
	f.Add(AppendEvent(nil, EventMsg{Kind: EventRoom, Epoch: 1, Seq: 2, JSON: []byte(`{"seq":2}`)}))
	f.Add(AppendSnapshot(nil, SnapshotMsg{Seq: 2, JSON: []byte(`{"seq":2}`)}))
	at := time.Unix(1_700_000_000, 7)
	f.Add(AppendEvent(nil, EventMsg{Kind: EventListenerRemoved, Epoch: 1, User: "u-amal", At: at}))
	f.Add(AppendRemovalsRequest(nil, at))
	f.Add(AppendRemovals(nil, RemovalsMsg{More: true, Removals: []Removal{{Room: "r", User: "u-amal", At: at}, {User: "u-badr", At: at.Add(1)}}}))
	f.Fuzz(func(t *testing.T, b []byte) {
		if e, err := ParseEvent(b); err != nil && !errors.Is(err, ErrBadMessage) {
			t.Fatal(err)
		} else if err == nil && e.Kind == EventRoom && (e.Seq == 0 || len(e.JSON) > maxEventJSON) {
			t.Fatalf("accepted %+v", e)
		} else if err == nil && e.Kind == EventListenerRemoved && (e.User == "" || len(e.User) > maxUserID || e.At.UnixNano() <= 0) {
			t.Fatalf("accepted %+v", e)
		} else if err == nil && !bytes.Equal(AppendEvent(nil, e), b) {
			t.Fatalf("%+v does not encode as it came: %x", e, b)
		}
		if _, err := ParseSnapshot(b); err != nil && !errors.Is(err, ErrBadMessage) {
			t.Fatal(err)
		}
		if _, err := ParseState(b); err != nil && !errors.Is(err, ErrBadMessage) {
			t.Fatal(err)
		}
		if since, err := ParseRemovalsRequest(b); err != nil && !errors.Is(err, ErrBadMessage) {
			t.Fatal(err)
		} else if err == nil && !bytes.Equal(AppendRemovalsRequest(nil, since), b) {
			t.Fatalf("removals request since %v does not encode as it came: %x", since, b)
		}
		if m, err := ParseRemovals(b); err != nil && !errors.Is(err, ErrBadMessage) {
			t.Fatal(err)
		} else if err == nil {
			for i, r := range m.Removals {
				if r.User == "" || len(r.User) > maxUserID || len(r.Room) > maxRoomID || r.At.UnixNano() <= 0 || i > 0 && !r.At.After(m.Removals[i-1].At) {
					t.Fatalf("accepted removal %d: %+v", i, r)
				}
			}
			if !bytes.Equal(AppendRemovals(nil, m), b) {
				t.Fatalf("%+v does not encode as it came: %x", m, b)
			}
		}
	})
}
