package room

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
)

// fakeRecorder is room.Recorder without files.
type fakeRecorder struct {
	mu sync.Mutex
	st map[string]RecordingState
}

func (f *fakeRecorder) SetRecording(id string, on bool) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.st == nil {
		f.st = make(map[string]RecordingState)
	}
	s := f.st[id]
	s.On, s.Exists = on, s.Exists || on
	f.st[id] = s
	return nil
}

func (f *fakeRecorder) SpeakerTurn(room, member, name string) {}

func (f *fakeRecorder) Recording(id string) RecordingState {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.st[id]
}

func (f *fakeRecorder) set(id string, edit func(*RecordingState)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.st == nil {
		f.st = make(map[string]RecordingState)
	}
	s := f.st[id]
	edit(&s)
	f.st[id] = s
}

func setRecording(on bool) op {
	return func(ctx context.Context, f *permFixture, a Actor) error { return f.s.SetRecording(ctx, a, f.id, on) }
}
func manageRecording() op {
	return func(ctx context.Context, f *permFixture, a Actor) error { return f.s.ManageRecording(ctx, a, f.id) }
}
func playReplay() op {
	return func(ctx context.Context, f *permFixture, a Actor) error { return f.s.PlayReplay(ctx, a, f.id) }
}
func makeClip() op {
	return func(ctx context.Context, f *permFixture, a Actor) error { return f.s.MakeClip(ctx, a, f.id) }
}
func playEvidence() op {
	return func(ctx context.Context, f *permFixture, a Actor) error { return PlayEvidence(a) }
}

// recorderSetting is a prep step that changes the host's recording
// settings in the fake recorder (the permission is checked elsewhere).
func recorderSetting(edit func(*RecordingState)) op {
	return func(ctx context.Context, f *permFixture, a Actor) error {
		f.s.cfg.Recorder.(*fakeRecorder).set(f.id, edit)
		return nil
	}
}

// TestRecordingView: turning recording on shows in the room's view and
// sends recording_changed with the room's full state.
func TestRecordingView(t *testing.T) {
	rec := &fakeRecorder{}
	s, st, _ := newService(t, func(c *Config) { c.Recorder = rec })
	id, host := liveRoom(t, s, st)
	ctx := context.Background()
	sub, err := s.Subscribe(ctx, id, 0)
	if err != nil {
		t.Fatal(err)
	}
	sub.Next(ctx) // the snapshot
	if err := s.SetRecording(ctx, host, id, true); err != nil {
		t.Fatal(err)
	}
	v, _ := s.View(ctx, id)
	if !v.Recording {
		t.Fatalf("view after recording on: %+v", v)
	}
	batch, _, err := sub.Next(ctx)
	if err != nil || len(batch) != 1 {
		t.Fatalf("event: %v %v", batch, err)
	}
	if raw := string(batch[0].Raw); eventType(batch[0].Raw) != "recording_changed" || !strings.Contains(raw, `"recording":true`) {
		t.Fatalf("event %s", raw)
	}
	rec.set(id, func(r *RecordingState) { r.On, r.Error = false, "disk full" })
	s.RecordingChanged(id)
	v, _ = s.View(ctx, id)
	if v.Recording || v.RecordingError != "disk full" {
		t.Fatalf("view after a write error: %+v", v)
	}
	s2, st2, _ := newService(t, nil)
	id2, host2 := liveRoom(t, s2, st2)
	if err := s2.SetRecording(ctx, host2, id2, true); !errors.Is(err, ErrNoRecorder) {
		t.Fatalf("no recorder: %v", err)
	}
}
