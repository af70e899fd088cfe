package room

import (
	"context"
	"errors"
	"testing"
	"time"
)

// The permission matrix at the domain level: every action × every kind of
// actor → allowed or the exact domain error. It agrees with
// internal/server/rooms_perm_test.go, which checks the same rules as HTTP
// sees them (where HTTP refuses anonymous callers with 401 before the
// domain, only join is asked anonymously here).

// permFixture is one room set up as in the HTTP test: host, co-host "co",
// speakers "sp" (invited by the host) and "sp2" (by the co-host), a pending
// request from "req", "blk" blocked; "lis", "co2", "mod" (platform
// moderator) and "sus" (suspended) hold no room role.
type permFixture struct {
	s   *Service
	id  string
	who map[string]Actor
}

// op is an action taken by actor a in the fixture's room.
type op func(ctx context.Context, f *permFixture, a Actor) error

// target resolves a user named in a row ("self": the actor, "nobody": no such user).
func (f *permFixture) target(a Actor, name string) string {
	switch name {
	case "self":
		return a.ID
	case "nobody":
		return "nobody"
	}
	return f.who[name].ID
}

func start() op {
	return func(ctx context.Context, f *permFixture, a Actor) error {
		_, err := f.s.Start(ctx, a, f.id)
		return err
	}
}
func end() op {
	return func(ctx context.Context, f *permFixture, a Actor) error { _, err := f.s.End(ctx, a, f.id); return err }
}
func request() op {
	return func(ctx context.Context, f *permFixture, a Actor) error { return f.s.RequestSpeak(ctx, a, f.id) }
}
func cancelRequest() op {
	return func(ctx context.Context, f *permFixture, a Actor) error { return f.s.CancelRequest(ctx, a, f.id) }
}
func answer(who string, approve bool) op {
	return func(ctx context.Context, f *permFixture, a Actor) error {
		return f.s.Answer(ctx, a, f.id, f.target(a, who), approve)
	}
}
func invite(who string) op {
	return func(ctx context.Context, f *permFixture, a Actor) error {
		return f.s.Invite(ctx, a, f.id, f.target(a, who))
	}
}
func cohost(who string) op {
	return func(ctx context.Context, f *permFixture, a Actor) error {
		return f.s.MakeCohost(ctx, a, f.id, f.target(a, who))
	}
}
func toAudience(who string) op {
	return func(ctx context.Context, f *permFixture, a Actor) error {
		return f.s.ToAudience(ctx, a, f.id, f.target(a, who))
	}
}
func mute(who string, muted bool) op {
	return func(ctx context.Context, f *permFixture, a Actor) error {
		return f.s.Mute(ctx, a, f.id, f.target(a, who), muted)
	}
}
func block(who string, on bool) op {
	return func(ctx context.Context, f *permFixture, a Actor) error {
		return f.s.Block(ctx, a, f.id, f.target(a, who), on)
	}
}
func pin() op {
	return func(ctx context.Context, f *permFixture, a Actor) error {
		return f.s.Pin(ctx, a, f.id, "https://example.org/x")
	}
}
func react(emoji string) op {
	return func(ctx context.Context, f *permFixture, a Actor) error { return f.s.React(ctx, a, f.id, emoji) }
}
func publish() op {
	return func(ctx context.Context, f *permFixture, a Actor) error {
		_, _, err := f.s.Publish(ctx, a, f.id, "offer")
		return err
	}
}
func transfer(who string) op {
	return func(ctx context.Context, f *permFixture, a Actor) error {
		return f.s.TransferHost(ctx, a, f.id, f.target(a, who))
	}
}
func demote(who string) op {
	return func(ctx context.Context, f *permFixture, a Actor) error {
		return f.s.DemoteCohost(ctx, a, f.id, f.target(a, who))
	}
}
func listeners() op {
	return func(ctx context.Context, f *permFixture, a Actor) error {
		_, err := f.s.Listeners(ctx, a, f.id, 10)
		return err
	}
}
func search(q string) op {
	return func(ctx context.Context, f *permFixture, a Actor) error {
		_, err := f.s.Candidates(ctx, a, f.id, q)
		return err
	}
}
func join() op {
	return func(ctx context.Context, f *permFixture, a Actor) error { return f.s.CanJoin(ctx, a, f.id) }
}

// Room phases of a row.
const (
	phaseLive = iota
	phaseScheduled
	phaseEnded
)

type permStep struct {
	who string
	do  op
}

type permRow struct {
	action string
	who    string // actor: admin, mod, host, hostSus (the host, suspended), co, co2, sp, sp2, lis, req, blk, sus, anon
	do     op
	want   error
	phase  int
	prep   []permStep // run first as the named actors, each must succeed
}

func TestPermissionMatrix(t *testing.T) {
	s, st, _ := newService(t, func(c *Config) { c.MaxSpeakers = 3; c.Interval = time.Hour; c.Recorder = &fakeRecorder{} })
	ctx := context.Background()
	who := map[string]Actor{
		"admin": {ID: "admin", Platform: PlatformAdmin},
		"anon":  {},
	}
	for _, n := range []string{"host", "co", "co2", "sp", "sp2", "lis", "req", "blk", "sus", "mod"} {
		role := PlatformUser
		if n == "mod" {
			role = PlatformModerator
		}
		u, _, err := st.CreateUser(ctx, "perm-"+n, role)
		if err != nil {
			t.Fatal(err)
		}
		who[n] = Actor{ID: u.ID, Platform: role, Suspended: n == "sus"}
	}
	who["hostSus"] = Actor{ID: who["host"].ID, Platform: PlatformUser, Suspended: true}

	setup := func(t *testing.T, phase int) *permFixture {
		t.Helper()
		host := who["host"]
		r, err := s.Create(ctx, host, "perm", "", time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		f := &permFixture{s: s, id: r.ID, who: who}
		steps := []permStep{{"host", cohost("co")}, {"host", invite("sp")}}
		if phase != phaseScheduled {
			steps = append([]permStep{{"host", start()}}, steps...)
			steps = append(steps, permStep{"co", invite("sp2")}, permStep{"req", request()})
		}
		steps = append(steps, permStep{"host", block("blk", true)})
		if phase == phaseEnded {
			steps = append(steps, permStep{"host", end()})
		}
		for _, st := range steps {
			if err := st.do(ctx, f, who[st.who]); err != nil {
				t.Fatalf("fixture: %v", err)
			}
		}
		return f
	}

	var rows []permRow
	add := func(action string, do op, allowed []string, refused map[string]error) {
		for _, w := range allowed {
			rows = append(rows, permRow{action: action, who: w, do: do})
		}
		for w, err := range refused {
			rows = append(rows, permRow{action: action, who: w, do: do, want: err})
		}
	}
	forbidden := func(ws ...string) map[string]error {
		m := make(map[string]error)
		for _, w := range ws {
			m[w] = ErrForbidden
		}
		return m
	}
	with := func(m map[string]error, w string, err error) map[string]error { m[w] = err; return m }

	// Lifecycle: the room's own people and admins start; moderators may end.
	for _, w := range []string{"admin", "host", "co"} {
		rows = append(rows, permRow{action: "start", who: w, do: start(), phase: phaseScheduled})
	}
	for w, err := range forbidden("mod", "sp", "lis", "blk", "sus", "hostSus") {
		rows = append(rows, permRow{action: "start", who: w, do: start(), want: err, phase: phaseScheduled})
	}
	rows = append(rows,
		permRow{action: "start again", who: "host", do: start()},
		permRow{action: "start", who: "host", do: start(), want: ErrEnded, phase: phaseEnded})
	add("end", end(), []string{"admin", "mod", "host", "co"}, forbidden("sp", "lis", "req", "blk", "sus", "hostSus"))

	// Requests to speak.
	add("request", request(), []string{"admin", "mod", "lis", "req"}, map[string]error{
		"host": ErrAlreadyOnStage, "co": ErrAlreadyOnStage, "sp": ErrAlreadyOnStage, "blk": ErrBlocked, "sus": ErrSuspended})
	rows = append(rows,
		permRow{action: "request", who: "lis", do: request(), want: ErrNotLive, phase: phaseScheduled},
		permRow{action: "request", who: "lis", do: request(), want: ErrEnded, phase: phaseEnded})
	add("cancel", cancelRequest(), []string{"req"}, map[string]error{"lis": ErrNoRequest, "sp": ErrNoRequest})
	add("approve req", answer("req", true), []string{"admin", "mod", "host", "co"}, forbidden("sp", "lis", "req", "blk", "sus", "hostSus"))
	add("approve lis (no request)", answer("lis", true), nil, map[string]error{"host": ErrNoRequest})
	rows = append(rows, permRow{action: "approve req, stage full", who: "host", do: answer("req", true), want: ErrStageFull,
		prep: []permStep{{"host", invite("lis")}}})
	add("deny req", answer("req", false), []string{"admin", "mod", "host", "co"}, forbidden("sp", "lis", "req", "sus"))

	// Invitations.
	add("invite lis", invite("lis"), []string{"admin", "mod", "host", "co"}, forbidden("sp", "blk", "sus", "hostSus"))
	add("invite self", invite("self"), nil, forbidden("lis", "mod")) // a platform moderator does not take the stage
	add("invite nobody", invite("nobody"), nil, map[string]error{"host": ErrUserNotFound})
	add("invite sp", invite("sp"), nil, map[string]error{"host": ErrAlreadyOnStage})
	add("invite blk", invite("blk"), nil, map[string]error{"host": ErrBlocked})
	rows = append(rows,
		permRow{action: "invite lis, stage full", who: "host", do: invite("lis"), want: ErrStageFull, prep: []permStep{{"host", invite("co2")}}},
		permRow{action: "invite lis", who: "host", do: invite("lis"), want: ErrEnded, phase: phaseEnded})

	// Co-hosts: the host's (and the platform's) call.
	add("make sp co-host", cohost("sp"), []string{"admin", "mod", "host"}, forbidden("co", "sp2", "lis", "sus", "hostSus"))
	add("make lis co-host", cohost("lis"), []string{"host"}, nil)
	add("make host co-host", cohost("host"), nil, map[string]error{"host": ErrBadTarget})
	add("make self co-host", cohost("self"), nil, forbidden("mod", "lis")) // a platform moderator does not take the stage
	add("make co co-host", cohost("co"), nil, map[string]error{"host": ErrBadTarget})
	add("make blk co-host", cohost("blk"), nil, map[string]error{"host": ErrBlocked})
	add("make nobody co-host", cohost("nobody"), nil, map[string]error{"host": ErrUserNotFound})
	rows = append(rows, permRow{action: "make sp co-host, seats full", who: "host", do: cohost("sp"), want: ErrCohostsFull,
		prep: []permStep{{"host", cohost("co2")}}})

	// Back to the audience.
	add("move sp to the audience", toAudience("sp"), []string{"admin", "mod", "host", "co"}, forbidden("sp2", "lis", "blk", "sus", "hostSus"))
	add("leave the stage", toAudience("self"), []string{"sp", "co"}, map[string]error{"host": ErrBadTarget, "lis": ErrBadTarget})
	add("move host to the audience", toAudience("host"), nil, map[string]error{"co": ErrForbidden, "mod": ErrForbidden, "admin": ErrBadTarget})
	add("move co to the audience", toAudience("co"), []string{"host", "mod", "admin"}, forbidden("sp"))
	add("move lis to the audience", toAudience("lis"), nil, map[string]error{"host": ErrBadTarget})
	rows = append(rows, permRow{action: "move co2 to the audience", who: "co", do: toAudience("co2"), want: ErrForbidden,
		prep: []permStep{{"host", cohost("co2")}}})

	// Mutes: of others by moderators of higher authority; of oneself,
	// except out of a forced mute.
	add("mute sp", mute("sp", true), []string{"admin", "mod", "host", "co"}, forbidden("sp2", "lis", "blk", "sus", "hostSus"))
	add("mute host", mute("host", true), []string{"admin"}, forbidden("co", "mod"))
	add("mute co", mute("co", true), []string{"host", "mod"}, forbidden("sp"))
	add("mute lis", mute("lis", true), nil, map[string]error{"host": ErrBadTarget})
	add("mute self", mute("self", true), []string{"host", "co", "sp"}, map[string]error{"lis": ErrBadTarget, "sus": ErrBadTarget})
	add("unmute self", mute("self", false), []string{"host", "sp"}, nil)
	forced := []permStep{{"host", mute("sp", true)}}
	for _, r := range []permRow{
		{action: "unmute self out of a forced mute", who: "sp", do: mute("self", false), want: ErrForcedMute},
		{action: "mute self while force-muted", who: "sp", do: mute("self", true)},
		{action: "release a forced mute", who: "host", do: mute("sp", false)},
		{action: "release a forced mute", who: "co", do: mute("sp", false)},
		{action: "release a forced mute", who: "sp2", do: mute("sp", false), want: ErrForbidden},
	} {
		r.prep = forced
		rows = append(rows, r)
	}

	// Blocks.
	add("block lis", block("lis", true), []string{"admin", "mod", "host", "co"}, forbidden("sp", "blk", "sus", "hostSus"))
	add("block sp", block("sp", true), []string{"host", "co"}, forbidden("lis", "sp2"))
	add("block host", block("host", true), []string{"admin"}, forbidden("co", "mod"))
	add("block self", block("self", true), nil, forbidden("host", "co"))
	add("block nobody", block("nobody", true), nil, map[string]error{"host": ErrUserNotFound})
	add("unblock blk", block("blk", false), []string{"admin", "mod", "host", "co"}, forbidden("sp", "lis", "blk", "sus"))
	add("unblock lis (not blocked)", block("lis", false), []string{"host"}, nil)
	rows = append(rows, permRow{action: "block lis", who: "host", do: block("lis", true), want: ErrEnded, phase: phaseEnded})

	// Pin.
	add("pin", pin(), []string{"admin", "mod", "host", "co"}, forbidden("sp", "lis", "blk", "sus", "hostSus"))
	rows = append(rows, permRow{action: "pin", who: "host", do: pin(), want: ErrEnded, phase: phaseEnded})

	// Reactions.
	add("react", react("👏"), []string{"admin", "mod", "host", "co", "sp", "lis", "req"}, map[string]error{"blk": ErrBlocked, "sus": ErrSuspended})
	add("react outside the set", react("💩"), nil, map[string]error{"lis": ErrBadEmoji})
	rows = append(rows,
		permRow{action: "react", who: "lis", do: react("👏"), want: ErrNotLive, phase: phaseScheduled},
		permRow{action: "react", who: "lis", do: react("👏"), want: ErrEnded, phase: phaseEnded})

	// Publishing: stage roles and admins.
	add("publish", publish(), []string{"admin", "host", "co", "sp", "sp2"}, with(with(with(forbidden("mod", "lis", "req"),
		"blk", ErrBlocked), "sus", ErrSuspended), "hostSus", ErrSuspended))
	rows = append(rows,
		permRow{action: "publish after being moved to the audience", who: "sp", do: publish(), want: ErrForbidden, prep: []permStep{{"host", toAudience("sp")}}},
		permRow{action: "publish after being blocked", who: "sp", do: publish(), want: ErrBlocked, prep: []permStep{{"host", block("sp", true)}}},
		permRow{action: "publish once invited", who: "lis", do: publish(), prep: []permStep{{"host", invite("lis")}}},
		permRow{action: "publish", who: "host", do: publish(), want: ErrNotLive, phase: phaseScheduled},
		permRow{action: "publish", who: "host", do: publish(), want: ErrEnded, phase: phaseEnded})

	// Hand-over: the host (or a platform admin) gives the room to a co-host
	// or speaker; the host (and platform staff) demote co-hosts, who may
	// also step down.
	add("transfer host to co", transfer("co"), []string{"host", "admin"}, forbidden("mod", "co", "sp", "lis", "sus", "hostSus"))
	add("transfer host to sp", transfer("sp"), []string{"host"}, nil)
	add("transfer host to lis", transfer("lis"), nil, map[string]error{"host": ErrBadTarget})
	add("transfer host to self", transfer("self"), nil, map[string]error{"host": ErrBadTarget})
	add("transfer host to blk", transfer("blk"), nil, map[string]error{"host": ErrBlocked})
	add("transfer host to nobody", transfer("nobody"), nil, map[string]error{"host": ErrUserNotFound})
	rows = append(rows,
		permRow{action: "transfer host to sp, co-host seats full", who: "host", do: transfer("sp"), want: ErrCohostsFull,
			prep: []permStep{{"host", cohost("co2")}}},
		permRow{action: "transfer host to co", who: "host", do: transfer("co"), phase: phaseScheduled},
		permRow{action: "transfer host to co", who: "host", do: transfer("co"), want: ErrEnded, phase: phaseEnded},
		permRow{action: "the old host acts as host", who: "host", do: cohost("lis"), want: ErrForbidden,
			prep: []permStep{{"host", transfer("co")}}},
		permRow{action: "the new host acts as host", who: "co", do: cohost("lis"), prep: []permStep{{"host", transfer("co")}}},
		permRow{action: "the new host demotes the old", who: "co", do: demote("host"), prep: []permStep{{"host", transfer("co")}}})
	add("demote co", demote("co"), []string{"host", "mod", "admin"}, forbidden("co2", "sp", "lis", "sus", "hostSus"))
	add("step down", demote("self"), []string{"co"}, map[string]error{"host": ErrBadTarget, "sp": ErrBadTarget})
	add("demote sp", demote("sp"), nil, map[string]error{"host": ErrBadTarget})
	rows = append(rows,
		permRow{action: "demote co, stage full", who: "host", do: demote("co"), want: ErrStageFull, prep: []permStep{{"host", invite("lis")}}},
		permRow{action: "demote co by another co-host", who: "co2", do: demote("co"), want: ErrForbidden, prep: []permStep{{"host", cohost("co2")}}},
		permRow{action: "demote co", who: "host", do: demote("co"), want: ErrEnded, phase: phaseEnded})

	// The people of a room: its moderators search users and see its listeners.
	add("list listeners", listeners(), []string{"admin", "mod", "host", "co"}, forbidden("sp", "lis", "blk", "sus", "hostSus", "anon"))
	rows = append(rows, permRow{action: "list listeners", who: "host", do: listeners(), want: ErrEnded, phase: phaseEnded})
	add("search users", search("perm"), []string{"admin", "mod", "host", "co"}, forbidden("sp", "lis", "blk", "sus", "hostSus", "anon"))
	add("search too short", search("p"), nil, map[string]error{"host": ErrBadSearch, "lis": ErrBadSearch})
	add("search with a space", search("perm x"), nil, map[string]error{"host": ErrBadSearch})

	// Joining (signed in; anonymous joins are always allowed).
	add("join", join(), []string{"anon", "admin", "mod", "host", "sp", "lis", "req"}, map[string]error{"blk": ErrBlocked, "sus": ErrSuspended})

	// Recording: the room's hosts and the platform's moderators turn it on
	// (before or during the room), manage it (download, trim, delete,
	// public or not, also after the end); anyone plays a public replay,
	// signed-in users clip unless the host turned clips off; evidence is for
	// platform moderators and admins only.
	add("record", setRecording(true), []string{"admin", "mod", "host", "co"}, forbidden("sp", "lis", "req", "blk", "sus", "hostSus"))
	add("stop recording", setRecording(false), []string{"admin", "mod", "host", "co"}, forbidden("sp", "lis", "sus"))
	rows = append(rows,
		permRow{action: "record", who: "host", do: setRecording(true), phase: phaseScheduled},
		permRow{action: "record", who: "lis", do: setRecording(true), want: ErrForbidden, phase: phaseScheduled},
		permRow{action: "record", who: "host", do: setRecording(true), want: ErrEnded, phase: phaseEnded})
	manage := with(with(forbidden("sp", "lis", "req", "blk", "anon"), "sus", ErrSuspended), "hostSus", ErrSuspended)
	add("download, trim or delete the recording", manageRecording(), []string{"admin", "mod", "host", "co"}, manage)
	rows = append(rows,
		permRow{action: "delete the recording", who: "host", do: manageRecording(), phase: phaseEnded},
		permRow{action: "delete the recording", who: "co", do: manageRecording(), phase: phaseEnded},
		permRow{action: "delete the recording", who: "lis", do: manageRecording(), want: ErrForbidden, phase: phaseEnded})
	add("play a hosts-only replay", playReplay(), []string{"admin", "mod", "host", "co"}, forbidden("sp", "lis", "anon"))
	public := []permStep{{"host", recorderSetting(func(r *RecordingState) { r.Exists, r.Public = true, true })}}
	for _, w := range []string{"anon", "lis", "blk", "host"} {
		rows = append(rows, permRow{action: "play a public replay", who: w, do: playReplay(), phase: phaseEnded, prep: public})
	}
	add("clip", makeClip(), []string{"admin", "mod", "host", "co", "sp", "lis", "req"}, map[string]error{
		"blk": ErrBlocked, "sus": ErrSuspended, "anon": ErrForbidden})
	clipsOff := []permStep{{"host", recorderSetting(func(r *RecordingState) { r.ClipsOff = true })}}
	for w, err := range map[string]error{"lis": ErrClipsOff, "host": ErrClipsOff} {
		rows = append(rows, permRow{action: "clip with clips off", who: w, do: makeClip(), want: err, prep: clipsOff})
	}
	rows = append(rows,
		permRow{action: "clip a hosts-only replay", who: "lis", do: makeClip(), want: ErrForbidden, phase: phaseEnded},
		permRow{action: "clip a hosts-only replay", who: "host", do: makeClip(), phase: phaseEnded},
		permRow{action: "clip a public replay", who: "lis", do: makeClip(), phase: phaseEnded, prep: public})
	add("play evidence", playEvidence(), []string{"admin", "mod"}, with(forbidden("host", "co", "sp", "lis", "anon"), "sus", ErrSuspended))

	for _, row := range rows {
		t.Run(row.action+"/"+row.who, func(t *testing.T) {
			f := setup(t, row.phase)
			for _, p := range row.prep {
				if err := p.do(ctx, f, who[p.who]); err != nil {
					t.Fatalf("prep by %s: %v", p.who, err)
				}
			}
			err := row.do(ctx, f, who[row.who])
			if !errors.Is(err, row.want) || (row.want == nil && err != nil) {
				t.Fatalf("%s by %s: %v, want %v", row.action, row.who, err, row.want)
			}
		})
	}
	if _, err := s.View(ctx, "no-such-room"); !errors.Is(err, ErrRoomNotFound) {
		t.Fatalf("unknown room: %v", err)
	}
	if err := s.CanJoin(ctx, who["lis"], "no-such-room"); !errors.Is(err, ErrRoomNotFound) {
		t.Fatalf("join an unknown room: %v", err)
	}
}
