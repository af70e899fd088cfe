package httpapi

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"majlis/internal/room"
)

// The people of a room, for its moderators: user search (to invite by
// name), the listener list, host hand-over and co-host demotion.
func (a *API) routePeople(m *http.ServeMux) {
	m.HandleFunc("GET /api/v1/rooms/{id}/candidates", a.handle(a.candidates))
	m.HandleFunc("GET /api/v1/rooms/{id}/listeners", a.handle(a.listeners))
	m.HandleFunc("POST /api/v1/rooms/{id}/host", a.handle(a.transferHost))
	m.HandleFunc("DELETE /api/v1/rooms/{id}/cohosts/{user}", a.handle(a.onUser(func(ctx context.Context, s *room.Service, act room.Actor, id, u string) error {
		return s.DemoteCohost(ctx, act, id, u)
	})))
}

var (
	errBadSearch     = errorf(http.StatusBadRequest, "bad_query", "q must be 2 to 64 bytes of the start of a name: letters of one script, digits, '.', '_' or '-'")
	errSearchLimited = errorf(http.StatusTooManyRequests, "rate_limited", "searching too fast; retry after Retry-After")
	errBadLimit      = errorf(http.StatusBadRequest, "bad_query", "limit must be a whole number from 1 to 100")
)

// candidates answers GET .../candidates?q=: up to 10 users whose name
// starts with q, with their role in the room.
func (a *API) candidates(w http.ResponseWriter, r *http.Request) error {
	p, err := a.auth(r)
	if err != nil {
		return err
	}
	users, err := a.rooms.Candidates(r.Context(), p.actor(), r.PathValue("id"), r.URL.Query().Get("q"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"users": users})
	return nil
}

// listeners answers GET .../listeners?limit=: the signed-in listeners
// connected now (the first limit of them by join time, default 50) and the
// count of the others.
func (a *API) listeners(w http.ResponseWriter, r *http.Request) error {
	p, err := a.auth(r)
	if err != nil {
		return err
	}
	limit := 50
	if s := r.URL.Query().Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > room.MaxListenersPage {
			return errBadLimit
		}
		limit = n
	}
	l, err := a.rooms.Listeners(r.Context(), p.actor(), r.PathValue("id"), limit)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, l)
	return nil
}

// transferHost answers POST .../host {"user": ID}: the room's new host.
func (a *API) transferHost(w http.ResponseWriter, r *http.Request) error {
	p, err := a.auth(r)
	if err != nil {
		return err
	}
	var in struct {
		User string `json:"user"`
	}
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	if in.User == "" {
		return errorf(http.StatusBadRequest, "bad_json", `body must be {"user":"USER_ID"}`)
	}
	if err := a.rooms.TransferHost(r.Context(), p.actor(), r.PathValue("id"), in.User); err != nil {
		return err
	}
	return a.stateAfter(w, r)
}

func searchLimited(e *room.SearchLimitError) *apiError {
	return errSearchLimited.Retry(max(e.Retry, time.Second))
}
