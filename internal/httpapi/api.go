// Package httpapi is majlis's HTTP face: the JSON API, WHIP for the stage,
// and the listener endpoints. It translates between HTTP and the domain
// packages (store, live, stage, fanout, admission); it holds no media logic.
//
// Every error leaves through writeError as {"error":{"code","message"}} with
// a stable snake_case code.
package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"majlis/internal/account"
	"majlis/internal/admission"
	"majlis/internal/fanout"
	"majlis/internal/live"
	"majlis/internal/metrics"
	"majlis/internal/recording"
	"majlis/internal/room"
	"majlis/internal/safety"
	"majlis/internal/stage"
	"majlis/internal/usertext"
)

// Limits on input.
const (
	maxJSONBody = 16 << 10
	maxSDPBody  = 64 << 10
	maxTitleLen = 200
	maxDescLen  = 2000
	apiPrefix   = "/api/v1"
	contentSDP  = "application/sdp"
	contentFrag = "application/trickle-ice-sdpfrag"
)

// Config holds the API's dependencies.
type Config struct {
	Live    *live.Manager
	Stage   *stage.Stage
	Fanout  *fanout.Hub
	Tickets *admission.Signer
	Metrics *metrics.Metrics
	Logger  *slog.Logger
	// Accounts is the accounts domain (users, sign-up, logins, sessions,
	// tokens, suspension); every credential is resolved through it.
	Accounts *account.Service
	// Rooms is the room domain (roles, requests, mutes, reactions, counts, events).
	Rooms *room.Service
	// Web serves everything outside /api/ (the web app); nil means 404 JSON.
	Web http.Handler
	// Placement, when set, sends joined listeners to an edge (media.go).
	Placement Placement
	// Recordings keeps recordings, replays and clips; nil: no recording routes.
	Recordings *recording.Manager
	ClipTTL    time.Duration // clip lifetime, default recording.DefaultClipTTL
	// Evidence is the moderation evidence store; nil: no evidence routes.
	Evidence *recording.Evidence
	// HLS serves the rooms' LL-HLS renditions; nil: no HLS.
	HLS *HLSConfig
	// Audit is the audit log, for GET /api/v1/audit; nil: no audit route.
	Audit AuditReader
	// Safety is the trust and safety domain (notices, decisions,
	// complaints, the transparency export); nil: no safety routes.
	Safety *safety.Service
	// TicketKeys rotates the ticket keys (POST
	// /api/v1/admin/ticket-keys/rotate); nil: no such route.
	TicketKeys KeyRotator
	// PublicURL is the base URL clients reach this server at
	// (--public-url), the base of the calendar entries' links; empty: as
	// each request reached it (web.PageURL).
	PublicURL string
}

// API serves the HTTP API.
type API struct {
	live    *live.Manager
	stage   *stage.Stage
	fan     *fanout.Hub
	tickets *admission.Signer
	met     *metrics.Metrics
	log     *slog.Logger
	acc     *account.Service
	rooms   *room.Service
	recs    *recording.Manager
	clipTTL time.Duration
	ev      *recording.Evidence
	hls     *hlsAPI // nil: no HLS
	audit   AuditReader
	safety  *safety.Service
	mux     *http.ServeMux
	place   Placement
	public  string     // Config.PublicURL
	keys    KeyRotator // nil: no key rotation route
}

// New returns the API handler.
func New(cfg Config) *API {
	a := &API{live: cfg.Live, stage: cfg.Stage, fan: cfg.Fanout, tickets: cfg.Tickets,
		met: cfg.Metrics, log: cfg.Logger, acc: cfg.Accounts, rooms: cfg.Rooms, mux: http.NewServeMux(), place: cfg.Placement,
		recs: cfg.Recordings, clipTTL: cfg.ClipTTL, ev: cfg.Evidence, audit: cfg.Audit, safety: cfg.Safety, public: cfg.PublicURL, keys: cfg.TicketKeys}
	if a.log == nil {
		a.log = slog.Default()
	}
	m := a.mux
	m.HandleFunc("POST /api/v1/users", a.handle(a.createUser))
	a.routeAccounts(m)
	a.routeRooms(m)
	a.routePeople(m)
	if a.recs != nil {
		a.routeRecording(m)
	}
	if a.ev != nil {
		a.routeEvidence(m)
	}
	if a.audit != nil {
		a.routeAudit(m)
	}
	if a.safety != nil {
		a.routeSafety(m)
	}
	if a.keys != nil {
		a.routeTicketKeys(m)
	}
	m.HandleFunc("POST /api/v1/rooms", a.handle(a.createRoom))
	m.HandleFunc("GET /api/v1/rooms/{id}", a.handle(a.getRoom))
	m.HandleFunc("POST /api/v1/rooms/{id}/start", a.handle(a.startRoom))
	m.HandleFunc("POST /api/v1/rooms/{id}/end", a.handle(a.endRoom))
	m.HandleFunc("POST /api/v1/rooms/{id}/whip", a.handle(a.whipPost))
	m.HandleFunc("OPTIONS /api/v1/rooms/{id}/whip", a.whipOptions)
	m.HandleFunc("PATCH /api/v1/rooms/{id}/whip/{session}", a.handle(a.whipPatch))
	m.HandleFunc("DELETE /api/v1/rooms/{id}/whip/{session}", a.handle(a.whipDelete))
	m.HandleFunc("POST /api/v1/rooms/{id}/join", a.handle(a.join))
	if cfg.HLS != nil {
		a.hls = &hlsAPI{cfg: *cfg.HLS}
		a.hls.route(m)
	}
	NewListen(ListenConfig{Tickets: a.tickets, Fanout: a.fan, Programs: a.live, Metrics: a.met, Joined: a.rooms.ListenerJoined,
		Connected: func(room string, t admission.Ticket, remove func()) func() {
			return a.rooms.ListenerConnected(room, t.User, remove)
		},
		Removed: func(room string, t admission.Ticket) bool {
			return a.rooms.ListenerRemoved(room, t.User, a.tickets.Issued(t))
		}}).Route(m)
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
	ID        string
	Role      string
	Suspended bool
	Cookie    bool   // authenticated by the web session cookie
	session   string // the session secret when Cookie
	cred      string // account.Principal.Cred
}

func (p principal) actor() room.Actor {
	return room.Actor{ID: p.ID, Platform: p.Role, Suspended: p.Suspended, Cred: p.cred}
}

func (p principal) isAdmin() bool { return p.account().IsAdmin() }

// account is p as the accounts domain sees it.
func (p principal) account() account.Principal {
	return account.Principal{ID: p.ID, Role: p.Role, Suspended: p.Suspended}
}

func bearer(r *http.Request) string {
	h := r.Header.Get("Authorization")
	if len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
		return strings.TrimSpace(h[7:])
	}
	return ""
}

// auth resolves the bearer token or the session cookie and refuses
// suspended accounts; it fails with account.ErrUnauthorized.
func (a *API) auth(r *http.Request) (principal, error) {
	p, err := a.authAny(r)
	if err == nil && p.Suspended {
		return p, account.ErrSuspended
	}
	return p, err
}

// authAny is auth that lets suspended accounts through (GET /me, logout).
func (a *API) authAny(r *http.Request) (principal, error) {
	tok := bearer(r)
	if tok == "" {
		return a.authCookie(r)
	}
	p, err := a.acc.Resolve(r.Context(), tok)
	if err != nil {
		return principal{}, err
	}
	return principal{ID: p.ID, Role: p.Role, Suspended: p.Suspended, cred: p.Cred}, nil
}

// adminOnly authenticates the caller and requires the platform admin role.
func (a *API) adminOnly(r *http.Request) (principal, error) {
	p, err := a.auth(r)
	if err != nil {
		return p, err
	}
	if !p.isAdmin() {
		return p, errForbidden
	}
	return p, nil
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
	p, err := a.adminOnly(r)
	if err != nil {
		return err
	}
	var in struct {
		Name     string `json:"name"`
		Role     string `json:"role"`
		Password string `json:"password"`
	}
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	u, tok, err := a.acc.CreateUser(r.Context(), p.account(), in.Name, in.Role, in.Password)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, map[string]string{"id": u.ID, "name": u.Name, "role": u.Role, "token": tok})
	return nil
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

	Description     string     `json:"description"`
	ScheduledAt     *time.Time `json:"scheduled_at,omitempty"`
	Pin             string     `json:"pin"`
	PeakListeners   int64      `json:"peak_listeners"`
	UniqueListeners int64      `json:"unique_listeners"`
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

func (a *API) roomView(rm room.Info) roomJSON {
	v := roomJSON{ID: rm.ID, Title: rm.Title, Host: rm.Host, State: rm.State, CreatedAt: rm.CreatedAt,
		StartedAt: timePtr(rm.StartedAt), EndedAt: timePtr(rm.EndedAt), Stage: []string{},
		Description: rm.Description, ScheduledAt: timePtr(rm.ScheduledAt), Pin: rm.Pin,
		PeakListeners: rm.PeakListeners, UniqueListeners: rm.UniqueListeners}
	// The domain's counts are fresher than the store's (written once per interval).
	if c, ok := a.rooms.Counts(rm.ID); ok {
		v.PeakListeners, v.UniqueListeners = max(c.Peak, rm.PeakListeners), max(c.Unique, rm.UniqueListeners)
	}
	if lr := a.live.Get(rm.ID); lr != nil {
		v.Listeners = lr.Listeners()
		if c, ok := a.rooms.Counts(rm.ID); ok && a.hls != nil {
			v.Listeners = c.Listeners // with the HLS listeners heard from lately
		}
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
		Title       string    `json:"title"`
		Description string    `json:"description"`
		ScheduledAt time.Time `json:"scheduled_at"`
	}
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	in.Title = strings.TrimSpace(in.Title)
	if in.Title == "" || usertext.Check(in.Title, maxTitleLen, false) != nil {
		return errorf(http.StatusBadRequest, "bad_title", "title must be 1-200 visible characters, with no control or bidirectional override characters")
	}
	if usertext.Check(in.Description, maxDescLen, true) != nil {
		return errorf(http.StatusBadRequest, "bad_description", "description must be at most 2000 characters, with no control or bidirectional override characters")
	}
	rm, err := a.rooms.Create(r.Context(), p.actor(), in.Title, strings.TrimSpace(in.Description), in.ScheduledAt)
	if err != nil {
		return err
	}
	w.Header().Set("Location", apiPrefix+"/rooms/"+rm.ID)
	writeJSON(w, http.StatusCreated, a.roomView(rm))
	return nil
}

func (a *API) getRoom(w http.ResponseWriter, r *http.Request) error {
	rm, err := a.rooms.Room(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, a.roomView(rm))
	return nil
}

func (a *API) startRoom(w http.ResponseWriter, r *http.Request) error {
	p, err := a.auth(r)
	if err != nil {
		return err
	}
	rm, err := a.rooms.Start(r.Context(), p.actor(), r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, a.roomView(rm))
	return nil
}

func (a *API) endRoom(w http.ResponseWriter, r *http.Request) error {
	p, err := a.auth(r)
	if err != nil {
		return err
	}
	rm, err := a.rooms.End(r.Context(), p.actor(), r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, a.roomView(rm))
	return nil
}

// liveRoom returns the running room or the error that explains why it is not running.
func (a *API) liveRoom(ctx context.Context, rm room.Info) (*live.Room, error) {
	switch rm.State {
	case room.StateEnded:
		return nil, errRoomEnded
	case room.StateScheduled:
		return nil, errRoomNotLive
	}
	lr := a.live.Get(rm.ID)
	if lr == nil {
		return nil, errRoomNotLive
	}
	return lr, nil
}
