package account

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"majlis/internal/ratelimit"
	"majlis/internal/store"
)

// Login checks a name and password and starts a web session, whose secret
// it returns. Failures are counted per lower-cased name; past LoginBurst of
// them the name is refused with ErrLoginLimited, even with the right
// password, until its bucket refills. A suspended user with the right
// password gets ErrSuspended.
func (s *Service) Login(ctx context.Context, name, password string) (User, string, error) {
	if len(password) > MaxPassword || !ValidName(name) {
		return User{}, "", ErrBadCredentials
	}
	key := strings.ToLower(name)
	if !s.logins.allow(key, s.now()) {
		return User{}, "", ErrLoginLimited
	}
	u, err := s.st.UserByName(ctx, name)
	if errors.Is(err, store.ErrNotFound) || err == nil && u.PasswordHash == "" {
		s.hasher.CheckDummy(password)
		s.logins.failed(key, s.now())
		return User{}, "", ErrBadCredentials
	}
	if err != nil {
		return User{}, "", fmt.Errorf("account: login: %w", err)
	}
	ok, err := Check(u.PasswordHash, password)
	if err != nil {
		return User{}, "", fmt.Errorf("account: login %s: %w", u.ID, err)
	}
	if !ok {
		s.logins.failed(key, s.now())
		return User{}, "", ErrBadCredentials
	}
	if u.Suspended {
		return User{}, "", ErrSuspended
	}
	sess, err := s.newSession(ctx, u.ID)
	if err != nil {
		return User{}, "", err
	}
	return userOf(u), sess, nil
}

// newSession starts a web session of SessionTTL for user and returns its secret.
func (s *Service) newSession(ctx context.Context, user string) (string, error) {
	tok, err := s.st.CreateSessionAt(ctx, user, s.now(), SessionTTL)
	if err != nil {
		return "", fmt.Errorf("account: %w", err)
	}
	return tok, nil
}

// ResolveSession returns the principal of an unexpired web session's
// secret; like Resolve, a suspended user resolves with Suspended set
// (though suspending ends sessions, so that is rare), and anything else
// is ErrUnauthorized.
func (s *Service) ResolveSession(ctx context.Context, secret string) (Principal, error) {
	if secret == "" || len(secret) > MaxSecret {
		return Principal{}, ErrUnauthorized
	}
	u, err := s.st.UserBySessionAt(ctx, secret, s.now())
	return principalOf(u, err)
}

// EndSession ends the web session with this secret (logging out); ending
// one that does not exist is not an error.
func (s *Service) EndSession(ctx context.Context, secret string) error {
	if err := s.st.DeleteSession(ctx, secret); err != nil {
		return fmt.Errorf("account: %w", err)
	}
	return nil
}

// loginLimiter slows password guessing against one name: one token bucket
// per name that has failed, spent only by failures.
type loginLimiter struct {
	rate ratelimit.Rate
	max  int // names kept before the table is reset

	mu sync.Mutex
	m  map[string]ratelimit.Bucket
}

func newLoginLimiter(maxNames int) loginLimiter {
	if maxNames <= 0 {
		maxNames = DefaultMaxLoginNames
	}
	return loginLimiter{rate: ratelimit.Rate{PerSecond: 1 / LoginRefill.Seconds(), Burst: LoginBurst}, max: maxNames}
}

// allow says whether name may try a password at now.
func (l *loginLimiter) allow(name string, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	b, seen := l.m[name]
	if !seen {
		return true
	}
	ok, _ := b.Peek(l.rate, now)
	return ok
}

// failed spends one attempt of name. It always spends (Wait, not Take): a
// failure that passed allow concurrently with others still counts, as debt.
func (l *loginLimiter) failed(name string, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.m == nil || len(l.m) > l.max {
		l.m = make(map[string]ratelimit.Bucket)
	}
	b := l.m[name] // the zero Bucket is full
	b.Wait(l.rate, now)
	l.m[name] = b
}

// names is how many names the table holds (for tests).
func (l *loginLimiter) names() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.m)
}
