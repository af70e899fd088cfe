package account

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"time"

	"majlis/internal/ratelimit"
	"majlis/internal/store"
)

// Attempt is a login or a sign-up as it arrived.
type Attempt struct {
	Name, Password string
	// Addr is the client's address (the TCP peer): attempts are limited per
	// address and per /24 (/48) with it, and an account's owner is known by
	// it. The zero Addr is limited by neither and known nowhere.
	Addr netip.Addr
	// PoW is a solved puzzle, "challenge:solution", "" for none.
	PoW string
}

// Login checks a name and password and starts a web session, whose secret
// it returns. In order, each before any password is hashed:
//
//   - a malformed name or password is ErrBadCredentials;
//   - the attempt spends a token of its address's and its network's
//     buckets (LoginsPerIP, LoginsPerPrefix), shared with sign-up: none
//     left is a *LimitError (ErrLoginLimited);
//   - an account (its name key) that has failed more than its budget
//     (LoginBurst, then one per LoginRefill) needs a proof of work from
//     any address its owner has not logged in from (*PoWError,
//     ErrPoWRequired); from a known address it is not slowed, so failures
//     made by others never keep the owner out;
//   - under load (Config.UnderLoad, or requests queued for the hashing
//     pool) every account needs that proof from such addresses, so a
//     flood of made-up names from many networks pays for its hashes;
//   - the check waits for a hashing slot: the pool full or no slot within
//     HashWait is ErrBusy.
//
// A wrong password (or a name with no user, which costs a dummy hash so
// timing does not tell which names exist) is ErrBadCredentials and spends
// one of the account's failures. A suspended user with the right password
// gets ErrSuspended. A success remembers the address as the owner's.
func (s *Service) Login(ctx context.Context, at Attempt) (User, string, error) {
	if len(at.Password) > MaxPassword || !ValidName(at.Name) {
		return User{}, "", ErrBadCredentials
	}
	if err := s.admitAddr(at.Addr); err != nil {
		return User{}, "", err
	}
	key := NameKey(at.Name)
	if !s.known.has(key, at.Addr) && (s.loaded() || !s.logins.allow(key, s.now())) {
		if err := s.proveWork(at); err != nil {
			return User{}, "", err
		}
	}
	u, err := s.st.UserByNameKey(ctx, at.Name, key)
	if errors.Is(err, store.ErrNotFound) || err == nil && u.PasswordHash == "" {
		if err := s.pool.do(ctx, func() { s.hasher.CheckDummy(at.Password) }); err != nil {
			return User{}, "", err
		}
		s.logins.failed(key, s.now())
		return User{}, "", ErrBadCredentials
	}
	if err != nil {
		return User{}, "", fmt.Errorf("account: login: %w", err)
	}
	var ok bool
	var cerr error
	if err := s.pool.do(ctx, func() { ok, cerr = Check(u.PasswordHash, at.Password) }); err != nil {
		return User{}, "", err
	}
	if cerr != nil {
		return User{}, "", fmt.Errorf("account: login %s: %w", u.ID, cerr)
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
	s.known.add(key, at.Addr)
	return userOf(u), sess, nil
}

// loaded reports whether the server or the hashing pool is under load.
func (s *Service) loaded() bool { return s.pool.queued() || s.underLoad() }

// proveWork checks the attempt's solved puzzle; none or a wrong one is a
// *PoWError with a fresh puzzle.
func (s *Service) proveWork(at Attempt) error {
	if s.pow.Verify(at.PoW, s.powBits) != nil {
		return &PoWError{Challenge: s.pow.Challenge(s.powBits), Difficulty: s.powBits}
	}
	return nil
}

// admitAddr spends an attempt of addr's buckets.
func (s *Service) admitAddr(addr netip.Addr) error {
	if ok, retry := s.addrs.Allow(addr); !ok {
		return &LimitError{Retry: retry}
	}
	return nil
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
	p, err := principalOf(u, err)
	if err == nil {
		p.Cred = sessionCred(secret)
	}
	return p, err
}

// EndSession ends the web session with this secret (logging out); ending
// one that does not exist is not an error. Like a revoked token, it then
// calls Config.OnTokenRevoked with the session's credential, so a stage
// session the web session opened ends with it (the studio of a browser
// that logged out stops publishing) and the user's other sessions go on.
func (s *Service) EndSession(ctx context.Context, secret string) error {
	u, err := s.st.UserBySessionAt(ctx, secret, s.now())
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("account: %w", err)
	}
	if err := s.st.DeleteSession(ctx, secret); err != nil {
		return fmt.Errorf("account: %w", err)
	}
	if u.ID != "" {
		s.onRevoke(u.ID, sessionCred(secret))
	}
	return nil
}

// loginLimiter counts failures per account (name key): one token bucket
// per key that has failed, spent only by failures. An empty bucket makes
// strangers prove work, it refuses no one.
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

// knownAddrs remembers where each account's owner logged in from: up to
// MaxKnownAddrs networks per name key (an IPv4 address, an IPv6 /64), the
// newest replacing the oldest; the table holds at most max keys, dropping
// an arbitrary one to make room.
type knownAddrs struct {
	max int

	mu sync.Mutex
	m  map[string][]netip.Prefix
}

func newKnownAddrs(maxNames int) knownAddrs {
	if maxNames <= 0 {
		maxNames = DefaultMaxLoginNames
	}
	return knownAddrs{max: maxNames, m: make(map[string][]netip.Prefix)}
}

// ownerNet is the network an owner is known by: IPv6 hosts change their
// low 64 bits (privacy addresses).
func ownerNet(a netip.Addr) netip.Prefix {
	a = a.Unmap()
	bits := a.BitLen()
	if a.Is6() {
		bits = 64
	}
	p, _ := a.Prefix(bits)
	return p
}

func (k *knownAddrs) has(key string, a netip.Addr) bool {
	if !a.IsValid() {
		return false
	}
	n := ownerNet(a)
	k.mu.Lock()
	defer k.mu.Unlock()
	for _, p := range k.m[key] {
		if p == n {
			return true
		}
	}
	return false
}

func (k *knownAddrs) add(key string, a netip.Addr) {
	if !a.IsValid() {
		return
	}
	n := ownerNet(a)
	k.mu.Lock()
	defer k.mu.Unlock()
	ps, seen := k.m[key]
	for i, p := range ps {
		if p == n { // most recent last
			ps = append(append(ps[:i:i], ps[i+1:]...), n)
			k.m[key] = ps
			return
		}
	}
	if !seen && len(k.m) >= k.max {
		for other := range k.m {
			delete(k.m, other)
			break
		}
	}
	if len(ps) >= MaxKnownAddrs {
		ps = append(ps[:0:0], ps[1:]...)
	}
	k.m[key] = append(ps, n)
}
