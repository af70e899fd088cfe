package account

import (
	"context"
	"errors"
	"fmt"

	"majlis/internal/store"
)

// ValidName says whether s is an acceptable user name: 1-MaxName ASCII
// letters, digits, '.', '_' or '-'.
func ValidName(s string) bool {
	if len(s) == 0 || len(s) > MaxName {
		return false
	}
	for _, c := range s {
		if !(c == '.' || c == '_' || c == '-' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			return false
		}
	}
	return true
}

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
	if !ValidName(name) {
		return User{}, "", ErrBadName
	}
	hash := ""
	if password != "" {
		if !ValidPassword(password) {
			return User{}, "", ErrBadPassword
		}
		hash = s.hasher.Hash(password)
	}
	return s.createAccount(ctx, name, role, hash, true)
}

// SignupEnabled says whether anyone may create an account with Signup.
func (s *Service) SignupEnabled() bool { return s.signup }

// Signup creates a user account with a password and starts its first web
// session, whose secret it returns.
func (s *Service) Signup(ctx context.Context, name, password string) (User, string, error) {
	if !s.signup {
		return User{}, "", ErrSignupDisabled
	}
	if !ValidName(name) {
		return User{}, "", ErrBadName
	}
	if !ValidPassword(password) {
		return User{}, "", ErrBadPassword
	}
	u, _, err := s.createAccount(ctx, name, RoleUser, s.hasher.Hash(password), false)
	if err != nil {
		return User{}, "", err
	}
	sess, err := s.newSession(ctx, u.ID)
	if err != nil {
		return User{}, "", err
	}
	return u, sess, nil
}

func (s *Service) createAccount(ctx context.Context, name, role, hash string, withToken bool) (User, string, error) {
	u, tok, err := s.st.CreateAccount(ctx, name, role, hash, withToken)
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
	if err := requireAdmin(by); err != nil {
		return User{}, err
	}
	if id == by.ID {
		return User{}, ErrSelfSuspend
	}
	if err := s.st.SetSuspended(ctx, id, suspended); errors.Is(err, store.ErrNotFound) {
		return User{}, ErrUserNotFound
	} else if err != nil {
		return User{}, fmt.Errorf("account: suspend %s: %w", id, err)
	}
	if suspended {
		s.onSuspend(id)
	}
	return s.User(ctx, id)
}
