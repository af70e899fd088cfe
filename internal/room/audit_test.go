package room

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"majlis/internal/audit"
	"majlis/internal/store"
)

func newAudited(t *testing.T) (*Service, *store.Store, *audit.Log) {
	t.Helper()
	l, err := audit.Open(filepath.Join(t.TempDir(), "audit.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	s, st, _ := newService(t, func(c *Config) { c.Audit = l })
	return s, st, l
}

func newUser(t *testing.T, st *store.Store, role string) Actor {
	t.Helper()
	u, _, err := st.CreateUser(context.Background(), "u-"+store.NewID(), role)
	if err != nil {
		t.Fatal(err)
	}
	return Actor{ID: u.ID, Platform: role}
}

// auditRows is the log as "actor action target room" lines.
func auditRows(t *testing.T, l *audit.Log) []string {
	t.Helper()
	rows, err := l.Query(context.Background(), audit.Filter{Limit: audit.MaxLimit})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, r := range rows {
		out = append(out, fmt.Sprintf("%s %s %s %s", r.Actor, r.Action, r.Target, r.Room))
	}
	return out
}

// Every moderation action is one row, by its actor, on its target, in its
// room; members acting on themselves (self-mute, leaving the stage,
// asking to speak) are not moderation and leave none.
func TestAuditModeration(t *testing.T) {
	s, st, l := newAudited(t)
	ctx := context.Background()
	id, host := liveRoom(t, s, st)
	mod := newUser(t, st, PlatformModerator)
	a, b, c := newUser(t, st, PlatformUser), newUser(t, st, PlatformUser), newUser(t, st, PlatformUser)
	steps := []func() error{
		func() error { return s.Invite(ctx, host, id, a.ID) },
		func() error { return s.Mute(ctx, a, id, a.ID, true) }, // self: no row
		func() error { return s.Mute(ctx, host, id, a.ID, true) },
		func() error { return s.Mute(ctx, host, id, a.ID, false) },
		func() error { return s.RequestSpeak(ctx, b, id) }, // self: no row
		func() error { return s.Answer(ctx, host, id, b.ID, true) },
		func() error { return s.RequestSpeak(ctx, c, id) },
		func() error { return s.Answer(ctx, host, id, c.ID, false) },
		func() error { return s.MakeCohost(ctx, host, id, b.ID) },
		func() error { return s.ToAudience(ctx, mod, id, a.ID) },
		func() error { return s.ToAudience(ctx, b, id, b.ID) }, // self: no row
		func() error { return s.Block(ctx, mod, id, c.ID, true) },
		func() error { return s.Block(ctx, mod, id, c.ID, false) },
		func() error { return s.Block(ctx, mod, id, c.ID, false) }, // not blocked: nothing done, no row
		func() error { return s.Pin(ctx, host, id, "https://example.org/x") },
		func() error { _, err := s.End(ctx, mod, id); return err },
		func() error { _, err := s.End(ctx, mod, id); return err }, // already ended: no row
	}
	for i, f := range steps {
		if err := f(); err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
	}
	r, u := "room:"+id, func(a Actor) string { return "user:" + a.ID }
	want := []string{
		host.ID + " room.create " + r,
		host.ID + " room.start " + r,
		host.ID + " room.invite " + u(a),
		host.ID + " room.mute " + u(a),
		host.ID + " room.unmute " + u(a),
		host.ID + " room.approve " + u(b),
		host.ID + " room.deny " + u(c),
		host.ID + " room.cohost " + u(b),
		mod.ID + " room.remove " + u(a),
		mod.ID + " room.block " + u(c),
		mod.ID + " room.unblock " + u(c),
		host.ID + " room.pin " + r,
		mod.ID + " room.end " + r,
	}
	got := auditRows(t, l)
	if len(got) != len(want) {
		t.Fatalf("rows:\n%q\nwant:\n%q", got, want)
	}
	for i := range want {
		if got[i] != want[i]+" "+id {
			t.Errorf("row %d: %q, want %q", i+1, got[i], want[i]+" "+id)
		}
	}
	if _, err := l.Verify(ctx); err != nil {
		t.Fatal(err)
	}
}

// A room the ticker ends (its host gone) is recorded with the actor "system".
func TestAuditAutoEnd(t *testing.T) {
	l, err := audit.Open(filepath.Join(t.TempDir(), "audit.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	s, st, _ := newService(t, func(c *Config) { c.Audit = l; c.AutoEnd = time.Millisecond })
	id, _ := liveRoom(t, s, st)
	deadline := time.Now().Add(10 * time.Second)
	for {
		rows, err := l.Query(context.Background(), audit.Filter{Action: AuditEnd})
		if err != nil {
			t.Fatal(err)
		}
		if len(rows) == 1 {
			if rows[0].Actor != ActorSystem || rows[0].Room != id || rows[0].Detail["why"] != "host_gone" {
				t.Fatalf("auto-end row: %+v", rows[0])
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no auto-end row; rows: %q", auditRows(t, l))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// When the log cannot take the row, the action is answered with
// audit.ErrUnavailable (never a silent success).
func TestAuditFailureFailsTheCall(t *testing.T) {
	s, st, l := newAudited(t)
	ctx := context.Background()
	id, host := liveRoom(t, s, st)
	a := newUser(t, st, PlatformUser)
	if err := s.Invite(ctx, host, id, a.ID); err != nil {
		t.Fatal(err)
	}
	l.Close()
	if err := s.Mute(ctx, host, id, a.ID, true); !errors.Is(err, audit.ErrUnavailable) {
		t.Fatalf("mute with the log closed: %v, want audit.ErrUnavailable", err)
	}
	if _, err := s.End(ctx, host, id); !errors.Is(err, audit.ErrUnavailable) {
		t.Fatalf("end with the log closed: %v, want audit.ErrUnavailable", err)
	}
	// The end took effect all the same (the media stopped, the room is ended).
	if info, err := s.Room(ctx, id); err != nil || info.State != StateEnded {
		t.Fatalf("room after a failed record: %+v %v", info, err)
	}
}

// BenchmarkModerationAudit: what the audit row costs a moderation action:
// a host mutes a speaker and lets them speak again (two actions, two rows)
// with no audit log and with the real one (SQLite, hash-chained, durable
// before the action is acknowledged). The row is written while the
// room's stage operations wait (docs/audit.md).
//
//	go test -run '^$' -bench ModerationAudit -benchtime 2s ./internal/room/
func BenchmarkModerationAudit(b *testing.B) {
	for _, audited := range []bool{false, true} {
		name := "no-log"
		if audited {
			name = "audit-log"
		}
		b.Run(name, func(b *testing.B) {
			var l *audit.Log
			if audited {
				var err error
				if l, err = audit.Open(filepath.Join(b.TempDir(), "audit.db")); err != nil {
					b.Fatal(err)
				}
				defer l.Close()
			}
			s, st, _ := newService(b, func(c *Config) {
				if l != nil {
					c.Audit = l
				}
			})
			ctx := context.Background()
			id, host := liveRoom(b, s, st)
			u, _, err := st.CreateUser(ctx, "u-"+store.NewID(), PlatformUser)
			if err != nil {
				b.Fatal(err)
			}
			if err := s.Invite(ctx, host, id, u.ID); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for range b.N {
				if err := s.Mute(ctx, host, id, u.ID, true); err != nil {
					b.Fatal(err)
				}
				if err := s.Mute(ctx, host, id, u.ID, false); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
