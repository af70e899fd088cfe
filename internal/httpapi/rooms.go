package httpapi

import (
	"context"
	"net/http"
	"net/url"
	"strings"

	"majlis/internal/room"
	"majlis/internal/usertext"
)

// Event stream limits.
const (
	maxPinLen = 500
)

func (a *API) routeRooms(m *http.ServeMux) {
	m.HandleFunc("GET /api/v1/rooms", a.handle(a.listRooms))
	m.HandleFunc("GET /api/v1/rooms/{id}/state", a.handle(a.roomState))
	m.HandleFunc("GET /api/v1/rooms/{id}/events", a.handle(a.roomEvents))
	m.HandleFunc("GET /api/v1/rooms/{id}/calendar.ics", a.handle(a.roomCalendar))
	m.HandleFunc("POST /api/v1/rooms/{id}/requests", a.handle(a.self(func(ctx context.Context, s *room.Service, act room.Actor, id string) error {
		return s.RequestSpeak(ctx, act, id)
	})))
	m.HandleFunc("DELETE /api/v1/rooms/{id}/requests", a.handle(a.self(func(ctx context.Context, s *room.Service, act room.Actor, id string) error {
		return s.CancelRequest(ctx, act, id)
	})))
	m.HandleFunc("POST /api/v1/rooms/{id}/requests/{user}/approve", a.handle(a.onUser(func(ctx context.Context, s *room.Service, act room.Actor, id, u string) error {
		return s.Answer(ctx, act, id, u, true)
	})))
	m.HandleFunc("POST /api/v1/rooms/{id}/requests/{user}/deny", a.handle(a.onUser(func(ctx context.Context, s *room.Service, act room.Actor, id, u string) error {
		return s.Answer(ctx, act, id, u, false)
	})))
	m.HandleFunc("POST /api/v1/rooms/{id}/speakers/{user}", a.handle(a.onUser(func(ctx context.Context, s *room.Service, act room.Actor, id, u string) error {
		return s.Invite(ctx, act, id, u)
	})))
	m.HandleFunc("DELETE /api/v1/rooms/{id}/speakers/{user}", a.handle(a.onUser(func(ctx context.Context, s *room.Service, act room.Actor, id, u string) error {
		return s.ToAudience(ctx, act, id, u)
	})))
	m.HandleFunc("POST /api/v1/rooms/{id}/cohosts/{user}", a.handle(a.onUser(func(ctx context.Context, s *room.Service, act room.Actor, id, u string) error {
		return s.MakeCohost(ctx, act, id, u)
	})))
	m.HandleFunc("POST /api/v1/rooms/{id}/blocks/{user}", a.handle(a.onUser(func(ctx context.Context, s *room.Service, act room.Actor, id, u string) error {
		return s.Block(ctx, act, id, u, true)
	})))
	m.HandleFunc("DELETE /api/v1/rooms/{id}/blocks/{user}", a.handle(a.onUser(func(ctx context.Context, s *room.Service, act room.Actor, id, u string) error {
		return s.Block(ctx, act, id, u, false)
	})))
	m.HandleFunc("POST /api/v1/rooms/{id}/members/{user}/mute", a.handle(a.mute))
	m.HandleFunc("PUT /api/v1/rooms/{id}/pin", a.handle(a.pin))
	m.HandleFunc("DELETE /api/v1/rooms/{id}/pin", a.handle(a.unpin))
	m.HandleFunc("POST /api/v1/rooms/{id}/reactions", a.handle(a.react))
	m.HandleFunc("GET /api/v1/reactions", a.handle(a.reactionSet))
}

// reactionSet gives clients the allowed reactions (room.Reactions), so the
// web app never keeps a copy of its own.
func (a *API) reactionSet(w http.ResponseWriter, r *http.Request) error {
	writeJSON(w, http.StatusOK, map[string]any{"reactions": room.Reactions()})
	return nil
}

// stateAfter answers a successful mutation with the room's new state.
func (a *API) stateAfter(w http.ResponseWriter, r *http.Request) error {
	v, err := a.rooms.View(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, v)
	return nil
}

// self adapts an action the caller does on themselves.
func (a *API) self(f func(context.Context, *room.Service, room.Actor, string) error) func(http.ResponseWriter, *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		p, err := a.auth(r)
		if err != nil {
			return err
		}
		if err := f(r.Context(), a.rooms, p.actor(), r.PathValue("id")); err != nil {
			return err
		}
		return a.stateAfter(w, r)
	}
}

// onUser adapts an action on the user named in the path.
func (a *API) onUser(f func(context.Context, *room.Service, room.Actor, string, string) error) func(http.ResponseWriter, *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		p, err := a.auth(r)
		if err != nil {
			return err
		}
		u := r.PathValue("user")
		if u == "me" {
			u = p.ID
		}
		if err := f(r.Context(), a.rooms, p.actor(), r.PathValue("id"), u); err != nil {
			return err
		}
		return a.stateAfter(w, r)
	}
}

func (a *API) mute(w http.ResponseWriter, r *http.Request) error {
	p, err := a.auth(r)
	if err != nil {
		return err
	}
	var in struct {
		Muted *bool `json:"muted"`
	}
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	if in.Muted == nil {
		return errorf(http.StatusBadRequest, "bad_json", `body must be {"muted":true|false}`)
	}
	u := r.PathValue("user")
	if u == "me" {
		u = p.ID
	}
	if err := a.rooms.Mute(r.Context(), p.actor(), r.PathValue("id"), u, *in.Muted); err != nil {
		return err
	}
	return a.stateAfter(w, r)
}

func (a *API) pin(w http.ResponseWriter, r *http.Request) error {
	p, err := a.auth(r)
	if err != nil {
		return err
	}
	var in struct {
		URL string `json:"url"`
	}
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	u, err := url.Parse(in.URL)
	// No credentials in a link shown to every listener (https://user:pw@host),
	// and nothing a control or override character could disguise.
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil || len(in.URL) > maxPinLen ||
		usertext.Check(in.URL, maxPinLen, false) != nil || strings.ContainsAny(in.URL, " \u00a0") {
		return errorf(http.StatusBadRequest, "bad_url", "url must be an http(s) URL of at most 500 bytes, without user:password@")
	}
	if err := a.rooms.Pin(r.Context(), p.actor(), r.PathValue("id"), in.URL); err != nil {
		return err
	}
	return a.stateAfter(w, r)
}

func (a *API) unpin(w http.ResponseWriter, r *http.Request) error {
	p, err := a.auth(r)
	if err != nil {
		return err
	}
	if err := a.rooms.Pin(r.Context(), p.actor(), r.PathValue("id"), ""); err != nil {
		return err
	}
	return a.stateAfter(w, r)
}

func (a *API) react(w http.ResponseWriter, r *http.Request) error {
	p, err := a.auth(r)
	if err != nil {
		return err
	}
	var in struct {
		Emoji string `json:"emoji"`
	}
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	if err := a.rooms.React(r.Context(), p.actor(), r.PathValue("id"), in.Emoji); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// maxRoomList bounds GET /api/v1/rooms.
const maxRoomList = 100

// listRooms lists live or scheduled rooms, oldest first.
func (a *API) listRooms(w http.ResponseWriter, r *http.Request) error {
	state := r.URL.Query().Get("state")
	if state == "" {
		state = "live"
	}
	if state != "live" && state != "scheduled" {
		return errorf(http.StatusBadRequest, "bad_state", "state must be live or scheduled")
	}
	rooms, err := a.rooms.List(r.Context(), state, maxRoomList)
	if err != nil {
		return err
	}
	out := make([]roomJSON, 0, len(rooms))
	for _, rm := range rooms {
		out = append(out, a.roomView(rm))
	}
	writeJSON(w, http.StatusOK, map[string]any{"rooms": out})
	return nil
}

func (a *API) roomState(w http.ResponseWriter, r *http.Request) error {
	return a.stateAfter(w, r)
}

// roomEvents streams a room's events (serveEvents).
func (a *API) roomEvents(w http.ResponseWriter, r *http.Request) error {
	since, err := parseSince(r)
	if err != nil {
		return err
	}
	sub, err := a.rooms.Subscribe(r.Context(), r.PathValue("id"), since)
	if err != nil {
		return err
	}
	serveEvents(w, r, sub)
	return nil
}
