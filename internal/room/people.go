package room

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"majlis/internal/account"
	"majlis/internal/ratelimit"
	"majlis/internal/store"
)

// People: who a room's hosts can find and see. A host (or co-host) looks
// users up by the start of their name to invite them (Candidates), and
// sees the signed-in listeners connected now (Listeners).
//
// What a search reveals: a user's id, name and role in this room, and only
// to the room's moderators (its host and co-hosts, platform staff) while
// the room has not ended. Suspended users and users blocked from the room
// are left out; nothing else about an account (its platform role, when it
// was made, its rooms) is shown. Accounts have no e-mail address or
// display name: the name is all there is to show.
const (
	MinSearch       = 2  // characters (runes of the name key) a search needs
	MaxSearchResult = 10 // users one search answers
)

// DefaultSearchRate is how fast one user may search: a burst of 20 (typing
// a name), then 2 a second.
var DefaultSearchRate = ratelimit.Rate{PerSecond: 2, Burst: 20}

// ErrBadSearch: a search too short, too long, or with characters no name holds.
var ErrBadSearch = errors.New("bad search")

// SearchLimitError is a search refused for coming too fast; Retry says
// when the next one may come.
type SearchLimitError struct{ Retry time.Duration }

func (e *SearchLimitError) Error() string {
	return fmt.Sprintf("searching too fast; retry in %v", e.Retry)
}

// Candidate is a user a search found, with their role in the room.
type Candidate struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	Role string `json:"role"`
}

// Candidates finds up to MaxSearchResult users whose name starts with q
// (compared as name keys: NFKC-normalised and case-folded, so "ALI"
// finds "ali" and a decomposed "أمل" finds the composed one), for a
// moderator of room id to invite.
func (s *Service) Candidates(ctx context.Context, a Actor, id, q string) ([]Candidate, error) {
	key, err := searchKey(q)
	if err != nil {
		return nil, err
	}
	r, err := s.get(ctx, id)
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	err = r.moderator(a)
	r.mu.Unlock()
	if err != nil {
		return nil, err
	}
	if err := s.searchAllowed(a.ID); err != nil {
		return nil, err
	}
	users, err := s.st.UsersByNameKeyPrefix(ctx, key, MaxSearchResult+1)
	if err != nil {
		return nil, err
	}
	out := make([]Candidate, 0, len(users))
	r.mu.Lock()
	for _, u := range users {
		if r.blocked(u.ID) || len(out) == MaxSearchResult {
			continue
		}
		out = append(out, Candidate{ID: u.ID, Name: u.Name, Role: r.roleOf(u.ID)})
	}
	r.mu.Unlock()
	for _, c := range out {
		s.cacheName(c.ID, c.Name)
	}
	return out, nil
}

// searchKey validates a search and returns the name key it looks for.
func searchKey(q string) (string, error) {
	q = strings.TrimSpace(q)
	if len(q) > account.MaxName {
		return "", ErrBadSearch
	}
	// A prefix of a name is itself a valid name (the rules are per
	// character and per script); anything else finds nobody.
	if _, ok := account.CanonicalName(q); !ok {
		return "", ErrBadSearch
	}
	key := account.NameKey(q)
	if utf8.RuneCountInString(key) < MinSearch {
		return "", ErrBadSearch
	}
	return key, nil
}

// searchAllowed takes a token from the user's search bucket.
func (s *Service) searchAllowed(user string) error {
	now := time.Now()
	s.searchMu.Lock()
	defer s.searchMu.Unlock()
	b, ok := s.searches[user]
	if !ok && len(s.searches) >= maxNames {
		for u, old := range s.searches { // refilled buckets equal fresh ones
			if old.Full(s.cfg.SearchRate, now) {
				delete(s.searches, u)
			}
		}
		if len(s.searches) >= maxNames {
			clear(s.searches)
		}
	}
	ok, retry := b.Take(s.cfg.SearchRate, now)
	s.searches[user] = b
	if !ok {
		return &SearchLimitError{Retry: retry}
	}
	return nil
}

// Signed-in listeners. A listener who joined signed in holds a ticket
// naming them; each of their connections to this process is tracked in the
// room's listener set until it ends. The set holds at most
// DefaultMaxListed users a room (Config.MaxListed): past that, further
// signed-in connections are counted (ListenerList.Unlisted) but not named,
// so a room's memory stays bounded however large its audience.
const (
	DefaultMaxListed = 1000
	MaxListenersPage = 100 // listeners one ListenerList names at most
)

type listenerSet struct {
	mu       sync.Mutex
	users    map[string]*listened // user id → their connections
	conns    int                  // connections of the users in the set
	unlisted int                  // signed-in connections past the cap
	// streams holds, per user, how to end each of their connections
	// (listed or not): a block ends them (RemoveListener). Each entry is
	// one connection's, so it is bounded as the connections are.
	streams map[string][]*stream
}

type listened struct {
	since time.Time // the first of their current connections
	conns int
}

// stream is one signed-in connection's way to end it (ListenerConnected's remove).
type stream struct{ remove func() }

// ListenerConnected records that a listener holding a ticket issued to
// user (a signed-in join; "" for an anonymous one) connected to room id.
// remove, when not nil, ends that connection: it runs (from any goroutine,
// and must not block) when user is blocked in the room or suspended, at
// once if they are blocked already; it may run again (a block, then a
// suspension, before the stream ended), as fanout.Stop may. The returned func must be called once
// when the connection ends. It takes only the room's listener-set lock: it
// is on the audience path.
func (s *Service) ListenerConnected(id, user string, remove func()) (left func()) {
	r := s.loaded(id)
	if r == nil || user == "" {
		return func() {}
	}
	set := &r.aud.people
	set.mu.Lock()
	defer set.mu.Unlock()
	// Checked under the set's lock, which Block takes after it commits:
	// either the block is seen here, or this connection is in the set
	// when Block ends the user's streams.
	if _, b := r.snap.Load().blocked[user]; b {
		if remove != nil {
			remove()
		}
		return func() {}
	}
	var st *stream
	if remove != nil {
		st = &stream{remove: remove}
		if set.streams == nil {
			set.streams = make(map[string][]*stream)
		}
		set.streams[user] = append(set.streams[user], st)
	}
	// forget drops st from the user's streams; set.mu is held.
	forget := func() {
		if st == nil {
			return
		}
		ss := set.streams[user]
		if i := slices.Index(ss, st); i >= 0 {
			ss = slices.Delete(ss, i, i+1)
		}
		if len(ss) == 0 {
			delete(set.streams, user)
		} else {
			set.streams[user] = ss
		}
	}
	l := set.users[user]
	if l == nil {
		if len(set.users) >= s.cfg.MaxListed {
			set.unlisted++
			var once sync.Once
			return func() {
				once.Do(func() {
					set.mu.Lock()
					set.unlisted--
					forget()
					set.mu.Unlock()
				})
			}
		}
		if set.users == nil {
			set.users = make(map[string]*listened)
		}
		l = &listened{since: time.Now().UTC().Truncate(time.Millisecond)}
		set.users[user] = l
	}
	l.conns++
	set.conns++
	var once sync.Once
	return func() {
		once.Do(func() {
			set.mu.Lock()
			set.conns--
			if l.conns--; l.conns == 0 && set.users[user] == l {
				delete(set.users, user)
			}
			forget()
			set.mu.Unlock()
		})
	}
}

// removeListener ends every connection of user to room id (a block): their
// remove funcs run, outside the set's lock. Each connection leaves the set
// itself, when its stream has ended (its left func).
func (s *Service) removeListener(id, user string) int {
	r := s.loaded(id)
	if r == nil {
		return 0
	}
	set := &r.aud.people
	set.mu.Lock()
	ss := slices.Clone(set.streams[user])
	set.mu.Unlock()
	for _, st := range ss {
		st.remove()
	}
	return len(ss)
}

// ListenerRemoved reports whether user may not listen to room id signed in
// with a ticket issued at issued: they are blocked there, or were blocked
// or suspended at or after issued (removals.go; a ticket issued after an
// unblock or an unsuspension is taken). Their streams and HLS heartbeats
// are refused. It takes no lock but the removals' read lock.
func (s *Service) ListenerRemoved(id, user string, issued time.Time) bool {
	if user == "" {
		return false
	}
	if r := s.loaded(id); r != nil {
		if _, b := r.snap.Load().blocked[user]; b {
			return true
		}
	}
	return s.removed.removedSince(id, user, issued)
}

// ListenerView is a signed-in listener connected now.
type ListenerView struct {
	ID    string    `json:"id"`
	Name  string    `json:"name"`
	Since time.Time `json:"since"`
}

// ListenerList is a room's audience as its moderators see it.
type ListenerList struct {
	// Listeners are the first signed-in listeners by the time they
	// connected (at most the limit asked for), SignedIn how many signed-in
	// users are listed in all.
	Listeners []ListenerView `json:"listeners"`
	SignedIn  int            `json:"signed_in"`
	// Unlisted counts signed-in connections past the room's cap, which are
	// not named.
	Unlisted int `json:"unlisted"`
	// Anonymous is every other listener: anonymous joins, HLS players and
	// the listeners of edges (whose names this process does not know).
	Anonymous int64 `json:"anonymous"`
}

// Listeners lists room id's signed-in listeners, the first limit of them
// by join time (limit is capped at MaxListenersPage), for its moderators.
func (s *Service) Listeners(ctx context.Context, a Actor, id string, limit int) (ListenerList, error) {
	r, err := s.get(ctx, id)
	if err != nil {
		return ListenerList{}, err
	}
	r.mu.Lock()
	err = r.moderator(a)
	live := r.rec.State == store.StateLive
	r.mu.Unlock()
	if err != nil {
		return ListenerList{}, err
	}
	limit = min(max(limit, 0), MaxListenersPage)
	type entry struct {
		id    string
		since time.Time
	}
	set := &r.aud.people
	set.mu.Lock()
	all := make([]entry, 0, len(set.users))
	for u, l := range set.users {
		all = append(all, entry{u, l.since})
	}
	conns, unlisted := set.conns, set.unlisted
	set.mu.Unlock()
	slices.SortFunc(all, func(x, y entry) int {
		if c := x.since.Compare(y.since); c != 0 {
			return c
		}
		return strings.Compare(x.id, y.id)
	})
	out := ListenerList{Listeners: []ListenerView{}, SignedIn: len(all), Unlisted: unlisted}
	for _, e := range all[:min(limit, len(all))] {
		out.Listeners = append(out.Listeners, ListenerView{ID: e.id, Name: s.name(ctx, e.id), Since: e.since})
	}
	if live {
		out.Anonymous = max(s.counts(r, true).Listeners-int64(conns+unlisted), 0)
	}
	return out, nil
}

// HLS players hold no connection: a signed-in player is listed while it
// beats (HLSListening, every HLSBeat) and dropped by the ticker once not
// heard from for hlsListedFor. At most MaxListed tickets a room are
// followed; past that, signed-in players count as anonymous.
const hlsListedFor = 2 * hlsInterval

type hlsListed struct {
	leave   func()
	last    time.Time
	removed atomic.Bool // the user was blocked: dropped at the next sweep
}

// hlsPeople follows the signed-in HLS players of a room, by ticket nonce.
// Its lock is taken before the listener set's, never the other way.
type hlsPeople struct {
	mu sync.Mutex
	m  map[uint64]*hlsListed
}

// HLSListening records a counted heartbeat of a signed-in HLS player in room
// id: the ticket (nonce) issued to user. prev, when hasPrev, is the nonce of
// the ticket the player renewed, which stops being listed at once.
func (s *Service) HLSListening(id string, nonce uint64, user string, prev uint64, hasPrev bool) {
	r := s.loaded(id)
	if r == nil || user == "" {
		return
	}
	now := time.Now()
	hp := &r.aud.hlsPeople
	hp.mu.Lock()
	defer hp.mu.Unlock()
	if hasPrev && prev != nonce {
		if e := hp.m[prev]; e != nil {
			delete(hp.m, prev)
			defer e.leave() // after the new ticket is listed: the user stays listed since their first beat
		}
	}
	if e := hp.m[nonce]; e != nil {
		e.last = now
		return
	}
	if len(hp.m) >= s.cfg.MaxListed {
		return
	}
	if hp.m == nil {
		hp.m = make(map[uint64]*hlsListed)
	}
	e := &hlsListed{last: now}
	hp.m[nonce] = e
	// A block has the next sweep drop the player (its later beats are
	// refused: ListenerRemoved). remove may run under hp.mu (already
	// blocked), so it only marks the entry.
	e.leave = s.ListenerConnected(id, user, func() { e.removed.Store(true) })
}

// sweep drops the players not heard from since before now-hlsListedFor.
func (hp *hlsPeople) sweep(now time.Time) {
	hp.mu.Lock()
	defer hp.mu.Unlock()
	for n, e := range hp.m {
		if now.Sub(e.last) > hlsListedFor || e.removed.Load() {
			delete(hp.m, n)
			e.leave()
		}
	}
}
