package account

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"errors"
	"fmt"
	"time"

	"majlis/internal/admission"
	"majlis/internal/audit"
	"majlis/internal/ratelimit"
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

	// Failed logins per account (name key): a burst of LoginBurst, then one
	// per LoginRefill; past it, logins for the account from an address it
	// has not logged in from need a proof of work (login.go).
	LoginBurst  = 5
	LoginRefill = 12 * time.Second
	// DefaultMaxLoginNames bounds the failed-login table: it is reset when it
	// grows past this many names. The table of known addresses has the same bound.
	DefaultMaxLoginNames = 100000
	// DefaultLoginPoWBits is the difficulty of a login's proof of work.
	DefaultLoginPoWBits = 18
	// MaxKnownAddrs is how many addresses an account's owner is remembered at.
	MaxKnownAddrs = 4
	// maxLoginAddrs bounds the per-address login buckets (admission.Limiter).
	maxLoginAddrs = 1 << 16
)

// Default login and sign-up attempt limits per source address and per
// IPv4 /24 or IPv6 /48 (Config.LoginsPerIP, LoginsPerPrefix), spent by
// every attempt that would check a password, before it is checked.
var (
	DefaultLoginsPerIP     = ratelimit.Rate{PerSecond: 0.25, Burst: 20}
	DefaultLoginsPerPrefix = ratelimit.Rate{PerSecond: 5, Burst: 100}
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
	ErrLoginLimited   = errors.New("account: too many login attempts from this address or network")
	ErrPoWRequired    = errors.New("account: a proof of work is required to log in to this account from here")
	ErrBusy           = errors.New("account: too many password checks at once")
	ErrNameReserved   = errors.New("account: name reserved")
	ErrSignupDisabled = errors.New("account: self sign-up is disabled")
	ErrUserNotFound   = errors.New("account: no such user")
	ErrTokenNotFound  = errors.New("account: no such token")
	ErrSelfSuspend    = errors.New("account: cannot suspend oneself")
	ErrSelfRole       = errors.New("account: cannot change one's own role")
)

// LimitError is ErrLoginLimited with when to come back.
type LimitError struct{ Retry time.Duration }

func (e *LimitError) Error() string { return ErrLoginLimited.Error() }
func (e *LimitError) Unwrap() error { return ErrLoginLimited }

// PoWError is ErrPoWRequired with the puzzle to solve (admission.PoW's
// format): the client logs in again with the solution.
type PoWError struct {
	Challenge  string
	Difficulty int
}

func (e *PoWError) Error() string { return ErrPoWRequired.Error() }
func (e *PoWError) Unwrap() error { return ErrPoWRequired }

// Store is the storage the accounts domain needs; *store.Store implements it.
type Store interface {
	CreateAccountWithKey(ctx context.Context, name, nameKey, role, passwordHash string, withToken bool) (store.User, string, error)
	UserByID(ctx context.Context, id string) (store.User, error)
	UserByNameKey(ctx context.Context, name, nameKey string) (store.User, error)
	UserByToken(ctx context.Context, tok string) (store.User, error)
	SetSuspended(ctx context.Context, id string, suspended bool) error
	SetSuspendHold(ctx context.Context, id string, hold store.SuspendHold, suspended bool) error
	SetRole(ctx context.Context, id, role string) error

	CreateToken(ctx context.Context, user, name string) (store.Token, string, error)
	Tokens(ctx context.Context, user string) ([]store.Token, error)
	DeleteToken(ctx context.Context, user, id string) (hash string, err error)

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
	// OnTokenRevoked is called with a user's id and the credential
	// (Principal.Cred) of one of their API tokens once it is deleted (the
	// server ends the stage sessions opened with it); nil does nothing.
	OnTokenRevoked func(user, cred string)
	// MaxLoginNames bounds the failed-login table (0: DefaultMaxLoginNames).
	MaxLoginNames int
	// Audit records every admin action and token revocation once it took
	// effect (audit.go); nil: no audit.
	Audit audit.Recorder

	// HashSlots is how many passwords are hashed at once (0: DefaultHashSlots()),
	// HashQueue how many more requests may wait for a slot (0: DefaultHashQueue)
	// and HashWait how long (0: DefaultHashWait); beyond them a login,
	// sign-up or user creation is ErrBusy.
	HashSlots int
	HashQueue int
	HashWait  time.Duration
	// LoginsPerIP and LoginsPerPrefix limit login and sign-up attempts per
	// source address and per /24 (/48), before any hash (zero:
	// DefaultLoginsPerIP, DefaultLoginsPerPrefix).
	LoginsPerIP, LoginsPerPrefix ratelimit.Rate
	// PoW issues and checks the puzzles of logins for an account past its
	// failure budget (nil: one with a random key of its own).
	PoW *admission.PoW
	// LoginPoWBits is their difficulty (0: DefaultLoginPoWBits).
	LoginPoWBits int
	// UnderLoad, when it answers true (the server's overload level is
	// elevated or worse), makes every login from an address its account's
	// owner has not logged in from, and every sign-up, prove work before
	// any hash, as the hashing pool does itself while requests queue for
	// it. Nil: only the pool's own queue counts.
	UnderLoad func() bool
	// Now is the clock of sessions and the login throttle (nil: time.Now).
	Now func() time.Time
}

// Service is the accounts domain. It is safe for concurrent use.
type Service struct {
	st        Store
	admin     string
	hasher    *Hasher
	pool      *hashPool
	signup    bool
	onSuspend func(string)
	onRevoke  func(user, cred string)
	audit     audit.Recorder
	now       func() time.Time
	logins    loginLimiter       // failures per account
	addrs     *admission.Limiter // attempts per address and prefix
	known     knownAddrs         // where each account's owner logged in from
	pow       *admission.PoW
	powBits   int
	underLoad func() bool
}

// New returns a Service ready to use.
func New(cfg Config) *Service {
	s := &Service{st: cfg.Store, admin: cfg.AdminToken, signup: cfg.Signup, onSuspend: cfg.OnSuspend, onRevoke: cfg.OnTokenRevoked, now: cfg.Now, audit: cfg.Audit,
		hasher: &Hasher{Time: cfg.PasswordTime, MemoryKiB: cfg.PasswordMemoryKiB},
		pool:   newHashPool(cfg.HashSlots, cfg.HashQueue, cfg.HashWait),
		logins: newLoginLimiter(cfg.MaxLoginNames), known: newKnownAddrs(cfg.MaxLoginNames),
		pow: cfg.PoW, powBits: cfg.LoginPoWBits, underLoad: cfg.UnderLoad}
	if s.now == nil {
		s.now = time.Now
	}
	if s.underLoad == nil {
		s.underLoad = func() bool { return false }
	}
	if s.onSuspend == nil {
		s.onSuspend = func(string) {}
	}
	if s.onRevoke == nil {
		s.onRevoke = func(string, string) {}
	}
	if s.pow == nil {
		key := make([]byte, 32)
		rand.Read(key)
		s.pow = admission.NewPoW(key)
	}
	if s.powBits <= 0 {
		s.powBits = DefaultLoginPoWBits
	}
	perIP, perPrefix := cfg.LoginsPerIP, cfg.LoginsPerPrefix
	if perIP == (ratelimit.Rate{}) {
		perIP = DefaultLoginsPerIP
	}
	if perPrefix == (ratelimit.Rate{}) {
		perPrefix = DefaultLoginsPerPrefix
	}
	s.addrs = admission.NewLimiter(admission.LimiterConfig{PerIP: perIP, PerPrefix: perPrefix, MaxEntries: maxLoginAddrs, Now: s.now})
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
	// Cred names the credential the principal came with (one API token or
	// web session, never its secret): what a stage session opened with it
	// is bound to, so revoking that one token ends just those sessions.
	Cred string
}

// tokenCred and sessionCred name a credential by its stored hash.
func tokenCred(hash string) string     { return "token:" + hash[:min(len(hash), 16)] }
func sessionCred(secret string) string { return "session:" + store.TokenHash(secret)[:16] }

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
	p, err := principalOf(u, err)
	if err == nil {
		p.Cred = tokenCred(store.TokenHash(token))
	}
	return p, err
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
