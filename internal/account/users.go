package account

import (
	"context"
	"errors"
	"fmt"

	"majlis/internal/store"
)

// CreateUser is an admin creating an account with a platform role ("" is
// RoleUser) and an optional password ("" for none: the user then signs in
// only with the API token returned, which is the account's first).
func (s *Service) CreateUser(ctx context.Context, by Principal, name, role, password string) (User, string, error) {
	if err := requireAdmin(by); err != nil {
		return User{}, "", err
	}
	if role == "" {
		role = RoleUser
	}
	if role != RoleUser && role != RoleModerator && role != RoleAdmin {
		return User{}, "", ErrBadRole
	}
	name, ok := CanonicalName(name)
	if !ok {
		return User{}, "", ErrBadName
	}
	hash := ""
	if password != "" {
		if !ValidPassword(password) {
			return User{}, "", ErrBadPassword
		}
		if err := s.nameFree(ctx, name); err != nil {
			return User{}, "", err
		}
		if err := s.pool.do(ctx, func() { hash = s.hasher.Hash(password) }); err != nil {
			return User{}, "", err
		}
	}
	u, tok, err := s.createAccount(ctx, name, role, hash, true)
	if err != nil {
		return User{}, "", err
	}
	if err := s.record(ctx, by.ID, AuditCreateUser, "user:"+u.ID, map[string]any{"name": u.Name, "role": u.Role, "password": hash != ""}); err != nil {
		return User{}, "", err
	}
	return u, tok, nil
}

// nameFree refuses a name whose key is taken before a hash is spent on it
// (the store's unique key still decides a race).
func (s *Service) nameFree(ctx context.Context, name string) error {
	_, err := s.st.UserByNameKey(ctx, name, NameKey(name))
	switch {
	case err == nil:
		return ErrNameTaken
	case errors.Is(err, store.ErrNotFound):
		return nil
	}
	return fmt.Errorf("account: %w", err)
}

// SignupEnabled says whether anyone may create an account with Signup.
func (s *Service) SignupEnabled() bool { return s.signup }

// Signup creates a user account with a password and starts its first web
// session, whose secret it returns. A reserved name (Reserved) is
// ErrNameReserved, a name whose key is taken ErrNameTaken. The attempt
// spends a token of its address's login buckets before the password is
// hashed (and, under load, needs a proof of work, as Login does), and the
// hash waits for the pool, as Login's do; the address is then known as the
// new account's owner.
func (s *Service) Signup(ctx context.Context, at Attempt) (User, string, error) {
	if !s.signup {
		return User{}, "", ErrSignupDisabled
	}
	name, ok := CanonicalName(at.Name)
	if !ok {
		return User{}, "", ErrBadName
	}
	at.Name = name
	if Reserved(at.Name) {
		return User{}, "", ErrNameReserved
	}
	if !ValidPassword(at.Password) {
		return User{}, "", ErrBadPassword
	}
	if err := s.admitAddr(at.Addr); err != nil {
		return User{}, "", err
	}
	if s.loaded() {
		if err := s.proveWork(at); err != nil {
			return User{}, "", err
		}
	}
	if err := s.nameFree(ctx, at.Name); err != nil {
		return User{}, "", err
	}
	var hash string
	if err := s.pool.do(ctx, func() { hash = s.hasher.Hash(at.Password) }); err != nil {
		return User{}, "", err
	}
	u, _, err := s.createAccount(ctx, at.Name, RoleUser, hash, false)
	if err != nil {
		return User{}, "", err
	}
	sess, err := s.newSession(ctx, u.ID)
	if err != nil {
		return User{}, "", err
	}
	s.known.add(NameKey(at.Name), at.Addr)
	return u, sess, nil
}

func (s *Service) createAccount(ctx context.Context, name, role, hash string, withToken bool) (User, string, error) {
	u, tok, err := s.st.CreateAccountWithKey(ctx, name, NameKey(name), role, hash, withToken)
	if errors.Is(err, store.ErrExists) {
		return User{}, "", ErrNameTaken
	}
	if err != nil {
		return User{}, "", fmt.Errorf("account: create %s: %w", name, err)
	}
	return userOf(u), tok, nil
}

// SetSuspended is an admin suspending or reinstating the user id and
// returns the user as it now is. Suspending ends the user's web sessions
// and calls Config.OnSuspend; their API tokens stay, refused while suspended.
func (s *Service) SetSuspended(ctx context.Context, by Principal, id string, suspended bool) (User, error) {
	return s.suspend(ctx, by, id, suspended, func() error { return s.st.SetSuspended(ctx, id, suspended) })
}

// SetSafetySuspended is SetSuspended for a trust and safety decision: its
// suspension is a hold of its own, so lifting it (the suspension's end, a
// reversed decision) leaves an admin's suspension of the same account in
// force. An admin's reinstatement (SetSuspended false) lifts both.
func (s *Service) SetSafetySuspended(ctx context.Context, by Principal, id string, suspended bool) (User, error) {
	return s.suspend(ctx, by, id, suspended, func() error { return s.st.SetSuspendHold(ctx, id, store.HoldSafety, suspended) })
}

// SetRole gives a user another platform role (admins): user, moderator or
// admin. It takes effect on the user's next request (every request reads
// the role), and is audited with the role before and after. An admin
// cannot change their own role, so the last admin cannot lock the platform
// out by mistake.
func (s *Service) SetRole(ctx context.Context, by Principal, id, role string) (User, error) {
	if err := requireAdmin(by); err != nil {
		return User{}, err
	}
	if role != RoleUser && role != RoleModerator && role != RoleAdmin {
		return User{}, ErrBadRole
	}
	if id == by.ID {
		return User{}, ErrSelfRole
	}
	u, err := s.User(ctx, id)
	if err != nil {
		return User{}, err
	}
	if u.Role == role {
		return u, nil
	}
	if err := s.st.SetRole(ctx, id, role); errors.Is(err, store.ErrNotFound) {
		return User{}, ErrUserNotFound
	} else if err != nil {
		return User{}, fmt.Errorf("account: %w", err)
	}
	if err := s.record(ctx, by.ID, AuditRole, "user:"+id, map[string]any{"from": u.Role, "to": role}); err != nil {
		return User{}, err
	}
	return s.User(ctx, id)
}

func (s *Service) suspend(ctx context.Context, by Principal, id string, suspended bool, set func() error) (User, error) {
	if err := requireAdmin(by); err != nil {
		return User{}, err
	}
	if id == by.ID {
		return User{}, ErrSelfSuspend
	}
	if err := set(); errors.Is(err, store.ErrNotFound) {
		return User{}, ErrUserNotFound
	} else if err != nil {
		return User{}, fmt.Errorf("account: suspend %s: %w", id, err)
	}
	action := AuditUnsuspend
	if suspended {
		s.onSuspend(id)
		action = AuditSuspend
	}
	if err := s.record(ctx, by.ID, action, "user:"+id, nil); err != nil {
		return User{}, err
	}
	return s.User(ctx, id)
}
