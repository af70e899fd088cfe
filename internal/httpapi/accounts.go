package httpapi

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"majlis/internal/account"
	"majlis/internal/store"
)

// Web sessions.
const (
	sessionCookie = "majlis_session"
	sessionTTL    = 30 * 24 * time.Hour
	// csrfHeader on a cookie-authenticated mutation proves the request was
	// made by script from a page that could set headers (a cross-site form
	// cannot); a same-origin Origin header is accepted instead.
	csrfHeader   = "X-Majlis-CSRF"
	maxTokenName = 64

	// Failed logins per account name: a burst of loginBurst, then one per loginRefill.
	loginBurst   = 5
	loginRefill  = 12 * time.Second
	maxLoginKeys = 100000 // the table is reset when it grows past this
)

// loginLimiter slows password guessing against one account name.
type loginLimiter struct {
	mu sync.Mutex
	m  map[string]*loginBucket
}

type loginBucket struct {
	tokens float64
	at     time.Time
}

// allow says whether name may try a password now.
func (l *loginLimiter) allow(name string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.m[name]
	if b == nil {
		return true
	}
	b.tokens = min(loginBurst, b.tokens+time.Since(b.at).Seconds()/loginRefill.Seconds())
	b.at = time.Now()
	return b.tokens >= 1
}

// failed spends one attempt of name.
func (l *loginLimiter) failed(name string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.m == nil || len(l.m) > maxLoginKeys {
		l.m = make(map[string]*loginBucket)
	}
	b := l.m[name]
	if b == nil {
		b = &loginBucket{tokens: loginBurst, at: time.Now()}
		l.m[name] = b
	}
	b.tokens = min(loginBurst, b.tokens+time.Since(b.at).Seconds()/loginRefill.Seconds()) - 1
	b.at = time.Now()
}

func (a *API) routeAccounts(m *http.ServeMux) {
	m.HandleFunc("POST /api/v1/signup", a.handle(a.signupUser))
	m.HandleFunc("POST /api/v1/login", a.handle(a.login))
	m.HandleFunc("POST /api/v1/logout", a.handle(a.logout))
	m.HandleFunc("GET /api/v1/me", a.handle(a.me))
	m.HandleFunc("GET /api/v1/me/tokens", a.handle(a.listTokens))
	m.HandleFunc("POST /api/v1/me/tokens", a.handle(a.createToken))
	m.HandleFunc("DELETE /api/v1/me/tokens/{tid}", a.handle(a.deleteToken))
	m.HandleFunc("POST /api/v1/users/{uid}/suspend", a.handle(a.suspendUser))
}

// authCookie resolves the session cookie; mutations must also pass the CSRF check.
func (a *API) authCookie(r *http.Request) (principal, error) {
	c, err := r.Cookie(sessionCookie)
	if err != nil || c.Value == "" || len(c.Value) > 256 {
		return principal{}, errUnauthorized
	}
	u, err := a.st.UserBySession(r.Context(), c.Value)
	if errors.Is(err, store.ErrNotFound) {
		return principal{}, errUnauthorized
	}
	if err != nil {
		return principal{}, err
	}
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
	default:
		if !csrfOK(r) {
			return principal{}, errCSRF
		}
	}
	return principal{ID: u.ID, Role: u.Role, Suspended: u.Suspended, Cookie: true, session: c.Value}, nil
}

// csrfOK accepts the custom header, or an Origin naming this host.
func csrfOK(r *http.Request) bool {
	if r.Header.Get(csrfHeader) != "" {
		return true
	}
	o := r.Header.Get("Origin")
	if o == "" || o == "null" {
		return false
	}
	u, err := url.Parse(o)
	if err != nil {
		return false
	}
	return strings.EqualFold(u.Host, r.Host)
}

func userJSON(u store.User) map[string]any {
	return map[string]any{"id": u.ID, "name": u.Name, "role": u.Role, "suspended": u.Suspended, "created_at": u.CreatedAt}
}

type credentials struct {
	Name     string `json:"name"`
	Password string `json:"password"`
}

func (a *API) setSession(w http.ResponseWriter, r *http.Request, user string) error {
	tok, err := a.st.CreateSession(r.Context(), user, sessionTTL)
	if err != nil {
		return err
	}
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: tok, Path: "/", MaxAge: int(sessionTTL.Seconds()),
		HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: r.TLS != nil})
	return nil
}

func (a *API) signupUser(w http.ResponseWriter, r *http.Request) error {
	if !a.signup {
		return errorf(http.StatusForbidden, "signup_disabled", "self sign-up is disabled on this server")
	}
	var in credentials
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	if !validName(in.Name) {
		return errBadName
	}
	if !account.ValidPassword(in.Password) {
		return errBadPassword
	}
	u, _, err := a.st.CreateAccount(r.Context(), in.Name, roleUser, a.hasher.Hash(in.Password), false)
	if errors.Is(err, store.ErrExists) {
		return errNameTaken
	}
	if err != nil {
		return err
	}
	if err := a.setSession(w, r, u.ID); err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, userJSON(u))
	return nil
}

func (a *API) login(w http.ResponseWriter, r *http.Request) error {
	var in credentials
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	if len(in.Password) > account.MaxPassword || !validName(in.Name) {
		return errBadCredentials
	}
	key := strings.ToLower(in.Name)
	if !a.logins.allow(key) {
		return errLoginLimited
	}
	u, err := a.st.UserByName(r.Context(), in.Name)
	if errors.Is(err, store.ErrNotFound) || err == nil && u.PasswordHash == "" {
		a.hasher.CheckDummy(in.Password)
		a.logins.failed(key)
		return errBadCredentials
	}
	if err != nil {
		return err
	}
	ok, err := account.Check(u.PasswordHash, in.Password)
	if err != nil {
		return err
	}
	if !ok {
		a.logins.failed(key)
		return errBadCredentials
	}
	if u.Suspended {
		return errSuspended
	}
	if err := a.setSession(w, r, u.ID); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, userJSON(u))
	return nil
}

func (a *API) logout(w http.ResponseWriter, r *http.Request) error {
	p, err := a.authAny(r)
	if err != nil {
		return err
	}
	if p.Cookie {
		if err := a.st.DeleteSession(r.Context(), p.session); err != nil {
			return err
		}
	}
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteLaxMode})
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (a *API) me(w http.ResponseWriter, r *http.Request) error {
	p, err := a.authAny(r)
	if err != nil {
		return err
	}
	if p.ID == adminID {
		writeJSON(w, http.StatusOK, map[string]any{"id": adminID, "name": adminID, "role": roleAdmin, "suspended": false})
		return nil
	}
	u, err := a.st.UserByID(r.Context(), p.ID)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, userJSON(u))
	return nil
}

// userPrincipal is auth for endpoints about one's own account (not the admin token).
func (a *API) userPrincipal(r *http.Request) (principal, error) {
	p, err := a.auth(r)
	if err != nil {
		return p, err
	}
	if p.ID == adminID {
		return p, errorf(http.StatusBadRequest, "not_a_user", "the admin token has no account")
	}
	return p, nil
}

func (a *API) listTokens(w http.ResponseWriter, r *http.Request) error {
	p, err := a.userPrincipal(r)
	if err != nil {
		return err
	}
	ts, err := a.st.Tokens(r.Context(), p.ID)
	if err != nil {
		return err
	}
	out := make([]map[string]any, 0, len(ts))
	for _, t := range ts {
		out = append(out, map[string]any{"id": t.ID, "name": t.Name, "created_at": t.CreatedAt})
	}
	writeJSON(w, http.StatusOK, map[string]any{"tokens": out})
	return nil
}

func (a *API) createToken(w http.ResponseWriter, r *http.Request) error {
	p, err := a.userPrincipal(r)
	if err != nil {
		return err
	}
	var in struct {
		Name string `json:"name"`
	}
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	in.Name = strings.TrimSpace(in.Name)
	if in.Name == "" || utf8.RuneCountInString(in.Name) > maxTokenName || !utf8.ValidString(in.Name) {
		return errorf(http.StatusBadRequest, "bad_name", "token name must be 1-64 characters")
	}
	t, tok, err := a.st.CreateToken(r.Context(), p.ID, in.Name)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, map[string]any{"id": t.ID, "name": t.Name, "created_at": t.CreatedAt, "token": tok})
	return nil
}

func (a *API) deleteToken(w http.ResponseWriter, r *http.Request) error {
	p, err := a.userPrincipal(r)
	if err != nil {
		return err
	}
	if err := a.st.DeleteToken(r.Context(), p.ID, r.PathValue("tid")); errors.Is(err, store.ErrNotFound) {
		return errorf(http.StatusNotFound, "token_not_found", "you have no token with this id")
	} else if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (a *API) suspendUser(w http.ResponseWriter, r *http.Request) error {
	p, err := a.adminOnly(r)
	if err != nil {
		return err
	}
	var in struct {
		Suspended *bool `json:"suspended"`
	}
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	if in.Suspended == nil {
		return errBadJSON
	}
	id := r.PathValue("uid")
	if id == p.ID {
		return errorf(http.StatusBadRequest, "bad_target", "you cannot suspend yourself")
	}
	if err := a.st.SetSuspended(r.Context(), id, *in.Suspended); errors.Is(err, store.ErrNotFound) {
		return errUserNotFound
	} else if err != nil {
		return err
	}
	if *in.Suspended {
		a.rooms.Suspend(id)
	}
	u, err := a.st.UserByID(r.Context(), id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, userJSON(u))
	return nil
}

// joinAllowed refuses a join presented with the credentials of a suspended
// or blocked user. Anonymous joins are always allowed.
func (a *API) joinAllowed(r *http.Request, room string) error {
	if bearer(r) == "" {
		if _, err := r.Cookie(sessionCookie); err != nil {
			return nil
		}
	}
	p, err := a.authAny(r)
	if err != nil {
		if errors.Is(err, errCSRF) {
			return nil // a cross-site join is anonymous
		}
		return err
	}
	return a.rooms.CanJoin(r.Context(), p.actor(), room)
}
