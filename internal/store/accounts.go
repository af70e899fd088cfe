package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

const userCols = `u.id, u.name, u.role, u.created_at, u.suspended, u.password_hash`

func (s *Store) userWhere(ctx context.Context, where string, args ...any) (User, error) {
	var u User
	var c int64
	var susp int
	err := s.rd.QueryRowContext(ctx, `SELECT `+userCols+` `+where, args...).Scan(&u.ID, &u.Name, &u.Role, &c, &susp, &u.PasswordHash)
	if errors.Is(err, sql.ErrNoRows) {
		return User{}, ErrNotFound
	}
	if err != nil {
		return User{}, fmt.Errorf("user: %w", err)
	}
	u.CreatedAt, u.Suspended = timeOrZero(c), susp != 0
	return u, nil
}

// UserByID returns the user with id.
func (s *Store) UserByID(ctx context.Context, id string) (User, error) {
	return s.userWhere(ctx, `FROM users u WHERE u.id = ?`, id)
}

// UserByName returns the user called name.
func (s *Store) UserByName(ctx context.Context, name string) (User, error) {
	return s.userWhere(ctx, `FROM users u WHERE u.name = ?`, name)
}

// UserByNameKey returns the user called exactly name or, failing that, the
// one whose name key (its folded form) is nameKey. The exact name comes
// first so that a user whose name collided with another's before keys
// were unique (migration 3) still logs in by it.
func (s *Store) UserByNameKey(ctx context.Context, name, nameKey string) (User, error) {
	return s.userWhere(ctx, `FROM users u WHERE u.name = ? OR u.name_key = ? ORDER BY u.name = ? DESC LIMIT 1`, name, nameKey, name)
}

// SuspendHold is why a user is suspended: a user is suspended while any
// hold is on (the users.suspended column is their bit set; a 1 from
// before holds existed is an admin's).
type SuspendHold int

// Suspension holds.
const (
	HoldAdmin  SuspendHold = 1 // an admin's suspension (account API)
	HoldSafety SuspendHold = 2 // a trust and safety decision's
	holdsAll   SuspendHold = HoldAdmin | HoldSafety
)

// SetSuspended suspends a user with an admin's hold, or reinstates them,
// lifting every hold. Suspending also ends the user's web sessions.
func (s *Store) SetSuspended(ctx context.Context, id string, suspended bool) error {
	if suspended {
		return s.SetSuspendHold(ctx, id, HoldAdmin, true)
	}
	return s.SetSuspendHold(ctx, id, holdsAll, false)
}

// SetRole changes a user's platform role.
func (s *Store) SetRole(ctx context.Context, id, role string) error {
	res, err := s.db.ExecContext(ctx, `UPDATE users SET role = ? WHERE id = ?`, role, id)
	if err != nil {
		return fmt.Errorf("set role of %s: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	return nil
}

// SetSuspendHold puts hold on a user (ending their web sessions) or
// lifts it; the user stays suspended while another hold is on.
func (s *Store) SetSuspendHold(ctx context.Context, id string, hold SuspendHold, suspended bool) error {
	q := `UPDATE users SET suspended = suspended & ~? WHERE id = ?`
	if suspended {
		q = `UPDATE users SET suspended = suspended | ? WHERE id = ?`
	}
	res, err := s.db.ExecContext(ctx, q, int(hold), id)
	if err != nil {
		return fmt.Errorf("suspend %s: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	if suspended {
		if _, err := s.db.ExecContext(ctx, `DELETE FROM sessions WHERE user_id = ?`, id); err != nil {
			return fmt.Errorf("suspend %s: %w", id, err)
		}
	}
	return nil
}

// Token describes an API token (never its secret).
type Token struct {
	ID        string
	Name      string
	CreatedAt time.Time
}

// CreateToken makes a new named API token for user and returns it with its secret.
func (s *Store) CreateToken(ctx context.Context, user, name string) (Token, string, error) {
	t := Token{ID: NewID(), Name: name, CreatedAt: time.Now().UTC().Truncate(time.Millisecond)}
	tok := "mjt_" + NewID() + NewID()
	if _, err := s.db.ExecContext(ctx, `INSERT INTO tokens (hash, user_id, created_at, id, name) VALUES (?, ?, ?, ?, ?)`,
		TokenHash(tok), user, t.CreatedAt.UnixMilli(), t.ID, t.Name); err != nil {
		return Token{}, "", fmt.Errorf("create token: %w", err)
	}
	return t, tok, nil
}

// Tokens lists user's API tokens, oldest first.
func (s *Store) Tokens(ctx context.Context, user string) ([]Token, error) {
	rows, err := s.rd.QueryContext(ctx, `SELECT id, name, created_at FROM tokens WHERE user_id = ? ORDER BY created_at, id`, user)
	if err != nil {
		return nil, fmt.Errorf("tokens: %w", err)
	}
	defer rows.Close()
	out := []Token{}
	for rows.Next() {
		var t Token
		var c int64
		if err := rows.Scan(&t.ID, &t.Name, &c); err != nil {
			return nil, fmt.Errorf("tokens: %w", err)
		}
		t.CreatedAt = timeOrZero(c)
		out = append(out, t)
	}
	return out, rows.Err()
}

// DeleteToken revokes user's token id.
func (s *Store) DeleteToken(ctx context.Context, user, id string) (hash string, err error) {
	err = s.db.QueryRowContext(ctx, `DELETE FROM tokens WHERE user_id = ? AND id = ? RETURNING hash`, user, id).Scan(&hash)
	if errors.Is(err, sql.ErrNoRows) {
		return "", ErrNotFound
	}
	if err != nil {
		return "", fmt.Errorf("delete token: %w", err)
	}
	return hash, nil
}

// CreateSession starts a web session for user and returns its secret.
func (s *Store) CreateSession(ctx context.Context, user string, ttl time.Duration) (string, error) {
	return s.CreateSessionAt(ctx, user, time.Now(), ttl)
}

// CreateSessionAt is CreateSession on the caller's clock: the session starts
// at now and expires ttl later.
func (s *Store) CreateSessionAt(ctx context.Context, user string, now time.Time, ttl time.Duration) (string, error) {
	tok := "mjs_" + NewID() + NewID()
	if _, err := s.db.ExecContext(ctx, `INSERT INTO sessions (hash, user_id, created_at, expires_at) VALUES (?, ?, ?, ?)`,
		TokenHash(tok), user, now.UnixMilli(), now.Add(ttl).UnixMilli()); err != nil {
		return "", fmt.Errorf("create session: %w", err)
	}
	return tok, nil
}

// UserBySession resolves an unexpired web session.
func (s *Store) UserBySession(ctx context.Context, tok string) (User, error) {
	return s.UserBySessionAt(ctx, tok, time.Now())
}

// UserBySessionAt resolves a web session that has not expired at now.
func (s *Store) UserBySessionAt(ctx context.Context, tok string, now time.Time) (User, error) {
	return s.userWhere(ctx, `FROM sessions t JOIN users u ON u.id = t.user_id WHERE t.hash = ? AND t.expires_at > ?`, TokenHash(tok), now.UnixMilli())
}

// DeleteSession ends a web session.
func (s *Store) DeleteSession(ctx context.Context, tok string) error {
	if _, err := s.db.ExecContext(ctx, `DELETE FROM sessions WHERE hash = ?`, TokenHash(tok)); err != nil {
		return fmt.Errorf("delete session: %w", err)
	}
	return nil
}

const usersByKeyPrefix = `SELECT ` + userCols + ` FROM users u
	WHERE u.name_key >= ? AND u.name_key < ? AND u.suspended = 0
	ORDER BY u.name_key LIMIT ?`

// UsersByNameKeyPrefix returns up to limit users whose name key
// (account.NameKey) starts with prefix, in key order, leaving out
// suspended users. It reads a range of the users_name_key index, so its
// cost is bounded by limit, not by the number of users.
func (s *Store) UsersByNameKeyPrefix(ctx context.Context, prefix string, limit int) ([]User, error) {
	// Every key with the prefix sorts (bytewise, SQLite's BINARY) from
	// prefix up to prefix+U+10FFFF, the greatest code point.
	rows, err := s.rd.QueryContext(ctx, usersByKeyPrefix, prefix, prefix+"\U0010FFFF", limit)
	if err != nil {
		return nil, fmt.Errorf("search users: %w", err)
	}
	defer rows.Close()
	out := []User{}
	for rows.Next() {
		var u User
		var c int64
		var susp int
		if err := rows.Scan(&u.ID, &u.Name, &u.Role, &c, &susp, &u.PasswordHash); err != nil {
			return nil, fmt.Errorf("search users: %w", err)
		}
		u.CreatedAt, u.Suspended = timeOrZero(c), susp != 0
		out = append(out, u)
	}
	return out, rows.Err()
}
