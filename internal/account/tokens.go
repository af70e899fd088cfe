package account

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"majlis/internal/store"
	"majlis/internal/usertext"
)

// Token describes a named API token (never its secret).
type Token struct {
	ID        string
	Name      string
	CreatedAt time.Time
}

// requireUser refuses a principal that is not an active user account.
func requireUser(p Principal) error {
	if err := requireActive(p); err != nil {
		return err
	}
	if p.IsAdminToken() {
		return ErrNotAUser
	}
	return nil
}

// Tokens lists p's API tokens, oldest first.
func (s *Service) Tokens(ctx context.Context, p Principal) ([]Token, error) {
	if err := requireUser(p); err != nil {
		return nil, err
	}
	ts, err := s.st.Tokens(ctx, p.ID)
	if err != nil {
		return nil, fmt.Errorf("account: %w", err)
	}
	out := make([]Token, 0, len(ts))
	for _, t := range ts {
		out = append(out, Token(t))
	}
	return out, nil
}

// CreateToken makes p a new API token called name (trimmed, 1-MaxTokenName
// characters) and returns it with its secret, which is not kept.
func (s *Service) CreateToken(ctx context.Context, p Principal, name string) (Token, string, error) {
	if err := requireUser(p); err != nil {
		return Token{}, "", err
	}
	name = strings.TrimSpace(name)
	if name == "" || usertext.Check(name, MaxTokenName, false) != nil {
		return Token{}, "", ErrBadTokenName
	}
	t, tok, err := s.st.CreateToken(ctx, p.ID, name)
	if err != nil {
		return Token{}, "", fmt.Errorf("account: %w", err)
	}
	return Token(t), tok, nil
}

// DeleteToken revokes p's token id; another user's token is
// ErrTokenNotFound. It then calls Config.OnTokenRevoked with p's id and the
// token's credential, which ends the stage sessions that token opened and
// no other.
func (s *Service) DeleteToken(ctx context.Context, p Principal, id string) error {
	if err := requireUser(p); err != nil {
		return err
	}
	hash, err := s.st.DeleteToken(ctx, p.ID, id)
	if errors.Is(err, store.ErrNotFound) {
		return ErrTokenNotFound
	} else if err != nil {
		return fmt.Errorf("account: %w", err)
	}
	s.onRevoke(p.ID, tokenCred(hash))
	return s.record(ctx, p.ID, AuditTokenRevoke, "token:"+id, map[string]any{"user": p.ID})
}
