package httpapi

import (
	"errors"
	"net/http"
	"net/url"
	"strings"

	"majlis/internal/account"
	"majlis/internal/web"
)

// Web sessions.
const (
	sessionCookie = "majlis_session"
	// csrfHeader on a cookie-authenticated mutation proves the request was
	// made by script from a page that could set headers (a cross-site form
	// cannot); a same-origin Origin header is accepted instead.
	csrfHeader = "X-Majlis-CSRF"
)

func (a *API) routeAccounts(m *http.ServeMux) {
	m.HandleFunc("GET /api/v1/signup", a.handle(a.signupInfo))
	m.HandleFunc("POST /api/v1/signup", a.handle(a.signupUser))
	m.HandleFunc("POST /api/v1/login", a.handle(a.login))
	m.HandleFunc("POST /api/v1/logout", a.handle(a.logout))
	m.HandleFunc("GET /api/v1/me", a.handle(a.me))
	m.HandleFunc("GET /api/v1/me/tokens", a.handle(a.listTokens))
	m.HandleFunc("POST /api/v1/me/tokens", a.handle(a.createToken))
	m.HandleFunc("DELETE /api/v1/me/tokens/{tid}", a.handle(a.deleteToken))
	m.HandleFunc("POST /api/v1/users/{uid}/suspend", a.handle(a.suspendUser))
	m.HandleFunc("PUT /api/v1/users/{uid}/role", a.handle(a.setRole))
}

// setRole answers PUT /api/v1/users/{uid}/role {"role": "moderator"} (admins).
func (a *API) setRole(w http.ResponseWriter, r *http.Request) error {
	p, err := a.adminOnly(r)
	if err != nil {
		return err
	}
	var in struct {
		Role string `json:"role"`
	}
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	u, err := a.acc.SetRole(r.Context(), p.account(), r.PathValue("uid"), in.Role)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, userJSON(u))
	return nil
}

// authCookie resolves the session cookie; mutations must also pass the CSRF check.
func (a *API) authCookie(r *http.Request) (principal, error) {
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return principal{}, account.ErrUnauthorized
	}
	p, err := a.acc.ResolveSession(r.Context(), c.Value)
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
	return principal{ID: p.ID, Role: p.Role, Suspended: p.Suspended, Cookie: true, session: c.Value, cred: p.Cred}, nil
}

// csrfOK accepts the custom header, or an Origin naming this scheme and
// host (an https page may not act on the http origin, nor the reverse).
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
	return strings.EqualFold(u.Scheme, web.Scheme(r)) && strings.EqualFold(u.Host, r.Host)
}

// requireJSON refuses a body that is not declared application/json on the
// endpoints that change state without any credential (login, sign-up): a
// cross-site form or a "simple" fetch can send text/plain without a
// preflight, application/json it cannot (login CSRF).
func requireJSON(r *http.Request) error {
	if mediaType(r) != "application/json" {
		return errUnsupportedCT
	}
	return nil
}

// attempt is a login or sign-up as the accounts domain sees it.
func attempt(r *http.Request, in credentials) account.Attempt {
	return account.Attempt{Name: in.Name, Password: in.Password, Addr: ClientAddr(r), PoW: r.Header.Get(HeaderPoW)}
}

func userJSON(u account.User) map[string]any {
	return map[string]any{"id": u.ID, "name": u.Name, "role": u.Role, "suspended": u.Suspended, "created_at": u.CreatedAt}
}

type credentials struct {
	Name     string `json:"name"`
	Password string `json:"password"`
}

// setSession sets the cookie of a session the account domain has started.
func setSession(w http.ResponseWriter, r *http.Request, secret string) {
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: secret, Path: "/", MaxAge: int(account.SessionTTL.Seconds()),
		HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: web.Scheme(r) == "https"})
}

// signupInfo tells a client whether to offer sign-up.
func (a *API) signupInfo(w http.ResponseWriter, r *http.Request) error {
	writeJSON(w, http.StatusOK, map[string]bool{"enabled": a.acc.SignupEnabled()})
	return nil
}

func (a *API) signupUser(w http.ResponseWriter, r *http.Request) error {
	if !a.acc.SignupEnabled() {
		return account.ErrSignupDisabled
	}
	if err := requireJSON(r); err != nil {
		return err
	}
	var in credentials
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	u, secret, err := a.acc.Signup(r.Context(), attempt(r, in))
	if err != nil {
		return err
	}
	setSession(w, r, secret)
	writeJSON(w, http.StatusCreated, userJSON(u))
	return nil
}

func (a *API) login(w http.ResponseWriter, r *http.Request) error {
	if err := requireJSON(r); err != nil {
		return err
	}
	var in credentials
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	u, secret, err := a.acc.Login(r.Context(), attempt(r, in))
	if err != nil {
		return err
	}
	setSession(w, r, secret)
	writeJSON(w, http.StatusOK, userJSON(u))
	return nil
}

func (a *API) logout(w http.ResponseWriter, r *http.Request) error {
	p, err := a.authAny(r)
	if err != nil {
		return err
	}
	if p.Cookie {
		if err := a.acc.EndSession(r.Context(), p.session); err != nil {
			return err
		}
	}
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteLaxMode,
		Secure: web.Scheme(r) == "https"})
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (a *API) me(w http.ResponseWriter, r *http.Request) error {
	p, err := a.authAny(r)
	if err != nil {
		return err
	}
	if p.account().IsAdminToken() {
		writeJSON(w, http.StatusOK, map[string]any{"id": account.AdminID, "name": account.AdminID, "role": account.RoleAdmin, "suspended": false})
		return nil
	}
	u, err := a.acc.User(r.Context(), p.ID)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, userJSON(u))
	return nil
}

// userPrincipal is auth for endpoints about one's own account (not the
// admin token); it refuses before the body is read.
func (a *API) userPrincipal(r *http.Request) (principal, error) {
	p, err := a.auth(r)
	if err != nil {
		return p, err
	}
	if p.account().IsAdminToken() {
		return p, account.ErrNotAUser
	}
	return p, nil
}

func (a *API) listTokens(w http.ResponseWriter, r *http.Request) error {
	p, err := a.userPrincipal(r)
	if err != nil {
		return err
	}
	ts, err := a.acc.Tokens(r.Context(), p.account())
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
	t, tok, err := a.acc.CreateToken(r.Context(), p.account(), in.Name)
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
	if err := a.acc.DeleteToken(r.Context(), p.account(), r.PathValue("tid")); err != nil {
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
	u, err := a.acc.SetSuspended(r.Context(), p.account(), r.PathValue("uid"), *in.Suspended)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, userJSON(u))
	return nil
}

// joinAllowed refuses a join presented with the credentials of a suspended
// or blocked user and names the signed-in user it allows (""
// for an anonymous join). Anonymous joins are always allowed.
func (a *API) joinAllowed(r *http.Request, room string) (user string, err error) {
	if bearer(r) == "" {
		if _, err := r.Cookie(sessionCookie); err != nil {
			return "", nil
		}
	}
	p, err := a.authAny(r)
	if err != nil {
		if errors.Is(err, errCSRF) {
			return "", nil // a cross-site join is anonymous
		}
		return "", err
	}
	if err := a.rooms.CanJoin(r.Context(), p.actor(), room); err != nil {
		return "", err
	}
	if p.ID == account.AdminID {
		return "", nil // the admin token is no listener with a name
	}
	return p.ID, nil
}
