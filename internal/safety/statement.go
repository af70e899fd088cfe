package safety

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"time"
)

// Statement is a decision's statement of reasons (Art. 17(3) DSA), as the
// affected user reads it.
type Statement struct {
	// Restriction is what was restricted, Scope where, Until how long (zero:
	// no end set: for a mute or a removal from the stage, the room's end).
	Restriction string    `json:"restriction"`
	Scope       string    `json:"scope"`
	Until       time.Time `json:"until,omitzero"`
	Facts       string    `json:"facts"`
	// Basis: "notice" (Art. 16, or a trusted flagger's) or "own_initiative".
	Basis string `json:"basis"`
	// Automated: the decision was taken by the Art. 23 rule (repeated
	// manifestly illegal content), not by a moderator; detection never is.
	Automated bool `json:"automated"`
	// Ground: "illegal" with the law, or "terms" with the clause; Explanation why.
	Ground      string    `json:"ground"`
	GroundRef   string    `json:"ground_reference"`
	Explanation string    `json:"explanation"`
	Redress     []Redress `json:"redress"`
}

// Redress is a route to contest the decision (Art. 17(3)(f)).
type Redress struct {
	Route string `json:"route"` // complaint, out_of_court_settlement, court
	How   string `json:"how"`
}

var restrictionText = map[string]string{
	ActionMute:            "Your microphone was muted on the stage of this room: the audience no longer hears you there.",
	ActionRemoveFromStage: "You were moved from the stage of this room to its audience.",
	ActionEndRoom:         "This room was ended.",
	ActionRemoveReplay:    "This room's replay was removed.",
	ActionRemoveClip:      "This clip was removed.",
	ActionSuspend:         "Your account was suspended.",
	ActionTerminate:       "Your account was terminated.",
}

// statementOf builds the statement of a restricting decision (nil otherwise).
func statementOf(d Decision) *Statement {
	if !Restricts(d.Action) {
		return nil
	}
	st := &Statement{Restriction: restrictionText[d.Action], Until: d.EndsAt, Facts: d.Facts, Basis: "notice", Automated: d.Automated,
		Ground: d.Ground, GroundRef: d.groundText(), Explanation: d.Explanation}
	if d.Source == SourceVoluntary {
		st.Basis = "own_initiative"
	}
	switch d.Action {
	case ActionMute, ActionRemoveFromStage, ActionEndRoom, ActionRemoveReplay:
		st.Scope = "room " + d.Room
	case ActionRemoveClip:
		st.Scope = "clip " + d.Clip
	default:
		st.Scope = "the whole service"
	}
	st.Redress = []Redress{
		{Route: "complaint", How: "POST /api/v1/safety/decisions/" + d.ID + "/complaints within 6 months of this statement (Art. 20 DSA); a moderator other than the one who decided answers it"},
		{Route: "out_of_court_settlement", How: "a dispute settlement body certified under Art. 21 DSA, whose decision is not binding on you"},
		{Route: "court", How: "the courts of your Member State, at any time, whatever the complaint or settlement"},
	}
	return st
}

// TDBStatement is a statement of reasons as the Transparency Database API
// v2 takes it (POST /api/v2/statement; batches of at most 100 on
// /api/v2/statements), with exactly its field names and values.
type TDBStatement struct {
	DecisionVisibility  []string `json:"decision_visibility,omitempty"`
	DecisionProvision   string   `json:"decision_provision,omitempty"`
	DecisionAccount     string   `json:"decision_account,omitempty"`
	AccountType         string   `json:"account_type,omitempty"`
	DecisionGround      string   `json:"decision_ground"`
	IllegalLegalGround  string   `json:"illegal_content_legal_ground,omitempty"`
	IllegalExplanation  string   `json:"illegal_content_explanation,omitempty"`
	IncompatibleGround  string   `json:"incompatible_content_ground,omitempty"`
	IncompatibleExplain string   `json:"incompatible_content_explanation,omitempty"`
	IncompatibleIllegal string   `json:"incompatible_content_illegal,omitempty"`
	ContentType         []string `json:"content_type"`
	Category            string   `json:"category"`
	TerritorialScope    []string `json:"territorial_scope"`
	ContentDate         string   `json:"content_date"`
	ApplicationDate     string   `json:"application_date"`
	EndDateAccount      *string  `json:"end_date_account_restriction"`
	EndDateService      *string  `json:"end_date_service_restriction"`
	EndDateVisibility   *string  `json:"end_date_visibility_restriction"`
	DecisionFacts       string   `json:"decision_facts"`
	SourceType          string   `json:"source_type"`
	AutomatedDetection  string   `json:"automated_detection"`
	AutomatedDecision   string   `json:"automated_decision"`
	PUID                string   `json:"puid"`
}

// The database's values this service uses.
const (
	tdbVisibilityRemoved  = "DECISION_VISIBILITY_CONTENT_REMOVED"
	tdbVisibilityDisabled = "DECISION_VISIBILITY_CONTENT_DISABLED"
	tdbProvisionPartial   = "DECISION_PROVISION_PARTIAL_SUSPENSION"
	tdbAccountSuspended   = "DECISION_ACCOUNT_SUSPENDED"
	tdbAccountTerminated  = "DECISION_ACCOUNT_TERMINATED"
	tdbGroundIllegal      = "DECISION_GROUND_ILLEGAL_CONTENT"
	tdbGroundIncompatible = "DECISION_GROUND_INCOMPATIBLE_CONTENT"
	tdbContentAudio       = "CONTENT_TYPE_AUDIO"
	tdbNotAutomated       = "AUTOMATED_DECISION_NOT_AUTOMATED"
	tdbFullyAutomated     = "AUTOMATED_DECISION_FULLY"
	tdbNo, tdbYes         = "No", "Yes"
	tdbDate               = "2006-01-02"
)

// TDB is the decision's Transparency Database statement; ok is false for
// decisions that restrict nothing (no action, a warning).
func (d Decision) TDB() (TDBStatement, bool) {
	if !Restricts(d.Action) {
		return TDBStatement{}, false
	}
	t := TDBStatement{ContentType: []string{tdbContentAudio}, Category: d.Category, TerritorialScope: d.Territory,
		ContentDate: d.ContentAt.UTC().Format(tdbDate), ApplicationDate: d.At.UTC().Format(tdbDate),
		DecisionFacts: d.Facts, SourceType: d.Source, AutomatedDetection: tdbNo, AutomatedDecision: tdbNotAutomated, PUID: d.PUID}
	if d.Automated {
		t.AutomatedDecision = tdbFullyAutomated
	}
	switch d.Action {
	case ActionMute, ActionRemoveFromStage:
		t.DecisionProvision = tdbProvisionPartial
	case ActionEndRoom:
		t.DecisionVisibility = []string{tdbVisibilityDisabled}
	case ActionRemoveReplay, ActionRemoveClip:
		t.DecisionVisibility = []string{tdbVisibilityRemoved}
	case ActionSuspend:
		t.DecisionAccount = tdbAccountSuspended
		end := d.EndsAt.UTC().Format(tdbDate)
		t.EndDateAccount = &end
	case ActionTerminate:
		t.DecisionAccount = tdbAccountTerminated
	}
	if d.Ground == GroundIllegal {
		t.DecisionGround, t.IllegalLegalGround, t.IllegalExplanation = tdbGroundIllegal, d.LegalGround, d.Explanation
	} else {
		t.DecisionGround, t.IncompatibleGround, t.IncompatibleExplain = tdbGroundIncompatible, d.TermsGround, d.Explanation
		t.IncompatibleIllegal = tdbNo
		if d.AlsoIllegal {
			t.IncompatibleIllegal = tdbYes
		}
	}
	return t, true
}

// MaxStatements bounds one export page.
const MaxStatements = 1000

// Statements exports the statements of reasons decided at or after since,
// oldest first, at most limit (≤ MaxStatements) of them, with the time of
// the last one (the next page's since is just after it). Moderators and
// admins.
func (s *Service) Statements(ctx context.Context, a Actor, since time.Time, limit int) ([]TDBStatement, time.Time, error) {
	if !a.moderator() {
		return nil, time.Time{}, ErrForbidden
	}
	return s.ExportStatements(ctx, since, limit)
}

// ExportStatements is Statements without the caller's check (majlis export statements).
func (s *Service) ExportStatements(ctx context.Context, since time.Time, limit int) ([]TDBStatement, time.Time, error) {
	if limit <= 0 || limit > MaxStatements {
		limit = MaxStatements
	}
	ds, err := s.decisions(ctx, `WHERE action IN (?, ?, ?, ?, ?, ?, ?) AND decided_at >= ? ORDER BY decided_at, id LIMIT ?`,
		ActionMute, ActionRemoveFromStage, ActionEndRoom, ActionRemoveReplay, ActionRemoveClip, ActionSuspend, ActionTerminate, ms(since), limit)
	if err != nil {
		return nil, time.Time{}, err
	}
	out := make([]TDBStatement, 0, len(ds))
	var last time.Time
	for _, d := range ds {
		t, _ := d.TDB()
		out = append(out, t)
		last = d.At
	}
	return out, last, nil
}

// ReadStatements exports statements from the safety database at path
// without a Service: a reader of its own (majlis export statements, while
// the server runs or not), which changes nothing.
func ReadStatements(ctx context.Context, path string, since time.Time, limit int) ([]TDBStatement, time.Time, error) {
	if _, err := os.Stat(path); err != nil {
		return nil, time.Time{}, fmt.Errorf("safety db: %w", err)
	}
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(5000)&_pragma=query_only(1)")
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("safety db: %w", err)
	}
	defer db.Close()
	s := &Service{db: db}
	return s.ExportStatements(ctx, since, limit)
}
