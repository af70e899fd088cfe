package room

import (
	"context"
	"maps"
	"slices"
	"sort"
	"time"

	"majlis/internal/store"
)

// MemberView is a person on stage, as events and the API show them.
type MemberView struct {
	ID         string `json:"id"`
	Name       string `json:"name"`
	Role       string `json:"role"`
	Muted      bool   `json:"muted"`
	ForcedMute bool   `json:"forced_mute"`
	Publishing bool   `json:"publishing"`
}

// RequestView is a pending request to speak.
type RequestView struct {
	ID    string    `json:"id"`
	Name  string    `json:"name"`
	Since time.Time `json:"since"`
}

// View is a room's full state (the snapshot event and GET .../state).
type View struct {
	ID          string        `json:"id"`
	Title       string        `json:"title"`
	Description string        `json:"description"`
	State       string        `json:"state"`
	Host        string        `json:"host"`
	ScheduledAt *time.Time    `json:"scheduled_at,omitempty"`
	Pin         string        `json:"pin"`
	Stage       []MemberView  `json:"stage"`
	Requests    []RequestView `json:"requests"`
	Counts      Counts        `json:"counts"`
	// Recording: the room is being recorded (or will be from its start);
	// RecordingError says why a recording stopped by itself.
	Recording      bool   `json:"recording"`
	RecordingError string `json:"recording_error,omitempty"`
	// Speaking lists the stage members talking at the last look (the
	// "speaking" event's speakers), for a page that starts from the view:
	// in the snapshot and GET .../state of a live room once it has had a
	// talker, absent otherwise (and in state-change events). Shared: never
	// modify it.
	Speaking *[]string `json:"speaking,omitempty"`
	// Version grows with every change of the room's state (not its
	// counts): a client holding a view of a higher version drops an older
	// one that arrives late (a fetch answered before an event it already
	// applied). Zero: unversioned (an ended room's last snapshot).
	Version uint64 `json:"version,omitempty"`
}

func (r *state) muted(user string) (muted, forced bool) {
	if m := r.members[user]; m != nil {
		return m.SelfMute || m.ForcedMute, m.ForcedMute
	}
	return false, false
}

// refreshLocked publishes a new snapshot of the room's stage state for the
// audience path and returns its view (without counts).
func (s *Service) refreshLocked(ctx context.Context, r *state) View {
	v := View{ID: r.rec.ID, Title: r.rec.Title, Description: r.rec.Description, State: r.rec.State, Host: r.rec.Host,
		Pin: r.rec.Pin, Stage: []MemberView{}, Requests: []RequestView{}, Version: s.version.Add(1)}
	if rs := s.recording(r.rec.ID); rs.On || rs.Error != "" {
		v.Recording, v.RecordingError = rs.On && r.rec.State != StateEnded, rs.Error
	}
	if !r.rec.ScheduledAt.IsZero() {
		t := r.rec.ScheduledAt
		v.ScheduledAt = &t
	}
	add := func(id, role string) {
		m, f := r.muted(id)
		_, p := r.pub[id]
		v.Stage = append(v.Stage, MemberView{ID: id, Name: s.name(ctx, id), Role: role, Muted: m, ForcedMute: f, Publishing: p})
	}
	add(r.rec.Host, RoleHost)
	ids := slices.Sorted(maps.Keys(r.members))
	for _, role := range []string{RoleCohost, RoleSpeaker} {
		for _, id := range ids {
			if r.members[id].Role == role {
				add(id, role)
			}
		}
	}
	blocked := make(map[string]struct{})
	for _, id := range ids {
		switch m := r.members[id]; m.Role {
		case roleRequester:
			v.Requests = append(v.Requests, RequestView{ID: id, Name: s.name(ctx, id), Since: m.Since})
		case roleBlocked:
			blocked[id] = struct{}{}
		}
	}
	sort.SliceStable(v.Requests, func(i, j int) bool { return v.Requests[i].Since.Before(v.Requests[j].Since) })
	r.snap.Store(&snapshot{rec: r.rec, blocked: blocked, view: v})
	return v
}

// view is a room's view from its snapshot, with current counts. The
// snapshot is shared: its slices are copied.
func (s *Service) view(r *state) View {
	snap := r.snap.Load()
	v := snap.view
	v.Stage, v.Requests = slices.Clone(v.Stage), slices.Clone(v.Requests)
	v.Counts = s.counts(r, snap.rec.State == store.StateLive)
	if snap.rec.State == store.StateLive {
		v.Speaking = r.speaking.Load()
	}
	return v
}

// View returns a room's full state. It reads the room's snapshot: it never
// waits on the stage.
func (s *Service) View(ctx context.Context, id string) (View, error) {
	r, err := s.get(ctx, id)
	if err != nil {
		return View{}, err
	}
	return s.view(r), nil
}
