package room

import (
	"context"
	"errors"
)

// Recorder keeps the rooms' recordings (recording.Manager): the domain
// decides who may turn recording on, the recorder does it.
type Recorder interface {
	// SetRecording turns a room's recording on or off; on before the room
	// is live arms it. It does not wait for the disk.
	SetRecording(room string, on bool) error
	// Recording is a room's recording state; it takes no room lock.
	Recording(room string) RecordingState
	// SpeakerTurn marks that a member began speaking (took the stage):
	// a chapter of the replay when the room is being recorded.
	SpeakerTurn(room, member, name string)
}

// RecordingState is what the room's view and the decisions need of a
// recording.
type RecordingState struct {
	On       bool   // recording now, or armed to start with the room
	Error    string // the write error that stopped it, "" when none
	Exists   bool   // a recording file exists (live or the replay)
	Public   bool   // the replay is public (else hosts only)
	ClipsOff bool   // the host turned clips off
}

// Errors of recording decisions.
var (
	ErrNoRecorder = errors.New("recording is not available on this server")
	ErrClipsOff   = errors.New("clips are turned off in this room")
)

// SetRecording turns the room's recording on or off: the host, co-hosts,
// platform moderators and admins, before or during the room. Everyone
// learns it from the room's view (`recording`) and a recording_changed
// event.
func (s *Service) SetRecording(ctx context.Context, a Actor, id string, on bool) error {
	return s.do(ctx, id, func(r *state) ([]Published, error) {
		if err := r.moderator(a); err != nil {
			return nil, err
		}
		if s.cfg.Recorder == nil {
			return nil, ErrNoRecorder
		}
		if err := s.cfg.Recorder.SetRecording(id, on); err != nil {
			return nil, err
		}
		s.commitLocked(ctx, r, "recording_changed", map[string]any{"on": on})
		action := AuditRecordingOn
		if !on {
			action = AuditRecordingOff
		}
		return nil, s.audit(ctx, a.ID, action, roomTarget(id), id, nil)
	})
}

// RecordingChanged publishes a recording's change of state the recorder
// noticed by itself (a write error, the recording finished).
func (s *Service) RecordingChanged(id string) {
	r := s.loaded(id)
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.rec.State == StateEnded {
		s.refreshLocked(context.Background(), r)
		return
	}
	st := s.recording(id)
	s.commitLocked(context.Background(), r, "recording_changed", map[string]any{"on": st.On, "error": st.Error})
}

func (s *Service) recording(id string) RecordingState {
	if s.cfg.Recorder == nil {
		return RecordingState{}
	}
	return s.cfg.Recorder.Recording(id)
}

// ManageRecording decides who may download, trim, delete a room's
// recording and choose who hears the replay: the host, co-hosts, platform
// moderators and admins, also after the room ended.
func (s *Service) ManageRecording(ctx context.Context, a Actor, id string) error {
	r, err := s.get(ctx, id)
	if err != nil {
		return err
	}
	return mayManage(r, a)
}

func mayManage(r *state, a Actor) error {
	if a.Suspended {
		return ErrSuspended
	}
	if a.ID == "" {
		return ErrForbidden
	}
	switch a.Platform {
	case PlatformAdmin, PlatformModerator:
		return nil
	}
	snap := r.snap.Load()
	if a.ID == snap.rec.Host {
		return nil
	}
	for _, m := range snap.view.Stage {
		if m.ID == a.ID && m.Role == RoleCohost {
			return nil
		}
	}
	return ErrForbidden
}

// PlayReplay decides who may play a room's replay: anyone when the host
// made it public, else those who manage it.
func (s *Service) PlayReplay(ctx context.Context, a Actor, id string) error {
	r, err := s.get(ctx, id)
	if err != nil {
		return err
	}
	if s.recording(id).Public {
		return nil
	}
	return mayManage(r, a)
}

// MakeClip decides who may clip a room: signed-in users in good standing
// who are not blocked from it, unless the host turned clips off.
func (s *Service) MakeClip(ctx context.Context, a Actor, id string) error {
	r, err := s.get(ctx, id)
	if err != nil {
		return err
	}
	if a.ID == "" {
		return ErrForbidden
	}
	if a.Suspended {
		return ErrSuspended
	}
	if _, b := r.snap.Load().blocked[a.ID]; b {
		return ErrBlocked
	}
	st := s.recording(id)
	if st.ClipsOff {
		return ErrClipsOff
	}
	if snap := r.snap.Load(); snap.rec.State == StateEnded && !st.Public && mayManage(r, a) != nil {
		return ErrForbidden // a hosts-only replay is clipped by its hosts only
	}
	return nil
}

// PlayEvidence decides who may hear the moderation evidence of rooms:
// platform moderators and admins only (never the room's own people, never
// the public).
func PlayEvidence(a Actor) error {
	if a.Suspended {
		return ErrSuspended
	}
	switch a.Platform {
	case PlatformAdmin, PlatformModerator:
		return nil
	}
	return ErrForbidden
}
