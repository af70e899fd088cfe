package safety

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Report is the transparency report's counts for a period (Art. 15 and
// 24 DSA): what came in, what was decided and how, what was contested.
// It holds no personal data.
type Report struct {
	From time.Time `json:"from"`
	To   time.Time `json:"to"`

	Notices           int            `json:"notices"`
	NoticesByCategory map[string]int `json:"notices_by_category"`
	NoticesBySource   map[string]int `json:"notices_by_source"` // SOURCE_ARTICLE_16, SOURCE_TRUSTED_FLAGGER
	// MedianDecisionS is the median time from a notice to its decision,
	// of the notices decided in the period (seconds; 0 with none).
	MedianDecisionS float64 `json:"median_time_to_decision_s"`

	Decisions          int            `json:"decisions"`
	DecisionsByAction  map[string]int `json:"decisions_by_action"`
	DecisionsByGround  map[string]int `json:"decisions_by_ground"`
	OwnInitiative      int            `json:"decisions_own_initiative"`
	OnNotice           int            `json:"decisions_on_notice"`
	AutomatedDecisions int            `json:"decisions_automated"`
	AutomatedDetection int            `json:"detections_automated"` // always 0: nothing is detected automatically

	Complaints          int            `json:"complaints"`
	ComplaintsByOutcome map[string]int `json:"complaints_by_outcome"` // upheld, reversed, modified, open
	MedianComplaintS    float64        `json:"median_time_to_complaint_outcome_s"`
	Reversals           int            `json:"reversals"`

	// Art. 23: suspensions by the strike rule, and notifiers whose notices were suspended.
	StrikeSuspensions  int `json:"art23_account_suspensions"`
	NoticeSuspensions  int `json:"art23_notice_suspensions"`
	StrikeWarnings     int `json:"art23_warnings"`
	TrustedFlaggersNow int `json:"trusted_flaggers"`

	// The cross-tabulations the Implementing Regulation (EU) 2024/2835
	// template asks for (WriteCSV lays them out), sorted.
	NoticeCells    []NoticeCell    `json:"notice_cells"`
	DecisionCells  []DecisionCell  `json:"decision_cells"`
	ComplaintCells []ComplaintCell `json:"complaint_cells"`

	// Complete is false while the period has not ended (the counts go on).
	Complete bool `json:"complete"`
}

// NoticeCell counts a period's notices of one category from one source.
type NoticeCell struct {
	Category string `json:"category"`
	Source   string `json:"source"` // SOURCE_ARTICLE_16, SOURCE_TRUSTED_FLAGGER
	Count    int    `json:"count"`
}

// DecisionCell counts a period's decisions alike in what the template tells apart.
type DecisionCell struct {
	OnNotice    bool   `json:"on_notice"` // false: own initiative
	Source      string `json:"source"`
	Category    string `json:"category"`
	Ground      string `json:"ground"`      // illegal, terms
	Restriction string `json:"restriction"` // Restriction(action); "" restricts nothing
	Action      string `json:"action"`
	Automated   bool   `json:"automated"`
	Count       int    `json:"count"`
}

// ComplaintCell counts a period's complaints by what they contest and how they ended.
type ComplaintCell struct {
	Against string `json:"against"` // restriction, no_action
	Outcome string `json:"outcome"` // upheld, reversed, modified, open
	Count   int    `json:"count"`
}

// The kinds of restriction of Art. 17(1) DSA (its points a to d).
const (
	RestrictVisibility = "visibility" // removal of, or disabled access to, the content
	RestrictMonetary   = "monetary"   // majlis has no payments: never used
	RestrictProvision  = "provision"  // the service suspended or ended in part
	RestrictAccount    = "account"    // the account suspended or terminated
)

// Restriction is the kind of restriction an action is, "" for none (no
// action, a warning); it matches the statement's decision_* field (TDB).
func Restriction(action string) string {
	switch action {
	case ActionEndRoom, ActionRemoveReplay, ActionRemoveClip:
		return RestrictVisibility
	case ActionMute, ActionRemoveFromStage:
		return RestrictProvision
	case ActionSuspend, ActionTerminate:
		return RestrictAccount
	}
	return ""
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	slices.Sort(xs)
	if n := len(xs); n%2 == 1 {
		return xs[n/2]
	}
	return (xs[len(xs)/2-1] + xs[len(xs)/2]) / 2
}

// TransparencyReport counts the period [from, to) (moderators and admins:
// it reads every decision of the period; a public page would serve a copy).
func (s *Service) TransparencyReport(ctx context.Context, a Actor, from, to time.Time) (Report, error) {
	if !a.moderator() {
		return Report{}, ErrForbidden
	}
	return s.report(ctx, from, to)
}

func (s *Service) report(ctx context.Context, from, to time.Time) (Report, error) {
	r := Report{From: from.UTC(), To: to.UTC(), NoticesByCategory: map[string]int{}, NoticesBySource: map[string]int{},
		DecisionsByAction: map[string]int{}, DecisionsByGround: map[string]int{}, ComplaintsByOutcome: map[string]int{},
		Complete: !s.now().Before(to)}
	notices := map[NoticeCell]int{}
	decided := map[DecisionCell]int{}
	complained := map[ComplaintCell]int{}
	f, t := ms(from), ms(to)
	rows, err := s.db.QueryContext(ctx, `SELECT category, trusted, COUNT(*) FROM notices WHERE created_at >= ? AND created_at < ? GROUP BY category, trusted`, f, t)
	if err != nil {
		return r, err
	}
	for rows.Next() {
		var cat string
		var trusted bool
		var n int
		if err := rows.Scan(&cat, &trusted, &n); err != nil {
			rows.Close()
			return r, err
		}
		r.Notices += n
		r.NoticesByCategory[cat] += n
		src := SourceArticle16
		if trusted {
			src = SourceTrustedFlagger
		}
		r.NoticesBySource[src] += n
		notices[NoticeCell{Category: cat, Source: src}] += n
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return r, err
	}
	ds, err := s.decisions(ctx, `WHERE decided_at >= ? AND decided_at < ?`, f, t)
	if err != nil {
		return r, err
	}
	var waits []float64
	for _, d := range ds {
		r.Decisions++
		r.DecisionsByAction[d.Action]++
		r.DecisionsByGround[d.Ground]++
		decided[DecisionCell{OnNotice: d.Notice != "", Source: d.Source, Category: d.Category, Ground: d.Ground,
			Restriction: Restriction(d.Action), Action: d.Action, Automated: d.Automated}]++
		if d.Source == SourceVoluntary {
			r.OwnInitiative++
		} else {
			r.OnNotice++
		}
		if d.Automated {
			r.AutomatedDecisions++
			switch d.Action {
			case ActionSuspend:
				r.StrikeSuspensions++
			case ActionWarn:
				r.StrikeWarnings++
			}
		}
		if d.Notice != "" {
			if n, _, err := s.notice(ctx, s.db, d.Notice); err == nil {
				waits = append(waits, d.At.Sub(n.Created).Seconds())
			}
		}
	}
	r.MedianDecisionS = median(waits)
	cs, err := s.complaints(ctx, `WHERE created_at >= ? AND created_at < ?`, f, t)
	if err != nil {
		return r, err
	}
	var answers []float64
	for _, c := range cs {
		r.Complaints++
		o := c.Outcome
		if o == "" {
			o = "open"
		} else {
			answers = append(answers, c.DecidedAt.Sub(c.Created).Seconds())
		}
		r.ComplaintsByOutcome[o]++
		against := "restriction"
		var action string
		if err := s.db.QueryRowContext(ctx, `SELECT action FROM decisions WHERE id = ?`, c.Decision).Scan(&action); err != nil {
			return r, err
		}
		if action == ActionNone {
			against = "no_action"
		}
		complained[ComplaintCell{Against: against, Outcome: o}]++
		if c.Outcome == OutcomeReversed || c.Outcome == OutcomeModified {
			r.Reversals++
		}
	}
	r.MedianComplaintS = median(answers)
	// A notice suspension starts NoticeSuspension before it ends.
	if err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM notifier_misuse WHERE suspended_until - ? >= ? AND suspended_until - ? < ?`,
		s.cfg.Misuse.NoticeSuspension.Milliseconds(), f, s.cfg.Misuse.NoticeSuspension.Milliseconds(), t).Scan(&r.NoticeSuspensions); err != nil {
		return r, err
	}
	r.NoticeCells = cells(notices, func(c *NoticeCell, n int) { c.Count = n })
	r.DecisionCells = cells(decided, func(c *DecisionCell, n int) { c.Count = n })
	r.ComplaintCells = cells(complained, func(c *ComplaintCell, n int) { c.Count = n })
	err = s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM trusted_flaggers`).Scan(&r.TrustedFlaggersNow)
	return r, err
}

// cells turns counted keys into a slice with their counts, in a stable order.
func cells[C comparable](m map[C]int, count func(*C, int)) []C {
	out := make([]C, 0, len(m))
	for c, n := range m {
		count(&c, n)
		out = append(out, c)
	}
	slices.SortFunc(out, func(a, b C) int { return strings.Compare(fmt.Sprint(a), fmt.Sprint(b)) })
	return out
}
