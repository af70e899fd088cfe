package safety

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"majlis/internal/account"
	"majlis/internal/audit"
	"majlis/internal/recording"
	"majlis/internal/room"
)

// fakes of the domains the safety service acts through: they record what
// was asked and keep the state a real domain would.
type fakeDomains struct {
	mu            sync.Mutex
	rooms         map[string]room.Info
	stage         map[string]bool // room/user on stage
	muted         map[string]bool // room/user force-muted
	ended         map[string]bool
	users         map[string]bool
	suspended     map[string]bool
	clips         map[string]recording.Clip
	withheldClips map[string]recording.Clip
	replays       map[string]bool // deleted replays
	events        []string
	segs          []recording.Segment
	audit         []audit.Entry
	auditFail     bool
	actErr        error
}

// fakeNames are the fake users' names (the ids are the other fakes' keys).
var fakeNames = map[string]string{"host": "hala", "spk": "Samir_al-Khatib", "lis": "layla"}

func newFakes() *fakeDomains {
	start := time.Date(2026, 1, 10, 12, 0, 0, 0, time.UTC)
	f := &fakeDomains{rooms: map[string]room.Info{"r1": {ID: "r1", Host: "host", State: room.StateLive, CreatedAt: start, StartedAt: start}},
		stage: map[string]bool{"r1/spk": true}, muted: map[string]bool{}, ended: map[string]bool{},
		users:     map[string]bool{"host": true, "spk": true, "lis": true, "mod1": true, "mod2": true, "adm": true, "tf": true},
		suspended: map[string]bool{}, clips: map[string]recording.Clip{"c1": {ID: "c1", Room: "r1", By: "lis"}}, replays: map[string]bool{}, withheldClips: map[string]recording.Clip{}}
	return f
}

func (f *fakeDomains) Peek(_ context.Context, id string) (room.Info, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	r, ok := f.rooms[id]
	if !ok {
		return room.Info{}, room.ErrRoomNotFound
	}
	return r, nil
}

func (f *fakeDomains) Mute(_ context.Context, a room.Actor, id, target string, muted bool) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.actErr != nil {
		return f.actErr
	}
	if a.Platform != room.PlatformAdmin {
		return room.ErrForbidden
	}
	if f.ended[id] {
		return room.ErrEnded
	}
	if !f.stage[id+"/"+target] {
		return room.ErrBadTarget
	}
	f.muted[id+"/"+target] = muted
	return nil
}

func (f *fakeDomains) ToAudience(_ context.Context, a room.Actor, id, target string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.stage[id+"/"+target] {
		return room.ErrBadTarget
	}
	f.stage[id+"/"+target] = false
	return nil
}

func (f *fakeDomains) Invite(_ context.Context, a room.Actor, id, target string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.ended[id] {
		return room.ErrEnded
	}
	if f.stage[id+"/"+target] {
		return room.ErrAlreadyOnStage
	}
	f.stage[id+"/"+target] = true
	return nil
}

func (f *fakeDomains) End(_ context.Context, a room.Actor, id string) (room.Info, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.ended[id] = true
	return f.rooms[id], nil
}

func (f *fakeDomains) Notify(id, typ string, detail any) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.events = append(f.events, id+" "+typ)
	return true
}

func (f *fakeDomains) User(_ context.Context, id string) (account.User, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.users[id] {
		return account.User{}, account.ErrUserNotFound
	}
	return account.User{ID: id, Name: fakeNames[id], Suspended: f.suspended[id]}, nil
}

func (f *fakeDomains) SetSafetySuspended(_ context.Context, by account.Principal, id string, s bool) (account.User, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if by.Role != account.RoleAdmin {
		return account.User{}, account.ErrForbidden
	}
	f.suspended[id] = s
	return account.User{ID: id, Suspended: s}, nil
}

func (f *fakeDomains) Withhold(id, why string, until time.Time) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.replays[id] {
		return recording.ErrDeleted
	}
	f.replays[id] = true
	return nil
}

func (f *fakeDomains) Restore(id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.replays[id] = false
	return nil
}

func (f *fakeDomains) ClipInfo(id string) (recording.Clip, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, ok := f.clips[id]
	if !ok {
		return recording.Clip{}, recording.ErrClipNotFound
	}
	return c, nil
}

func (f *fakeDomains) WithholdClip(id, why string, until time.Time) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.clips[id]; !ok {
		return recording.ErrClipNotFound
	}
	f.withheldClips[id] = f.clips[id]
	delete(f.clips, id)
	return nil
}

func (f *fakeDomains) RestoreClip(id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, ok := f.withheldClips[id]
	if !ok {
		return recording.ErrClipNotFound
	}
	f.clips[id] = c
	delete(f.withheldClips, id)
	return nil
}

func (f *fakeDomains) Find(room string, from, to time.Time) []recording.Segment {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []recording.Segment
	for _, s := range f.segs {
		if s.Room == room && !s.Start.After(to) && !s.End.Before(from) {
			out = append(out, s)
		}
	}
	return out
}

func (f *fakeDomains) Hold(id string, until time.Time) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := range f.segs {
		if f.segs[i].ID == id && until.After(f.segs[i].HoldUntil) {
			f.segs[i].HoldUntil = until
		}
	}
	return nil
}

func (f *fakeDomains) Record(_ context.Context, e audit.Entry) (audit.Row, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.auditFail {
		return audit.Row{}, errors.New("disk full")
	}
	f.audit = append(f.audit, e)
	return audit.Row{Seq: uint64(len(f.audit)), Entry: e}, nil
}

func (f *fakeDomains) actions() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, e := range f.audit {
		out = append(out, e.Action)
	}
	return out
}

// clock is a test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

type env struct {
	*Service
	f    *fakeDomains
	clk  *clock
	path string
}

func newEnv(t testing.TB) *env {
	t.Helper()
	f := newFakes()
	clk := &clock{t: time.Date(2026, 1, 10, 12, 30, 0, 0, time.UTC)}
	path := filepath.Join(t.TempDir(), "safety.db")
	s, err := Open(Config{Path: path, Rooms: f, Accounts: f, Recordings: f, Evidence: f, Audit: f, Now: clk.Now, SweepEvery: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return &env{Service: s, f: f, clk: clk, path: path}
}

var (
	anon  = Actor{}
	lis   = Actor{ID: "lis", Role: account.RoleUser}
	spk   = Actor{ID: "spk", Role: account.RoleUser}
	mod1  = Actor{ID: "mod1", Role: account.RoleModerator}
	mod2  = Actor{ID: "mod2", Role: account.RoleModerator}
	adm   = Actor{ID: "adm", Role: account.RoleAdmin}
	tflag = Actor{ID: "tf", Role: account.RoleUser}
)

func f64(v float64) *float64 { return &v }

// speakerNotice is a valid notice about spk in r1 at 95 s.
func speakerNotice() NoticeInput {
	return NoticeInput{Kind: KindSpeaker, Room: "r1", Speaker: "spk", From: f64(95), To: f64(110), Category: CategoryIllegalSpeech,
		Illegal: true, Law: "§ 130 StGB (incitement to hatred)", Explanation: "At 1:35 the speaker calls for violence against a group.",
		Name: "Ana Listener", Email: "ana@example.org", GoodFaith: true}
}

func muteDecision() DecisionInput {
	return DecisionInput{Action: ActionMute, Ground: GroundIllegal, LegalGround: "§ 130 StGB", Explanation: "The speaker incited hatred against a group.",
		Facts: "A notice reported incitement at 1:35; the moderator heard the program audio and confirmed it."}
}
