package account

import (
	"context"
	"fmt"

	"majlis/internal/audit"
)

// The audit log's actions of the accounts domain (docs/audit.md lists every action).
const (
	AuditCreateUser  = "account.create_user" // an admin created an account (detail: name, role)
	AuditSuspend     = "account.suspend"
	AuditUnsuspend   = "account.unsuspend"
	AuditRole        = "account.role"         // an admin changed a user's platform role (detail: from, to)
	AuditTokenRevoke = "account.token_revoke" // a user deleted one of their API tokens
)

// record writes an action that has just taken effect to the audit log
// (nothing without one). When the log cannot take it, the action stands
// and the call fails with audit.ErrUnavailable: the client is told
// (503 audit_unavailable), never a silent success.
func (s *Service) record(ctx context.Context, actor, action, target string, detail map[string]any) error {
	if s.audit == nil {
		return nil
	}
	if _, err := s.audit.Record(ctx, audit.Entry{Actor: actor, Action: action, Target: target, Detail: detail}); err != nil {
		return fmt.Errorf("account: %s %s: %w", action, target, audit.Unavailable(err))
	}
	return nil
}
