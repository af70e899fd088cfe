package safety

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"majlis/internal/account"
	"majlis/internal/audit"
)

// Misuse holds the Art. 23 DSA rules. Strikes: decisions restricting
// manifestly illegal content about one user within Window; at Strikes of
// them the user is warned (an automated warning) and, once warned, the
// next one suspends the account for Suspension. Unfounded: manifestly
// unfounded notices of one signed-in notifier within Window; at Unfounded
// of them the notifier is warned and, once warned, the next suspends
// their notices for NoticeSuspension.
type Misuse struct {
	Strikes          int
	Unfounded        int
	Window           time.Duration
	Suspension       time.Duration
	NoticeSuspension time.Duration
}

// DefaultMisuse is the rule without configuration.
var DefaultMisuse = Misuse{Strikes: 3, Unfounded: 3, Window: 365 * 24 * time.Hour, Suspension: 7 * 24 * time.Hour, NoticeSuspension: 30 * 24 * time.Hour}

func (m Misuse) withDefaults() Misuse {
	d := DefaultMisuse
	if m.Strikes > 0 {
		d.Strikes = m.Strikes
	}
	if m.Unfounded > 0 {
		d.Unfounded = m.Unfounded
	}
	if m.Window > 0 {
		d.Window = m.Window
	}
	if m.Suspension >= MinSuspension {
		d.Suspension = min(m.Suspension, MaxSuspension)
	}
	if m.NoticeSuspension > 0 {
		d.NoticeSuspension = m.NoticeSuspension
	}
	return d
}

// systemActor is the Art. 23 rule acting on its own.
var systemActor = Actor{ID: "system", Role: account.RoleAdmin}

// MisuseState is one account's standing under Art. 23.
type MisuseState struct {
	User string `json:"user"`
	// Strikes counts decisions on manifestly illegal content about the
	// user within the window (reversed ones do not count).
	Strikes int `json:"strikes"`
	// Unfounded counts the user's manifestly unfounded notices within the window.
	Unfounded       int       `json:"unfounded_notices"`
	NotifierWarned  time.Time `json:"notifier_warned_at,omitzero"`
	NoticesBlocked  time.Time `json:"notices_suspended_until,omitzero"`
	StrikeSuspended bool      `json:"strike_suspension_in_force"`
}

func (s *Service) strikes(ctx context.Context, user string) (int, error) {
	var n int
	err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM decisions WHERE user_id = ? AND manifest = 1 AND action != ? AND decided_at >= ?
		AND (lifted_at = 0 OR lifted_why = 'expired')`, user, ActionNone, ms(s.now().Add(-s.cfg.Misuse.Window))).Scan(&n)
	return n, err
}

func (s *Service) unfounded(ctx context.Context, notifier string) (int, error) {
	var n int
	err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM decisions d JOIN notices n ON n.id = d.notice WHERE n.notifier = ? AND d.action = ? AND d.manifest = 1 AND d.decided_at >= ?`,
		notifier, ActionNone, ms(s.now().Add(-s.cfg.Misuse.Window))).Scan(&n)
	return n, err
}

func (s *Service) notifierMisuse(ctx context.Context, user string) (warned, until time.Time, err error) {
	var w, u int64
	err = s.db.QueryRowContext(ctx, `SELECT warned_at, suspended_until FROM notifier_misuse WHERE user_id = ?`, user).Scan(&w, &u)
	if errors.Is(err, sql.ErrNoRows) {
		return time.Time{}, time.Time{}, nil
	}
	return fromMS(w), fromMS(u), err
}

// noticesSuspended says whether a notifier's notices are suspended now.
func (s *Service) noticesSuspended(ctx context.Context, user string) error {
	_, until, err := s.notifierMisuse(ctx, user)
	if err != nil {
		return err
	}
	if until.After(s.now()) {
		return ErrNoticesSuspended
	}
	return nil
}

// misuseLocked applies Art. 23 after decision d (on notice n, if any).
// Failures are logged: the decision itself stands.
func (s *Service) misuseLocked(ctx context.Context, d Decision, n *Notice) {
	var err error
	switch {
	case d.Manifest && Restricts(d.Action) && d.User != "" && !d.Automated:
		err = s.strikeLocked(ctx, d)
	case d.Manifest && d.Action == ActionNone && n != nil && n.Notifier != "":
		err = s.unfoundedLocked(ctx, n.Notifier)
	}
	if err != nil {
		s.log.Error("safety: Art. 23 rule", "decision", d.ID, "err", err)
	}
}

func (s *Service) strikeLocked(ctx context.Context, d Decision) error {
	n, err := s.strikes(ctx, d.User)
	if err != nil || n < s.cfg.Misuse.Strikes {
		return err
	}
	var warned, suspended int
	since := ms(s.now().Add(-s.cfg.Misuse.Window))
	if err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM decisions WHERE user_id = ? AND automated = 1 AND action = ? AND decided_at >= ?`, d.User, ActionWarn, since).Scan(&warned); err != nil {
		return err
	}
	if err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM decisions WHERE user_id = ? AND automated = 1 AND action = ? AND lifted_at = 0 AND ends_at > ?`, d.User, ActionSuspend, ms(s.now())).Scan(&suspended); err != nil {
		return err
	}
	if suspended > 0 {
		return nil
	}
	why := fmt.Sprintf("%d decisions on manifestly illegal content within %s, the latest %s", n, s.cfg.Misuse.Window, d.ID)
	in := DecisionInput{Action: ActionWarn, User: d.User, Category: d.Category, Ground: GroundTerms,
		TermsGround: "Art. 23(1) DSA and the terms on repeated misuse", Explanation: "Repeatedly providing manifestly illegal content: a further decision suspends the account.",
		Facts: why, automated: true}
	if warned > 0 {
		in.Action, in.Duration = ActionSuspend, s.cfg.Misuse.Suspension
		in.Explanation = "Repeatedly providing manifestly illegal content after a warning: the account is suspended for " + s.cfg.Misuse.Suspension.String() + "."
	}
	_, err = s.decideLocked(ctx, systemActor, nil, in, SourceVoluntary, "")
	return err
}

func (s *Service) unfoundedLocked(ctx context.Context, notifier string) error {
	n, err := s.unfounded(ctx, notifier)
	if err != nil || n < s.cfg.Misuse.Unfounded {
		return err
	}
	warned, until, err := s.notifierMisuse(ctx, notifier)
	if err != nil || until.After(s.now()) {
		return err
	}
	now := s.now()
	action, detail := "safety.notifier_warn", map[string]any{"unfounded_notices": n}
	if warned.IsZero() || warned.Before(now.Add(-s.cfg.Misuse.Window)) {
		warned = now
	} else {
		until = now.Add(s.cfg.Misuse.NoticeSuspension)
		action, detail["until"] = "safety.notices_suspend", until
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `INSERT INTO notifier_misuse (user_id, warned_at, suspended_until) VALUES (?, ?, ?)
		ON CONFLICT(user_id) DO UPDATE SET warned_at = excluded.warned_at, suspended_until = excluded.suspended_until`, notifier, ms(warned), ms(until)); err != nil {
		return err
	}
	if err := s.record(ctx, audit.Entry{Actor: systemActor.ID, Action: action, Target: "user:" + notifier, Reason: "Art. 23(2) DSA: manifestly unfounded notices", Detail: detail}); err != nil {
		return err
	}
	return tx.Commit()
}

// MisuseOf is a user's Art. 23 standing (moderators).
func (s *Service) MisuseOf(ctx context.Context, a Actor, user string) (MisuseState, error) {
	if !a.moderator() {
		return MisuseState{}, ErrForbidden
	}
	return s.standing(ctx, user)
}

// MyStanding is the signed-in user's own Art. 23 standing: how a notifier
// learns of a warning for manifestly unfounded notices, and until when
// their notices are suspended (Art. 23(2) DSA: after a prior warning).
func (s *Service) MyStanding(ctx context.Context, a Actor) (MisuseState, error) {
	if !a.signedIn() {
		return MisuseState{}, ErrUnauthorized
	}
	return s.standing(ctx, a.ID)
}

func (s *Service) standing(ctx context.Context, user string) (MisuseState, error) {
	st := MisuseState{User: user}
	var err error
	if st.Strikes, err = s.strikes(ctx, user); err != nil {
		return st, err
	}
	if st.Unfounded, err = s.unfounded(ctx, user); err != nil {
		return st, err
	}
	if st.NotifierWarned, st.NoticesBlocked, err = s.notifierMisuse(ctx, user); err != nil {
		return st, err
	}
	if !st.NoticesBlocked.After(s.now()) {
		st.NoticesBlocked = time.Time{}
	}
	var k int
	err = s.db.QueryRowContext(ctx, `SELECT count(*) FROM decisions WHERE user_id = ? AND automated = 1 AND action = ? AND lifted_at = 0 AND ends_at > ?`, user, ActionSuspend, ms(s.now())).Scan(&k)
	st.StrikeSuspended = k > 0
	return st, err
}
