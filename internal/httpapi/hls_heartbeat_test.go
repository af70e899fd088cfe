package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"testing"
	"time"

	"majlis/internal/admission"
	"majlis/internal/room"
	"majlis/internal/store"
)

// noMedia is a room.Media with no listeners and no stage: the heartbeat
// tests count HLS players only.
type noMedia struct{}

func (noMedia) Start(string) error     { return nil }
func (noMedia) End(string)             {}
func (noMedia) Listeners(string) int64 { return 0 }
func (noMedia) Publish(context.Context, string, string, string) (room.Published, string, error) {
	return nil, "", room.ErrNotLive
}

// heartbeatRig is the HLS heartbeat route over a room service with one
// live room, and the ticket signers of that room's origin and of another.
type heartbeatRig struct {
	mux     *http.ServeMux
	rooms   *room.Service
	room    string
	tickets *admission.Signer
	foreign *admission.Signer // another origin's key
}

func newHeartbeatRig(t testing.TB) *heartbeatRig {
	t.Helper()
	st, err := store.Open(filepath.Join(t.TempDir(), "majlis.db"))
	if err != nil {
		t.Fatal(err)
	}
	rooms, err := room.New(room.Config{Store: st, Media: noMedia{}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rooms.Close(); st.Close() })
	ctx := context.Background()
	u, _, err := st.CreateUser(ctx, "host", room.PlatformUser)
	if err != nil {
		t.Fatal(err)
	}
	host := room.Actor{ID: u.ID, Platform: room.PlatformUser}
	rm, err := rooms.Create(ctx, host, "t", "", time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rooms.Start(ctx, host, rm.ID); err != nil {
		t.Fatal(err)
	}
	tickets, _ := admission.NewSigner(bytes.Repeat([]byte{1}, 32), time.Minute)
	foreign, _ := admission.NewSigner(bytes.Repeat([]byte{2}, 32), time.Minute)
	h := &hlsAPI{cfg: HLSConfig{Tickets: tickets, Rooms: rooms}}
	mux := http.NewServeMux()
	h.route(mux)
	return &heartbeatRig{mux: mux, rooms: rooms, room: rm.ID, tickets: tickets, foreign: foreign}
}

func (g *heartbeatRig) issue(t testing.TB, s *admission.Signer, room string) string {
	t.Helper()
	tok, _, err := s.Issue(room)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// beat posts a heartbeat with query q and returns the status and error code.
func (g *heartbeatRig) beat(q url.Values) (int, string) {
	w := httptest.NewRecorder()
	g.mux.ServeHTTP(w, httptest.NewRequest("POST", "/api/v1/rooms/"+g.room+"/hls/heartbeat?"+q.Encode(), nil))
	var e struct {
		Error struct{ Code string } `json:"error"`
	}
	json.Unmarshal(w.Body.Bytes(), &e)
	return w.Code, e.Error.Code
}

func (g *heartbeatRig) listeners(t *testing.T) int64 {
	t.Helper()
	c, _ := g.rooms.Counts(g.room)
	return c.Listeners
}

// TestHLSHeartbeatRenewal: a player's first beat with a renewed ticket
// names the old one in prev, and the room counts it once; a prev that is
// not a ticket of this room from this origin (forged, another room's,
// another key's) is refused 400 bad_prev_ticket and counts nothing.
func TestHLSHeartbeatRenewal(t *testing.T) {
	g := newHeartbeatRig(t)
	old := g.issue(t, g.tickets, g.room)
	if code, e := g.beat(url.Values{"t": {old}}); code != http.StatusOK {
		t.Fatalf("first beat: %d %s", code, e)
	}
	renewed := g.issue(t, g.tickets, g.room)
	if code, e := g.beat(url.Values{"t": {renewed}, "prev": {old}}); code != http.StatusOK {
		t.Fatalf("renewal: %d %s", code, e)
	}
	if n := g.listeners(t); n != 1 {
		t.Fatalf("after a renewal naming the old ticket: %d listeners, want 1", n)
	}
	// Without prev the two tickets count twice (the double count prev ends).
	other := g.issue(t, g.tickets, g.room)
	g.beat(url.Values{"t": {other}})
	if code, _ := g.beat(url.Values{"t": {g.issue(t, g.tickets, g.room)}}); code != http.StatusOK || g.listeners(t) != 3 {
		t.Fatalf("renewal without prev: %d, %d listeners, want 3", code, g.listeners(t))
	}

	otherRoom := g.issue(t, g.tickets, "someotherroom")
	forged := []byte(other)
	forged[len(forged)-2] ^= 1
	for name, prev := range map[string]string{
		"forged":      string(forged),
		"other room":  otherRoom,
		"other key":   g.issue(t, g.foreign, g.room),
		"garbage":     "%%%",
		"much longer": string(bytes.Repeat([]byte("A"), 4*admission.MaxTicketLen)),
	} {
		before := g.listeners(t)
		code, e := g.beat(url.Values{"t": {g.issue(t, g.tickets, g.room)}, "prev": {prev}})
		if code != http.StatusBadRequest || e != "bad_prev_ticket" {
			t.Errorf("%s prev: %d %q, want 400 bad_prev_ticket", name, code, e)
		}
		if n := g.listeners(t); n != before {
			t.Errorf("%s prev: listeners %d → %d", name, before, n)
		}
	}
	// The ticket itself is checked first: a bad t is 401 whatever prev says.
	if code, e := g.beat(url.Values{"t": {"x"}, "prev": {other}}); code != http.StatusUnauthorized || e != "bad_ticket" {
		t.Fatalf("bad t with prev: %d %s", code, e)
	}
	if n := g.listeners(t); n != 3 {
		t.Fatalf("refused renewals removed someone: %d listeners, want 3", n)
	}
}

// FuzzHLSHeartbeatQuery: the heartbeat's query (t, prev) comes from the
// network: any query is answered without panicking, with 200 only for this
// room's valid ticket, and never lowers the count below the players who
// still beat with valid tickets they did not name as prev.
func FuzzHLSHeartbeatQuery(f *testing.F) {
	g := newHeartbeatRig(f)
	valid := g.issue(f, g.tickets, g.room)
	for _, q := range []string{"", "t=" + valid, "t=" + valid + "&prev=" + valid, "t=" + valid + "&prev=abc", "prev=" + valid, "t=&prev=", "t=%ZZ", "t=a&t=b&prev=c&prev=d"} {
		f.Add(q)
	}
	f.Fuzz(func(t *testing.T, query string) {
		q, err := url.ParseQuery(query)
		if err != nil {
			return
		}
		code, e := g.beat(q)
		_, verr := g.tickets.Verify(q.Get("t"), g.room)
		if code == http.StatusOK && verr != nil {
			t.Fatalf("%q: 200 for a ticket Verify refuses (%v)", query, verr)
		}
		if code != http.StatusOK && e == "" {
			t.Fatalf("%q: %d without a JSON error code", query, code)
		}
	})
}
