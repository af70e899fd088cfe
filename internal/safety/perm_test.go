package safety

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"majlis/internal/account"
)

// TestPermissions is the rule book: who may report, read the queue, claim,
// decide, complain, decide complaints, mark trusted flaggers and export.
func TestPermissions(t *testing.T) {
	ctx := context.Background()
	suspendedMod := Actor{ID: "mod2", Role: account.RoleModerator, Suspended: true}
	actors := map[string]Actor{"anonymous": anon, "user": lis, "affected": spk, "moderator": mod1, "other moderator": mod2, "admin": adm, "suspended moderator": suspendedMod}
	setup := func(t *testing.T) (*env, string, string) {
		e := newEnv(t)
		rc, err := e.Report(ctx, anon, speakerNotice())
		if err != nil {
			t.Fatal(err)
		}
		rc2, _ := e.Report(ctx, anon, speakerNotice())
		d, err := e.Decide(ctx, mod1, rc2.Notice.ID, muteDecision())
		if err != nil {
			t.Fatal(err)
		}
		return e, rc.Notice.ID, d.ID
	}
	ops := []struct {
		name    string
		allowed []string
		do      func(e *env, a Actor, notice, decision string) error
	}{
		{"report", []string{"anonymous", "user", "affected", "moderator", "other moderator", "admin", "suspended moderator"}, func(e *env, a Actor, _, _ string) error {
			_, err := e.Report(ctx, a, speakerNotice())
			return err
		}},
		{"read queue", []string{"moderator", "other moderator", "admin"}, func(e *env, a Actor, _, _ string) error { _, err := e.Queue(ctx, a); return err }},
		{"read notice", []string{"moderator", "other moderator", "admin"}, func(e *env, a Actor, n, _ string) error { _, err := e.Notice(ctx, a, n); return err }},
		{"claim", []string{"moderator", "other moderator", "admin"}, func(e *env, a Actor, n, _ string) error { _, err := e.Claim(ctx, a, n); return err }},
		{"decide", []string{"moderator", "other moderator", "admin"}, func(e *env, a Actor, n, _ string) error {
			in := muteDecision()
			in.Action = ActionWarn
			_, err := e.Decide(ctx, a, n, in)
			return err
		}},
		{"decide own initiative", []string{"moderator", "other moderator", "admin"}, func(e *env, a Actor, _, _ string) error {
			in := muteDecision()
			in.Action, in.User, in.Category = ActionWarn, "lis", CategoryScams
			_, err := e.DecideOwn(ctx, a, in)
			return err
		}},
		{"read decision", []string{"affected", "moderator", "other moderator", "admin"}, func(e *env, a Actor, _, d string) error { _, err := e.Decision(ctx, a, d); return err }},
		{"complain", []string{"affected"}, func(e *env, a Actor, _, d string) error {
			_, err := e.Complain(ctx, a, d, "", "This is not what I said at all.")
			return err
		}},
		{"decide complaint", []string{"other moderator", "admin"}, func(e *env, a Actor, _, d string) error {
			c, err := e.Complain(ctx, spk, d, "", "This is not what I said at all.")
			if err != nil {
				return fmt.Errorf("setup: %w", err)
			}
			_, err = e.DecideComplaint(ctx, a, c.ID, ComplaintOutcome{Outcome: OutcomeUpheld, Explanation: "Heard again; it stands."})
			return err
		}},
		{"mark trusted flagger", []string{"admin"}, func(e *env, a Actor, _, _ string) error {
			_, err := e.SetFlagger(ctx, a, "tf", CategoryScams)
			return err
		}},
		{"export", []string{"moderator", "other moderator", "admin"}, func(e *env, a Actor, _, _ string) error {
			_, _, err := e.Statements(ctx, a, time.Time{}, 0)
			return err
		}},
		{"transparency report", []string{"moderator", "other moderator", "admin"}, func(e *env, a Actor, _, _ string) error {
			_, err := e.TransparencyReport(ctx, a, time.Time{}, time.Now())
			return err
		}},
		{"misuse standing", []string{"moderator", "other moderator", "admin"}, func(e *env, a Actor, _, _ string) error {
			_, err := e.MisuseOf(ctx, a, "spk")
			return err
		}},
	}
	for _, o := range ops {
		for who, a := range actors {
			t.Run(o.name+"/"+who, func(t *testing.T) {
				e, n, d := setup(t)
				err := o.do(e, a, n, d)
				allowed := false
				for _, w := range o.allowed {
					allowed = allowed || w == who
				}
				if allowed && err != nil {
					t.Fatalf("refused: %v", err)
				}
				if !allowed && (err == nil || !(errors.Is(err, ErrForbidden) || errors.Is(err, ErrUnauthorized) || errors.Is(err, ErrNotComplainable) ||
					errors.Is(err, ErrDecisionNotFound) || errors.Is(err, ErrSameDecider))) {
					t.Fatalf("allowed or wrong refusal: %v", err)
				}
			})
		}
	}
}
