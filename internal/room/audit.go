package room

import (
	"context"
	"errors"
	"fmt"

	"majlis/internal/audit"
)

// ActorSystem is the audit log's actor for what the service does by itself
// (ending a room whose host is gone).
const ActorSystem = "system"

// The audit log's actions of the room domain (docs/audit.md lists every action).
const (
	AuditMute         = "room.mute"   // a moderator's forced mute
	AuditUnmute       = "room.unmute" // a moderator releasing a forced mute
	AuditRemove       = "room.remove" // a moderator moving a stage member to the audience
	AuditBlock        = "room.block"
	AuditUnblock      = "room.unblock"
	AuditCohost       = "room.cohost"  // made a co-host
	AuditApprove      = "room.approve" // a request to speak approved
	AuditDeny         = "room.deny"    // a request to speak denied
	AuditInvite       = "room.invite"  // a listener put on stage
	AuditPin          = "room.pin"     // the pinned link set or cleared
	AuditCreate       = "room.create"
	AuditStart        = "room.start"
	AuditEnd          = "room.end" // by a moderator, or by "system" (host gone)
	AuditRecordingOn  = "room.recording_on"
	AuditRecordingOff = "room.recording_off"
)

// audit records a room action that has just taken effect (its store write
// done, its event published). Without a Recorder it records nothing. When
// the log cannot take the row, the action stands but the call fails with
// audit.ErrUnavailable, so the client is told (503 audit_unavailable) and
// the row is in the server's log instead of lost in silence.
func (s *Service) audit(ctx context.Context, actor, action, target, room string, detail map[string]any) error {
	if s.cfg.Audit == nil {
		return nil
	}
	e := audit.Entry{Actor: actor, Action: action, Target: target, Room: room, Detail: detail}
	if _, err := s.cfg.Audit.Record(ctx, e); err != nil {
		s.log.Error("audit: action done but not recorded", "actor", actor, "action", action, "target", target, "room", room, "detail", detail, "err", err)
		return fmt.Errorf("room %s: %w", room, audit.Unavailable(err))
	}
	return nil
}

func userTarget(id string) string { return "user:" + id }
func roomTarget(id string) string { return "room:" + id }

// ErrAuditForbidden: the caller may not read these audit rows.
var ErrAuditForbidden = errors.New("room: only platform admins and moderators, and a room's host for their own room, may read the audit log")

// ReadAudit decides who may read the audit log: platform admins and
// moderators all of it; a room's host the rows of their own room (room
// must then name it); nobody else.
func (s *Service) ReadAudit(ctx context.Context, a Actor, room string) error {
	if a.Suspended {
		return ErrSuspended
	}
	switch a.Platform {
	case PlatformAdmin, PlatformModerator:
		return nil
	}
	if a.ID == "" || room == "" {
		return ErrAuditForbidden
	}
	r, err := s.get(ctx, room)
	if errors.Is(err, ErrRoomNotFound) {
		return ErrAuditForbidden // nobody hosts it
	}
	if err != nil {
		return err
	}
	if r.snap.Load().rec.Host != a.ID {
		return ErrAuditForbidden
	}
	return nil
}

// The audit log's actions on a room's recording (the replay), which its
// managers change through the recorder (ManageRecording decides who).
const (
	AuditReplayUpdate = "replay.update" // visibility, clips on/off, trim (detail: what was set)
	AuditReplayDelete = "replay.delete"
	AuditClip         = "clip.create" // target clip:ID, detail: its start and length
)

// ClipMade is told, by whoever cut a clip of room id for a (after MakeClip
// allowed it), that the clip exists: it records it.
func (s *Service) ClipMade(ctx context.Context, a Actor, id, clip string, fromS, seconds float64) error {
	return s.audit(ctx, a.ID, AuditClip, "clip:"+clip, id, map[string]any{"from_s": fromS, "seconds": seconds})
}

// ReplayChanged is told, by whoever changed a room's recording for a (an
// update or a delete, after ManageRecording allowed it), that the change
// took effect: it publishes the change (RecordingChanged) and records it.
func (s *Service) ReplayChanged(ctx context.Context, a Actor, id, action string, detail map[string]any) error {
	s.RecordingChanged(id)
	return s.audit(ctx, a.ID, action, "recording:"+id, id, detail)
}
