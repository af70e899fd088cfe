package room

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"

	"majlis/internal/account"
	"majlis/internal/ratelimit"
	"majlis/internal/store"
)

func named(t *testing.T, st *store.Store, name string) Actor {
	t.Helper()
	u, _, err := st.CreateAccountWithKey(context.Background(), name, account.NameKey(name), PlatformUser, "", false)
	if err != nil {
		t.Fatal(err)
	}
	return Actor{ID: u.ID, Platform: PlatformUser}
}

func candidateNames(c []Candidate) []string {
	var out []string
	for _, x := range c {
		out = append(out, x.Name+":"+x.Role)
	}
	return out
}

// A search finds users by a normalised, case-folded prefix of their name,
// in Arabic as in Latin; it leaves out suspended and blocked users, names
// each one's role in the room, and answers at most MaxSearchResult users.
func TestCandidates(t *testing.T) {
	s, st, _ := newService(t, nil)
	ctx := context.Background()
	id, host := liveRoom(t, s, st)
	amal := named(t, st, "أمل")
	named(t, st, "أملاك")
	named(t, st, "أحمد")
	alice := named(t, st, "Alice")
	named(t, st, "alina")
	sus := named(t, st, "alisuspended")
	if err := st.SetSuspended(ctx, sus.ID, true); err != nil {
		t.Fatal(err)
	}
	blk := named(t, st, "alibad")
	if err := s.Block(ctx, host, id, blk.ID, true); err != nil {
		t.Fatal(err)
	}
	if err := s.Invite(ctx, host, id, alice.ID); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		q    string
		want []string
	}{
		{"أم", []string{"أمل:listener", "أملاك:listener"}},
		{"أمل", []string{"أمل:listener", "أملاك:listener"}},
		{norm.NFD.String("أمل"), []string{"أمل:listener", "أملاك:listener"}}, // hamza as a combining mark
		{"أملا", []string{"أملاك:listener"}},
		{"ALI", []string{"Alice:speaker", "alina:listener"}},
		{"Alic", []string{"Alice:speaker"}},
		{"zz", nil},
	} {
		got, err := s.Candidates(ctx, host, id, c.q)
		if err != nil {
			t.Fatalf("%q: %v", c.q, err)
		}
		if !slices.Equal(candidateNames(got), c.want) {
			t.Errorf("%q: %v, want %v", c.q, candidateNames(got), c.want)
		}
	}
	got, _ := s.Candidates(ctx, host, id, "أمل")
	if got[0].ID != amal.ID {
		t.Fatalf("found %+v, want id %s", got[0], amal.ID)
	}
	for _, q := range []string{"", "a", " a ", "al ice", "al<", string(make([]byte, account.MaxName+1))} {
		if _, err := s.Candidates(ctx, host, id, q); !errors.Is(err, ErrBadSearch) {
			t.Errorf("%q: %v, want ErrBadSearch", q, err)
		}
	}
	for i := range MaxSearchResult + 5 {
		named(t, st, fmt.Sprintf("many%02d", i))
	}
	if got, _ := s.Candidates(ctx, host, id, "many"); len(got) != MaxSearchResult {
		t.Fatalf("%d results, want %d", len(got), MaxSearchResult)
	}
}

// A user's searches are limited to a rate: past the burst they are refused
// with when to retry.
func TestCandidatesRateLimited(t *testing.T) {
	s, st, _ := newService(t, func(c *Config) { c.SearchRate = ratelimit.Rate{PerSecond: 0.001, Burst: 3} })
	ctx := context.Background()
	id, host := liveRoom(t, s, st)
	for range 3 {
		if _, err := s.Candidates(ctx, host, id, "ab"); err != nil {
			t.Fatal(err)
		}
	}
	_, err := s.Candidates(ctx, host, id, "ab")
	var le *SearchLimitError
	if !errors.As(err, &le) || le.Retry <= 0 {
		t.Fatalf("4th search: %v, want a SearchLimitError", err)
	}
	// Another host has a bucket of their own.
	id2, host2 := liveRoom(t, s, st)
	if _, err := s.Candidates(ctx, host2, id2, "ab"); err != nil {
		t.Fatal(err)
	}
}

// The listener list names the signed-in listeners connected now, first
// joined first; one user with two connections is one listener until both
// end; past the room's cap connections are counted, not named; everyone
// else is anonymous.
func TestListenerList(t *testing.T) {
	s, st, m := newService(t, func(c *Config) { c.MaxListed = 3 })
	ctx := context.Background()
	id, host := liveRoom(t, s, st)
	var users []Actor
	for _, n := range []string{"amal", "badr", "chadi", "dana"} {
		users = append(users, named(t, st, n))
	}
	m.listeners.Store(10) // every connection, signed in or not
	leaveA1 := s.ListenerConnected(id, users[0].ID, nil)
	time.Sleep(2 * time.Millisecond)
	leaveA2 := s.ListenerConnected(id, users[0].ID, nil) // a second tab
	leaveB := s.ListenerConnected(id, users[1].ID, nil)
	time.Sleep(2 * time.Millisecond)
	s.ListenerConnected(id, users[2].ID, nil)
	leaveD := s.ListenerConnected(id, users[3].ID, nil) // past the cap of 3
	s.ListenerConnected(id, "", nil)                    // anonymous: not tracked

	l, err := s.Listeners(ctx, host, id, 2)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, v := range l.Listeners {
		names = append(names, v.Name)
	}
	if !slices.Equal(names, []string{"amal", "badr"}) || l.SignedIn != 3 || l.Unlisted != 1 || l.Anonymous != 10-5 {
		t.Fatalf("list %v signed_in %d unlisted %d anonymous %d", names, l.SignedIn, l.Unlisted, l.Anonymous)
	}
	leaveA1()
	leaveA1() // twice is once
	leaveD()
	leaveB()
	m.listeners.Store(7)
	l, _ = s.Listeners(ctx, host, id, 100)
	names = names[:0]
	for _, v := range l.Listeners {
		names = append(names, v.Name)
	}
	if !slices.Equal(names, []string{"amal", "chadi"}) || l.Unlisted != 0 || l.Anonymous != 7-2 {
		t.Fatalf("after leaving: list %v unlisted %d anonymous %d", names, l.Unlisted, l.Anonymous)
	}
	leaveA2()
	l, _ = s.Listeners(ctx, host, id, 100)
	if l.SignedIn != 1 || l.Listeners[0].Name != "chadi" {
		t.Fatalf("after amal's last tab: %+v", l)
	}
	// A room not loaded here tracks nothing; its leave is harmless.
	s.ListenerConnected("no-such-room", users[0].ID, nil)()
}

// A hand-over makes the co-host the host and the old host a co-host, in the
// store too (a restarted process agrees), tells the room in one event, and
// is audited, as is a co-host's demotion.
func TestTransferHost(t *testing.T) {
	s, st, l := newAudited(t)
	ctx := context.Background()
	id, host := liveRoom(t, s, st)
	co := newUser(t, st, PlatformUser)
	if err := s.MakeCohost(ctx, host, id, co.ID); err != nil {
		t.Fatal(err)
	}
	if err := s.Mute(ctx, host, id, host.ID, true); err != nil {
		t.Fatal(err)
	}
	sub, err := s.Subscribe(ctx, id, 0)
	if err != nil {
		t.Fatal(err)
	}
	sub.Next(ctx) // the snapshot
	if err := s.TransferHost(ctx, host, id, co.ID); err != nil {
		t.Fatal(err)
	}
	batch, _, err := sub.Next(ctx)
	if err != nil || len(batch) != 1 || eventType(batch[0].Raw) != "host_changed" {
		t.Fatalf("events %v, %v", batch, err)
	}
	v, _ := s.View(ctx, id)
	roles := map[string]string{}
	for _, m := range v.Stage {
		roles[m.ID] = m.Role
		if m.ID == host.ID && !m.Muted {
			t.Errorf("the old host lost their mute")
		}
	}
	if v.Host != co.ID || roles[co.ID] != RoleHost || roles[host.ID] != RoleCohost || len(v.Stage) != 2 {
		t.Fatalf("after the hand-over: host %s, stage %+v", v.Host, v.Stage)
	}
	rec, _ := st.Room(ctx, id)
	if rec.Host != co.ID {
		t.Fatalf("stored host %s, want %s", rec.Host, co.ID)
	}
	s2, err := New(Config{Store: st, Media: &fakeMedia{}})
	if err != nil {
		t.Fatal(err)
	}
	if r, _ := s2.RoleOf(ctx, id, host.ID); r != RoleCohost {
		t.Fatalf("restarted: the old host is %q", r)
	}
	s2.Close()
	if err := s.DemoteCohost(ctx, co, id, host.ID); err != nil {
		t.Fatal(err)
	}
	if r, _ := s.RoleOf(ctx, id, host.ID); r != RoleSpeaker {
		t.Fatalf("after the demotion: %q", r)
	}
	want := []string{
		fmt.Sprintf("%s %s user:%s %s", host.ID, AuditHostTransfer, co.ID, id),
		fmt.Sprintf("%s %s user:%s %s", co.ID, AuditCohostDemote, host.ID, id),
	}
	got := auditRows(t, l)
	for _, w := range want {
		if !slices.Contains(got, w) {
			t.Errorf("audit %v lacks %q", got, w)
		}
	}
}

// FuzzSearchKey: any q (from the network's ?q=) is refused or gives a key
// of valid UTF-8 at least MinSearch characters long; never a panic.
func FuzzSearchKey(f *testing.F) {
	for _, s := range []string{"أم", "ALI", "a", "", " al ", "al ice", "\u0627\u0654", "\ufe83\ufee3", "ǅa", "ß", "\xff\xfe"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, q string) {
		k, err := searchKey(q)
		if err != nil {
			if !errors.Is(err, ErrBadSearch) {
				t.Fatalf("%q: %v", q, err)
			}
			return
		}
		if !utf8.ValidString(k) || utf8.RuneCountInString(k) < MinSearch {
			t.Fatalf("%q gave key %q", q, k)
		}
	})
}

// A signed-in HLS player is listed while it beats, stays listed (once)
// across a ticket renewal, and is dropped once not heard from for
// hlsListedFor.
func TestListenerListHLS(t *testing.T) {
	s, st, _ := newService(t, func(c *Config) { c.Interval = time.Hour })
	ctx := context.Background()
	id, host := liveRoom(t, s, st)
	amal := named(t, st, "amal")
	list := func() ListenerList {
		t.Helper()
		l, err := s.Listeners(ctx, host, id, 10)
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	s.HLSHeartbeat(id, 1, true)
	s.HLSListening(id, 1, amal.ID, 0, false)
	s.HLSListening(id, 1, amal.ID, 0, false) // the next beat
	s.HLSListening(id, 2, "", 0, false)      // anonymous
	if l := list(); l.SignedIn != 1 || l.Listeners[0].ID != amal.ID || l.Anonymous != 0 {
		t.Fatalf("while beating: %+v", l)
	}
	s.HLSRenewed(id, 1, 3, true)
	s.HLSListening(id, 3, amal.ID, 1, true)
	r := s.loaded(id)
	r.aud.people.mu.Lock()
	conns := r.aud.people.conns
	r.aud.people.mu.Unlock()
	if l := list(); l.SignedIn != 1 || conns != 1 || l.Anonymous != 0 {
		t.Fatalf("after a renewal: %+v, %d connections", l, conns)
	}
	r.aud.hlsPeople.sweep(time.Now().Add(hlsListedFor / 2))
	if l := list(); l.SignedIn != 1 {
		t.Fatalf("dropped while still beating: %+v", l)
	}
	r.aud.hlsPeople.sweep(time.Now().Add(hlsListedFor + time.Second))
	if l := list(); l.SignedIn != 0 {
		t.Fatalf("still listed after the beats stopped: %+v", l)
	}
}

// After a hand-over --auto-end watches the new host: a room handed to a
// co-host on stage stays live, one handed to a co-host off stage ends even
// though the old host is still on it.
func TestTransferHostAutoEnd(t *testing.T) {
	var looks *lookedAt
	s, st, _ := newService(t, func(c *Config) { c.AutoEnd = 300 * time.Millisecond; looks = watchTicks(c) })
	ctx := context.Background()
	rooms := map[bool]string{}
	for _, onStage := range []bool{true, false} {
		id, host := liveRoom(t, s, st)
		co := newUser(t, st, PlatformUser)
		if err := s.MakeCohost(ctx, host, id, co.ID); err != nil {
			t.Fatal(err)
		}
		if _, _, err := s.Publish(ctx, host, id, "offer"); err != nil {
			t.Fatal(err)
		}
		if onStage {
			if _, _, err := s.Publish(ctx, co, id, "offer"); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.TransferHost(ctx, host, id, co.ID); err != nil {
			t.Fatal(err)
		}
		rooms[onStage] = id
	}
	set := time.Now()
	waitEnded(t, st, rooms[false], "new host off stage")
	staysLive(t, s, st, looks, set, rooms[true], "new host on stage")
}

// A block ends every listen stream of the user in the room (each remove
// runs once), not another user's nor another room's; a stream of theirs
// connecting after the block is ended as it is recorded; ListenerRemoved
// says so until the unblock, and after it for their tickets issued before
// the block; Config.Removed hears of the block with its time (for the
// edges). Suspend does the same in every loaded room, and its time refuses
// the user's older tickets in every room, loaded or not, until they
// expire, even once the suspension is lifted. Removals pages through them.
func TestBlockRemovesListener(t *testing.T) {
	type heard struct {
		room, user string
		at         time.Time
	}
	var told []heard
	s, st, _ := newService(t, func(c *Config) {
		c.Removed = func(room, user string, at time.Time) { told = append(told, heard{room, user, at}) }
	})
	ctx := context.Background()
	id, host := liveRoom(t, s, st)
	id2, _ := liveRoom(t, s, st)
	amal, badr := named(t, st, "amal"), named(t, st, "badr")
	var tab1, tab2, other, elsewhere, late int
	leave1 := s.ListenerConnected(id, amal.ID, func() { tab1++ })
	s.ListenerConnected(id, amal.ID, func() { tab2++ })
	s.ListenerConnected(id, badr.ID, func() { other++ })
	s.ListenerConnected(id2, amal.ID, func() { elsewhere++ })
	leave1()             // that tab ended before the block: not removed again
	issued := time.Now() // the tickets of the streams above
	if s.ListenerRemoved(id, amal.ID, issued) {
		t.Fatal("removed before the block")
	}
	if err := s.Block(ctx, host, id, amal.ID, true); err != nil {
		t.Fatal(err)
	}
	if tab1 != 0 || tab2 != 1 || other != 0 || elsewhere != 0 {
		t.Fatalf("after the block: ended tab %d, open tab %d, badr %d, amal elsewhere %d; want 0 1 0 0", tab1, tab2, other, elsewhere)
	}
	if !s.ListenerRemoved(id, amal.ID, issued) || s.ListenerRemoved(id, badr.ID, issued) || s.ListenerRemoved(id2, amal.ID, issued) || s.ListenerRemoved(id, "", issued) {
		t.Fatal("ListenerRemoved: want amal in the room only")
	}
	s.ListenerConnected(id, amal.ID, func() { late++ })
	if late != 1 {
		t.Fatalf("a stream connecting after the block ran remove %d times, want 1", late)
	}
	if len(told) != 1 || told[0].room != id || told[0].user != amal.ID || told[0].at.Before(issued) || time.Since(told[0].at) > time.Minute {
		t.Fatalf("Config.Removed heard %v", told)
	}
	blocked := told[0].at
	if err := s.Block(ctx, host, id, amal.ID, false); err != nil {
		t.Fatal(err)
	}
	fresh := time.Now()
	if s.ListenerRemoved(id, amal.ID, fresh) || !s.ListenerRemoved(id, amal.ID, issued) || !s.ListenerRemoved(id, amal.ID, blocked) || len(told) != 1 {
		t.Fatalf("after the unblock: a ticket issued after it removed %v, one issued before the block %v, told %v; want false, true",
			s.ListenerRemoved(id, amal.ID, fresh), s.ListenerRemoved(id, amal.ID, issued), told)
	}

	// A suspension: in every room loaded here, and for tickets of any room.
	told = nil
	s.Suspend(amal.ID)
	if elsewhere != 1 || len(told) < 2 {
		t.Fatalf("after the suspension: amal in the other room ended %d times, told %v", elsewhere, told)
	}
	suspended := told[0].at
	for _, r := range []string{id, id2, "a-room-not-loaded"} {
		if !s.ListenerRemoved(r, amal.ID, fresh) || s.ListenerRemoved(r, badr.ID, fresh) {
			t.Fatalf("room %s after the suspension: amal's ticket issued before it taken, or badr's refused", r)
		}
		// Unsuspended (the account's business: Suspend is not told), a
		// ticket issued after the suspension is taken.
		if s.ListenerRemoved(r, amal.ID, suspended.Add(time.Millisecond)) {
			t.Fatalf("room %s: a ticket issued after the suspension refused", r)
		}
	}

	// Removals, oldest first, by page; times strictly increase.
	all, more := s.Removals(time.Time{}, 10)
	if more || len(all) != 2 || all[0] != (Removal{Room: id, User: amal.ID, At: blocked}) || all[1] != (Removal{User: amal.ID, At: suspended}) {
		t.Fatalf("Removals: %+v more %v; want the block, then the suspension", all, more)
	}
	if page, more := s.Removals(time.Time{}, 1); !more || len(page) != 1 || page[0] != all[0] {
		t.Fatalf("Removals, one a page: %+v more %v", page, more)
	}
	if page, more := s.Removals(blocked, 1); more || len(page) != 1 || page[0] != all[1] {
		t.Fatalf("Removals after the block: %+v more %v", page, more)
	}

	// Retell tells Config.Removed again of the removals after a time, as
	// Block and Suspend told it: the block in its room, the suspension in
	// every loaded room.
	// (The rooms in any order.)
	byRoom := func(hs []heard) []heard {
		hs = slices.Clone(hs)
		slices.SortFunc(hs, func(a, b heard) int { return strings.Compare(a.room, b.room) })
		return hs
	}
	suspTold := byRoom(told)
	told = nil
	s.Retell(blocked)
	if !slices.Equal(byRoom(told), suspTold) {
		t.Fatalf("Retell after the block told %v, want the suspension as Suspend told it: %v", told, suspTold)
	}
	told = nil
	s.Retell(time.Time{})
	if len(told) == 0 || told[0] != (heard{id, amal.ID, blocked}) || !slices.Equal(byRoom(told[1:]), suspTold) {
		t.Fatalf("Retell of all told %v, want the block in its room, then %v", told, suspTold)
	}
	told = nil
	s.Retell(suspended)
	if len(told) != 0 {
		t.Fatalf("Retell after the last removal told %v", told)
	}
}

// The removals remembered are bounded (MaxRemovals, the oldest forgotten
// first) and forgotten after Config.RemovalsFor; their times increase even
// when the clock does not.
func TestRemovalsBound(t *testing.T) {
	var rs removals
	const keep = time.Minute
	now := time.Now()
	for i := range MaxRemovals + 100 {
		rs.add("r", fmt.Sprint("u", i), now, keep) // one clock reading for all
	}
	if len(rs.order) != MaxRemovals || len(rs.last) != MaxRemovals {
		t.Fatalf("%d removals (%d keys) remembered, want the cap %d", len(rs.order), len(rs.last), MaxRemovals)
	}
	for i := 1; i < len(rs.order); i++ {
		if !rs.order[i].At.After(rs.order[i-1].At) {
			t.Fatalf("removal %d at %v, not after the one before (%v)", i, rs.order[i].At, rs.order[i-1].At)
		}
	}
	if rs.removedSince("r", "u0", now) || !rs.removedSince("r", fmt.Sprint("u", MaxRemovals+99), now) {
		t.Fatal("past the cap: want the oldest forgotten, the newest remembered")
	}
	rs.add("r", "u-late", now.Add(keep+time.Hour), keep)
	if len(rs.order) != 1 || len(rs.last) != 1 {
		t.Fatalf("%d removals (%d keys) remembered after their time, want the new one only", len(rs.order), len(rs.last))
	}
}
