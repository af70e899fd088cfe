package safety

import (
	"context"
	"crypto/subtle"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"majlis/internal/audit"
)

// Complaint outcomes (Art. 20(4) DSA).
const (
	OutcomeUpheld   = "upheld"
	OutcomeReversed = "reversed" // the restriction is undone
	OutcomeModified = "modified" // replaced by another decision
)

// Limits of a complaint.
const (
	MinComplaint = 10
	MaxComplaint = 5000
)

// Complaint is a complaint about a decision and, once decided, its outcome.
type Complaint struct {
	ID          string    `json:"id"`
	Decision    string    `json:"decision"`
	Complainant string    `json:"complainant"`
	Text        string    `json:"text"`
	Created     time.Time `json:"created_at"`
	Outcome     string    `json:"outcome,omitempty"`
	OutcomeText string    `json:"outcome_explanation,omitempty"`
	DecidedBy   string    `json:"decided_by,omitempty"`
	DecidedAt   time.Time `json:"decided_at,omitzero"`
	// Replacement is the decision that replaced the original (OutcomeModified).
	Replacement string `json:"replacement,omitempty"`
}

// ComplaintWindow is when a complaint about d may no longer be made: six
// months from the day the user was told (the decision's time: the
// statement is published with the decision).
func ComplaintWindow(d Decision) time.Time { return d.At.AddDate(0, ComplaintMonth, 0) }

// DecideMargin is how long after the complaint window a removed replay or
// clip is still withheld rather than deleted: time to decide a complaint
// made on the window's last day.
const DecideMargin = 30 * 24 * time.Hour

// WithholdUntil is when a replay or clip removed by d is deleted, unless a
// complaint reversed d before.
func WithholdUntil(d Decision) time.Time { return ComplaintWindow(d).Add(DecideMargin) }

// Complain files a complaint about a decision: by its affected user, or
// by the notice's notifier when nothing was done (signed in as them, or
// with the notice's key), within six months of the decision.
func (s *Service) Complain(ctx context.Context, a Actor, decisionID, noticeKey, text string) (Complaint, error) {
	text = strings.TrimSpace(text)
	if err := checkText("bad_text", "text", text, MinComplaint, MaxComplaint, true); err != nil {
		return Complaint{}, err
	}
	d, err := s.decision(ctx, decisionID)
	if err != nil {
		return Complaint{}, err
	}
	complainant := ""
	switch {
	case a.signedIn() && a.ID == d.User:
		complainant = a.ID
	case d.Action == ActionNone && d.Notice != "":
		n, kh, err := s.notice(ctx, s.db, d.Notice)
		if err != nil {
			return Complaint{}, err
		}
		if a.signedIn() && n.Notifier == a.ID {
			complainant = a.ID
		} else if noticeKey != "" && subtle.ConstantTimeCompare([]byte(keyHash(noticeKey)), []byte(kh)) == 1 {
			complainant = "notice:" + n.ID
		}
	}
	if complainant == "" {
		if !a.signedIn() && noticeKey == "" {
			return Complaint{}, ErrUnauthorized
		}
		return Complaint{}, ErrNotComplainable
	}
	now := s.now()
	if !now.Before(ComplaintWindow(d)) {
		return Complaint{}, ErrWindowClosed
	}
	c := Complaint{ID: newID(), Decision: d.ID, Complainant: complainant, Text: text, Created: now}
	s.mu.Lock()
	defer s.mu.Unlock()
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return Complaint{}, err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `INSERT INTO complaints (id, decision, complainant, text, created_at) VALUES (?, ?, ?, ?, ?)`,
		c.ID, c.Decision, c.Complainant, c.Text, ms(c.Created)); err != nil {
		if strings.Contains(err.Error(), "UNIQUE") {
			return Complaint{}, ErrDuplicate
		}
		return Complaint{}, fmt.Errorf("store complaint: %w", err)
	}
	if err := s.record(ctx, audit.Entry{Actor: complainant, Action: "safety.complain", Target: "decision:" + d.ID, Room: d.Room,
		Detail: map[string]any{"complaint": c.ID}}); err != nil {
		return Complaint{}, err
	}
	return c, tx.Commit()
}

const complaintCols = `id, decision, complainant, text, created_at, outcome, outcome_text, decided_by, decided_at, replacement`

func scanComplaint(sc interface{ Scan(...any) error }) (Complaint, error) {
	var c Complaint
	var created, decided int64
	err := sc.Scan(&c.ID, &c.Decision, &c.Complainant, &c.Text, &created, &c.Outcome, &c.OutcomeText, &c.DecidedBy, &decided, &c.Replacement)
	c.Created, c.DecidedAt = fromMS(created), fromMS(decided)
	return c, err
}

func (s *Service) complaints(ctx context.Context, where string, args ...any) ([]Complaint, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+complaintCols+` FROM complaints `+where, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []Complaint{}
	for rows.Next() {
		c, err := scanComplaint(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

func (s *Service) complaint(ctx context.Context, id string) (Complaint, error) {
	c, err := scanComplaint(s.db.QueryRowContext(ctx, `SELECT `+complaintCols+` FROM complaints WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return Complaint{}, ErrComplaintNotFound
	}
	return c, err
}

// Complaint returns a complaint to its complainant (signed in) or a moderator.
func (s *Service) Complaint(ctx context.Context, a Actor, id string) (Complaint, error) {
	if !a.signedIn() {
		return Complaint{}, ErrUnauthorized
	}
	c, err := s.complaint(ctx, id)
	if err != nil {
		return Complaint{}, err
	}
	if !a.moderator() && c.Complainant != a.ID {
		return Complaint{}, ErrComplaintNotFound
	}
	if !a.moderator() {
		c.DecidedBy = ""
	}
	return c, nil
}

// Complaints lists the open complaints (moderators), oldest first, or with
// mine the signed-in user's own, newest first.
func (s *Service) Complaints(ctx context.Context, a Actor, mine bool) ([]Complaint, error) {
	if !a.signedIn() {
		return nil, ErrUnauthorized
	}
	if mine {
		cs, err := s.complaints(ctx, `WHERE complainant = ? ORDER BY created_at DESC LIMIT ?`, a.ID, queueMax)
		for i := range cs {
			cs[i].DecidedBy = ""
		}
		return cs, err
	}
	if !a.moderator() {
		return nil, ErrForbidden
	}
	return s.complaints(ctx, `WHERE outcome = '' ORDER BY created_at LIMIT ?`, queueMax)
}

// ComplaintOutcome is a moderator's answer to a complaint.
type ComplaintOutcome struct {
	Outcome     string
	Explanation string
	// Replacement is the new decision of a "modified" outcome (its ground
	// and facts; the room, user and clip default to the original's).
	Replacement *DecisionInput
}

// DecideComplaint answers a complaint: a moderator other than the one who
// made the decision. Reversed undoes the restriction; modified undoes it
// and applies the replacement decision in its place.
func (s *Service) DecideComplaint(ctx context.Context, a Actor, id string, out ComplaintOutcome) (Complaint, error) {
	if !a.moderator() {
		return Complaint{}, ErrForbidden
	}
	switch out.Outcome {
	case OutcomeUpheld, OutcomeReversed:
		if out.Replacement != nil {
			return Complaint{}, fieldErr("bad_outcome", "replacement", "only a modified outcome has a replacement decision")
		}
	case OutcomeModified:
		if out.Replacement == nil {
			return Complaint{}, fieldErr("bad_outcome", "replacement", "a modified outcome gives the replacement decision")
		}
	default:
		return Complaint{}, fieldErr("bad_outcome", "outcome", "outcome must be upheld, reversed or modified")
	}
	out.Explanation = strings.TrimSpace(out.Explanation)
	if err := checkText("bad_explanation", "explanation", out.Explanation, 1, MaxExplain, true); err != nil {
		return Complaint{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	c, err := s.complaint(ctx, id)
	if err != nil {
		return Complaint{}, err
	}
	if c.Outcome != "" {
		return Complaint{}, ErrComplaintDecided
	}
	d, err := s.decision(ctx, c.Decision)
	if err != nil {
		return Complaint{}, err
	}
	if d.Decider == a.ID {
		return Complaint{}, ErrSameDecider
	}
	if out.Outcome == OutcomeModified {
		r := *out.Replacement
		if r.Room == "" {
			r.Room = d.Room
		}
		if r.User == "" {
			r.User = d.User
		}
		if r.Clip == "" {
			r.Clip = d.Clip
		}
		if r.Category == "" {
			r.Category = d.Category
		}
		if err := r.validate(false); err != nil {
			return Complaint{}, err
		}
		if err := s.lift(ctx, a, d, "complaint "+c.ID+" modified"); err != nil {
			return Complaint{}, err
		}
		nd, err := s.decideLocked(ctx, a, nil, r, d.Source, d.ID)
		if err != nil {
			return Complaint{}, err
		}
		c.Replacement = nd.ID
		if n, _, err := s.notice(ctx, s.db, d.Notice); err == nil && n.Kind != KindClip {
			s.holdEvidence(ctx, n.Room, n.From, n.To, ComplaintWindow(nd).Add(24*time.Hour)) // the replacement's window
		}
	} else if out.Outcome == OutcomeReversed {
		if err := s.lift(ctx, a, d, "complaint "+c.ID+" reversed"); err != nil {
			return Complaint{}, err
		}
	}
	c.Outcome, c.OutcomeText, c.DecidedBy, c.DecidedAt = out.Outcome, out.Explanation, a.ID, s.now()
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return Complaint{}, err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `UPDATE complaints SET outcome = ?, outcome_text = ?, decided_by = ?, decided_at = ?, replacement = ? WHERE id = ?`,
		c.Outcome, c.OutcomeText, c.DecidedBy, ms(c.DecidedAt), c.Replacement, c.ID); err != nil {
		return Complaint{}, err
	}
	if err := s.record(ctx, audit.Entry{Actor: a.ID, Action: "safety.complaint_outcome", Target: "decision:" + d.ID, Room: d.Room, Reason: out.Explanation,
		Detail: map[string]any{"complaint": c.ID, "outcome": c.Outcome, "replacement": c.Replacement}}); err != nil {
		return Complaint{}, err
	}
	if err := tx.Commit(); err != nil {
		return Complaint{}, err
	}
	if out.Outcome != OutcomeUpheld && d.Room != "" && d.User != "" {
		s.cfg.Rooms.Notify(d.Room, "safety_complaint_outcome", map[string]any{"decision": d.ID, "user": d.User, "outcome": c.Outcome,
			"complaint": "/api/v1/safety/complaints/" + c.ID})
	}
	return c, nil
}
