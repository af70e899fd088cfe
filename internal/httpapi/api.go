// Package httpapi is majlis's HTTP face: the JSON API, WHIP for the stage,
// and the listener endpoints. It translates between HTTP and the domain
// packages (store, live, stage, fanout, admission); it holds no media logic.
//
// Every error leaves through writeError as {"error":{"code","message"}} with
// a stable snake_case code.
package httpapi

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"majlis/internal/admission"
	"majlis/internal/fanout"
	"majlis/internal/live"
	"majlis/internal/metrics"
	"majlis/internal/stage"
	"majlis/internal/store"
)

// Limits on input.
const (
	maxJSONBody  = 16 << 10
	maxSDPBody   = 64 << 10
	maxTitleLen  = 200
	maxUserName  = 64
	apiPrefix    = "/api/v1"
	contentSDP   = "application/sdp"
	contentFrag  = "application/trickle-ice-sdpfrag"
	adminID      = "admin"
	roleAdmin    = "admin"
	roleUser     = "user"
	roleModerate = "moderator"
)

// Config holds the API's dependencies.
type Config struct {
	Store      *store.Store
	Live       *live.Manager
	Stage      *stage.Stage
	Fanout     *fanout.Hub
	Tickets    *admission.Signer
	Metrics    *metrics.Metrics
	Logger     *slog.Logger
	AdminToken string
	// Web serves everything outside /api/ (the web app); nil means 404 JSON.
	Web http.Handler
}

// API serves the HTTP API.
type API struct {
	st      *store.Store
	live    *live.Manager
	stage   *stage.Stage
	fan     *fanout.Hub
	tickets *admission.Signer
	met     *metrics.Metrics
	log     *slog.Logger
	admin   string
	mux     *http.ServeMux
}

// New returns the API handler.
func New(cfg Config) *API {
	a := &API{st: cfg.Store, live: cfg.Live, stage: cfg.Stage, fan: cfg.Fanout, tickets: cfg.Tickets,
		met: cfg.Metrics, log: cfg.Logger, admin: cfg.AdminToken, mux: http.NewServeMux()}
	if a.log == nil {
		a.log = slog.Default()
	}
	m := a.mux
	m.HandleFunc("POST /api/v1/users", a.handle(a.createUser))
	m.HandleFunc("POST /api/v1/rooms", a.handle(a.createRoom))
	m.HandleFunc("GET /api/v1/rooms/{id}", a.handle(a.getRoom))
	m.HandleFunc("POST /api/v1/rooms/{id}/start", a.handle(a.startRoom))
	m.HandleFunc("POST /api/v1/rooms/{id}/end", a.handle(a.endRoom))
	m.HandleFunc("POST /api/v1/rooms/{id}/whip", a.handle(a.whipPost))
	m.HandleFunc("OPTIONS /api/v1/rooms/{id}/whip", a.whipOptions)
	m.HandleFunc("PATCH /api/v1/rooms/{id}/whip/{session}", a.handle(a.whipPatch))
	m.HandleFunc("DELETE /api/v1/rooms/{id}/whip/{session}", a.handle(a.whipDelete))
	m.HandleFunc("POST /api/v1/rooms/{id}/join", a.handle(a.join))
	m.HandleFunc("GET /api/v1/rooms/{id}/listen.ogg", a.handle(a.listenOgg))
	m.HandleFunc("GET /api/v1/rooms/{id}/listen.ws", a.handle(a.listenWS))
	m.HandleFunc("/api/", a.handle(func(w http.ResponseWriter, r *http.Request) error {
		return errorf(http.StatusNotFound, "not_found", "no such endpoint")
	}))
	if cfg.Web != nil {
		m.Handle("/", cfg.Web)
	}
	return a
}

func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) { a.mux.ServeHTTP(w, r) }

// handle adapts a handler returning an error.
func (a *API) handle(h func(http.ResponseWriter, *http.Request) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			a.writeError(w, r, err)
		}
	}
}

// principal is who is calling.
type principal struct {
	ID   string
	Role string
}

func (p principal) isAdmin() bool { return p.Role == roleAdmin }

func bearer(r *http.Request) string {
	h := r.Header.Get("Authorization")
	if len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
		return strings.TrimSpace(h[7:])
	}
	return ""
}

// auth resolves the bearer token; it fails with errUnauthorized.
func (a *API) auth(r *http.Request) (principal, error) {
	tok := bearer(r)
	if tok == "" || len(tok) > 256 {
		return principal{}, errUnauthorized
	}
	if subtle.ConstantTimeCompare([]byte(tok), []byte(a.admin)) == 1 {
		return principal{ID: adminID, Role: roleAdmin}, nil
	}
	u, err := a.st.UserByToken(r.Context(), tok)
	if errors.Is(err, store.ErrNotFound) {
		return principal{}, errUnauthorized
	}
	if err != nil {
		return principal{}, err
	}
	return principal{ID: u.ID, Role: u.Role}, nil
}

func decodeJSON(w http.ResponseWriter, r *http.Request, v any) error {
	r.Body = http.MaxBytesReader(w, r.Body, maxJSONBody)
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return errBodyTooLarge
		}
		return errBadJSON
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errBadJSON
	}
	return nil
}

func (a *API) createUser(w http.ResponseWriter, r *http.Request) error {
	p, err := a.auth(r)
	if err != nil {
		return err
	}
	if !p.isAdmin() {
		return errForbidden
	}
	var in struct {
		Name string `json:"name"`
		Role string `json:"role"`
	}
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	if in.Role == "" {
		in.Role = roleUser
	}
	if in.Role != roleUser && in.Role != roleModerate && in.Role != roleAdmin {
		return errorf(http.StatusBadRequest, "bad_role", "role must be user, moderator or admin")
	}
	if !validName(in.Name) {
		return errorf(http.StatusBadRequest, "bad_name", "name must be 1-64 letters, digits, '.', '_' or '-'")
	}
	u, tok, err := a.st.CreateUser(r.Context(), in.Name, in.Role)
	if errors.Is(err, store.ErrExists) {
		return errorf(http.StatusConflict, "name_taken", "a user with this name exists")
	}
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, map[string]string{"id": u.ID, "name": u.Name, "role": u.Role, "token": tok})
	return nil
}

func validName(s string) bool {
	if len(s) == 0 || len(s) > maxUserName {
		return false
	}
	for _, c := range s {
		if !(c == '.' || c == '_' || c == '-' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			return false
		}
	}
	return true
}

type roomJSON struct {
	ID        string     `json:"id"`
	Title     string     `json:"title"`
	Host      string     `json:"host"`
	State     string     `json:"state"`
	CreatedAt time.Time  `json:"created_at"`
	StartedAt *time.Time `json:"started_at,omitempty"`
	EndedAt   *time.Time `json:"ended_at,omitempty"`
	Stage     []string   `json:"stage"`
	Listeners int64      `json:"listeners"`
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

func (a *API) roomView(rm store.Room) roomJSON {
	v := roomJSON{ID: rm.ID, Title: rm.Title, Host: rm.Host, State: rm.State, CreatedAt: rm.CreatedAt,
		StartedAt: timePtr(rm.StartedAt), EndedAt: timePtr(rm.EndedAt), Stage: []string{}}
	if lr := a.live.Get(rm.ID); lr != nil {
		v.Listeners = lr.Listeners()
		if m := a.stage.Members(rm.ID); m != nil {
			v.Stage = m
		}
	}
	return v
}

func (a *API) createRoom(w http.ResponseWriter, r *http.Request) error {
	p, err := a.auth(r)
	if err != nil {
		return err
	}
	var in struct {
		Title string `json:"title"`
	}
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	in.Title = strings.TrimSpace(in.Title)
	if in.Title == "" || utf8.RuneCountInString(in.Title) > maxTitleLen || !utf8.ValidString(in.Title) {
		return errorf(http.StatusBadRequest, "bad_title", "title must be 1-200 characters")
	}
	rm, err := a.st.CreateRoom(r.Context(), in.Title, p.ID)
	if err != nil {
		return err
	}
	w.Header().Set("Location", apiPrefix+"/rooms/"+rm.ID)
	writeJSON(w, http.StatusCreated, a.roomView(rm))
	return nil
}

func (a *API) getRoom(w http.ResponseWriter, r *http.Request) error {
	rm, err := a.st.Room(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, a.roomView(rm))
	return nil
}

// hostRoom loads the room and checks that the caller may run it.
func (a *API) hostRoom(r *http.Request) (store.Room, principal, error) {
	p, err := a.auth(r)
	if err != nil {
		return store.Room{}, p, err
	}
	rm, err := a.st.Room(r.Context(), r.PathValue("id"))
	if err != nil {
		return rm, p, err
	}
	if !p.isAdmin() && p.ID != rm.Host {
		return rm, p, errForbidden
	}
	return rm, p, nil
}

func (a *API) startRoom(w http.ResponseWriter, r *http.Request) error {
	rm, _, err := a.hostRoom(r)
	if err != nil {
		return err
	}
	switch rm.State {
	case store.StateEnded:
		return errRoomEnded
	case store.StateScheduled:
		now := time.Now().UTC().Truncate(time.Millisecond)
		if err := a.st.SetRoomState(r.Context(), rm.ID, store.StateLive, now); err != nil {
			return err
		}
		rm.State, rm.StartedAt = store.StateLive, now
	}
	if _, err := a.live.Start(rm.ID); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, a.roomView(rm))
	return nil
}

func (a *API) endRoom(w http.ResponseWriter, r *http.Request) error {
	rm, _, err := a.hostRoom(r)
	if err != nil {
		return err
	}
	if rm.State != store.StateEnded {
		now := time.Now().UTC().Truncate(time.Millisecond)
		if err := a.st.SetRoomState(r.Context(), rm.ID, store.StateEnded, now); err != nil {
			return err
		}
		rm.State, rm.EndedAt = store.StateEnded, now
	}
	a.stage.CloseRoom(rm.ID)
	a.live.End(rm.ID)
	writeJSON(w, http.StatusOK, a.roomView(rm))
	return nil
}

// liveRoom returns the running room or the error that explains why it is not running.
func (a *API) liveRoom(ctx context.Context, rm store.Room) (*live.Room, error) {
	switch rm.State {
	case store.StateEnded:
		return nil, errRoomEnded
	case store.StateScheduled:
		return nil, errRoomNotLive
	}
	lr := a.live.Get(rm.ID)
	if lr == nil {
		return nil, errRoomNotLive
	}
	return lr, nil
}
