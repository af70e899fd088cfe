package account

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"time"

	"majlis/internal/store"
)

// Platform roles.
const (
	RoleAdmin     = "admin"
	RoleModerator = "moderator"
	RoleUser      = "user"
)

// AdminID is the principal of the admin token, which has no account.
const AdminID = "admin"

// Limits.
const (
	MaxName      = 64  // bytes of a user name
	MaxTokenName = 64  // characters of an API token's name
	MaxSecret    = 256 // longest bearer token or session secret worth looking up
	SessionTTL   = 30 * 24 * time.Hour

	// Failed logins per name: a burst of LoginBurst, then one per LoginRefill.
	LoginBurst  = 5
	LoginRefill = 12 * time.Second
	// DefaultMaxLoginNames bounds the failed-login table: it is reset when it
	// grows past this many names.
	DefaultMaxLoginNames = 100000
)

// Errors of the accounts domain; httpapi maps each to a stable API code.
var (
	ErrUnauthorized   = errors.New("account: unknown or expired credentials")
	ErrForbidden      = errors.New("account: only a platform admin may do this")
	ErrSuspended      = errors.New("account: suspended")
	ErrNotAUser       = errors.New("account: the admin token has no account")
	ErrBadName        = errors.New("account: bad user name")
	ErrBadRole        = errors.New("account: bad platform role")
	ErrBadPassword    = errors.New("account: bad password")
	ErrBadTokenName   = errors.New("account: bad token name")
	ErrNameTaken      = errors.New("account: name taken")
	ErrBadCredentials = errors.New("account: wrong name or password")
	ErrLoginLimited   = errors.New("account: too many failed logins for this name")
	ErrSignupDisabled = errors.New("account: self sign-up is disabled")
	ErrUserNotFound   = errors.New("account: no such user")
	ErrTokenNotFound  = errors.New("account: no such token")
	ErrSelfSuspend    = errors.New("account: cannot suspend oneself")
)

// Store is the storage the accounts domain needs; *store.Store implements it.
type Store interface {
	CreateAccount(ctx context.Context, name, role, passwordHash string, withToken bool) (store.User, string, error)
	UserByID(ctx context.Context, id string) (store.User, error)
	UserByName(ctx context.Context, name string) (store.User, error)
	UserByToken(ctx context.Context, tok string) (store.User, error)
	SetSuspended(ctx context.Context, id string, suspended bool) error

	CreateToken(ctx context.Context, user, name string) (store.Token, string, error)
	Tokens(ctx context.Context, user string) ([]store.Token, error)
	DeleteToken(ctx context.Context, user, id string) error

	CreateSessionAt(ctx context.Context, user string, now time.Time, ttl time.Duration) (string, error)
	UserBySessionAt(ctx context.Context, tok string, now time.Time) (store.User, error)
	DeleteSession(ctx context.Context, tok string) error
}

// Config holds a Service's dependencies and settings.
type Config struct {
	Store Store
	// AdminToken is the platform admin's bearer token; "" matches nothing.
	AdminToken string
	// PasswordTime and PasswordMemoryKiB are the argon2id cost (0: DefaultTime, DefaultMemoryKiB).
	PasswordTime, PasswordMemoryKiB uint32
	// Signup lets anyone create an account (Service.Signup).
	Signup bool
	// OnSuspend is called with a user's id once they are suspended (the
	// server ends their stage sessions); nil does nothing.
	OnSuspend func(user string)
	// MaxLoginNames bounds the failed-login table (0: DefaultMaxLoginNames).
	MaxLoginNames int
	// Now is the clock of sessions and the login throttle (nil: time.Now).
	Now func() time.Time
}

// Service is the accounts domain. It is safe for concurrent use.
type Service struct {
	st        Store
	admin     string
	hasher    *Hasher
	signup    bool
	onSuspend func(string)
	now       func() time.Time
	logins    loginLimiter
}

// New returns a Service ready to use.
func New(cfg Config) *Service {
	s := &Service{st: cfg.Store, admin: cfg.AdminToken, signup: cfg.Signup, onSuspend: cfg.OnSuspend, now: cfg.Now,
		hasher: &Hasher{Time: cfg.PasswordTime, MemoryKiB: cfg.PasswordMemoryKiB},
		logins: newLoginLimiter(cfg.MaxLoginNames)}
	if s.now == nil {
		s.now = time.Now
	}
	if s.onSuspend == nil {
		s.onSuspend = func(string) {}
	}
	return s
}

// User is an account as callers see it (never its password hash).
type User struct {
	ID        string
	Name      string
	Role      string // RoleAdmin, RoleModerator or RoleUser
	CreatedAt time.Time
	Suspended bool
}

func userOf(u store.User) User {
	return User{ID: u.ID, Name: u.Name, Role: u.Role, CreatedAt: u.CreatedAt, Suspended: u.Suspended}
}

// Principal is who presented a credential.
type Principal struct {
	ID        string // a user's id, or AdminID for the admin token
	Role      string
	Suspended bool
}

// IsAdmin says whether p holds the platform admin role (the admin token or an admin user).
func (p Principal) IsAdmin() bool { return p.Role == RoleAdmin }

// IsAdminToken says whether p is the admin token, which has no account.
func (p Principal) IsAdminToken() bool { return p.ID == AdminID }

// Resolve returns the principal of a bearer token: the admin token (compared
// in constant time) or a user's API token. A suspended user resolves, with
// Suspended set; an unknown token is ErrUnauthorized.
func (s *Service) Resolve(ctx context.Context, token string) (Principal, error) {
	if token == "" || len(token) > MaxSecret {
		return Principal{}, ErrUnauthorized
	}
	if s.admin != "" && subtle.ConstantTimeCompare([]byte(token), []byte(s.admin)) == 1 {
		return Principal{ID: AdminID, Role: RoleAdmin}, nil
	}
	u, err := s.st.UserByToken(ctx, token)
	return principalOf(u, err)
}

func principalOf(u store.User, err error) (Principal, error) {
	if errors.Is(err, store.ErrNotFound) {
		return Principal{}, ErrUnauthorized
	}
	if err != nil {
		return Principal{}, fmt.Errorf("account: resolve: %w", err)
	}
	return Principal{ID: u.ID, Role: u.Role, Suspended: u.Suspended}, nil
}

// User returns the account with id.
func (s *Service) User(ctx context.Context, id string) (User, error) {
	u, err := s.st.UserByID(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return User{}, ErrUserNotFound
	}
	if err != nil {
		return User{}, fmt.Errorf("account: user %s: %w", id, err)
	}
	return userOf(u), nil
}

// requireActive refuses a principal that cannot act (suspended, or no one).
func requireActive(p Principal) error {
	switch {
	case p.ID == "":
		return ErrUnauthorized
	case p.Suspended:
		return ErrSuspended
	}
	return nil
}

// requireAdmin refuses a principal that is not an active platform admin.
func requireAdmin(p Principal) error {
	if err := requireActive(p); err != nil {
		return err
	}
	if !p.IsAdmin() {
		return ErrForbidden
	}
	return nil
}
