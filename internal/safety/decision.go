package safety

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"majlis/internal/account"
	"majlis/internal/audit"
	"majlis/internal/recording"
	"majlis/internal/room"
)

// Decision actions.
const (
	ActionNone            = "none"
	ActionWarn            = "warn"
	ActionMute            = "mute"              // forced mute of a stage member in a room
	ActionRemoveFromStage = "remove_from_stage" // moved back to the audience
	ActionEndRoom         = "end_room"
	ActionRemoveReplay    = "remove_replay"
	ActionRemoveClip      = "remove_clip"
	ActionSuspend         = "suspend" // the account, for a Duration
	ActionTerminate       = "terminate"
)

// Grounds of a decision.
const (
	GroundIllegal = "illegal" // illegal content, under a law
	GroundTerms   = "terms"   // incompatible with the terms and conditions
)

// Sources of a decision (the database's source_type).
const (
	SourceArticle16      = "SOURCE_ARTICLE_16"
	SourceTrustedFlagger = "SOURCE_TRUSTED_FLAGGER"
	SourceVoluntary      = "SOURCE_VOLUNTARY"
)

// Limits of a decision's fields.
const (
	MinSuspension  = time.Hour
	MaxSuspension  = 365 * 24 * time.Hour
	MaxGround      = 500  // legal or terms ground (the database's limit)
	MaxExplain     = 2000 // the ground's explanation (the database's limit)
	MaxFacts       = 5000 // decision_facts (the database's limit)
	ComplaintMonth = 6    // months a complaint may be made, from the day the user was told
)

// DecisionInput is a moderator's decision.
type DecisionInput struct {
	Action string
	// Room, User and Clip say what it acts on; a notice's fill in those left empty.
	Room, User, Clip string
	Duration         time.Duration // ActionSuspend only
	// Category (STATEMENT_CATEGORY_*): required on own initiative, the notice's otherwise.
	Category string
	Ground   string
	// LegalGround names the law (GroundIllegal); TermsGround the clause of the terms (GroundTerms).
	LegalGround, TermsGround string
	Explanation              string
	AlsoIllegal              bool   // GroundTerms: the content is considered illegal too
	Facts                    string // the facts and circumstances, without personal data
	Territory                []string
	// Offset is seconds into the room of the content (own initiative); a notice's From otherwise.
	Offset float64
	// Manifest marks a restriction of manifestly illegal content (ground
	// illegal), or a decision to do nothing about a manifestly unfounded
	// notice: both count towards Art. 23's misuse rules.
	Manifest bool

	automated bool // taken by the Art. 23 rule itself
}

// Decision is a decision as stored, with its statement of reasons.
type Decision struct {
	ID          string    `json:"id"`
	PUID        string    `json:"puid"`
	Notice      string    `json:"notice,omitempty"`
	Action      string    `json:"action"`
	Room        string    `json:"room,omitempty"`
	User        string    `json:"user,omitempty"`
	Clip        string    `json:"clip,omitempty"`
	EndsAt      time.Time `json:"ends_at,omitzero"`
	Category    string    `json:"category"`
	Ground      string    `json:"ground"`
	LegalGround string    `json:"legal_ground,omitempty"`
	TermsGround string    `json:"terms_ground,omitempty"`
	Explanation string    `json:"explanation"`
	AlsoIllegal bool      `json:"also_illegal"`
	Facts       string    `json:"facts"`
	Territory   []string  `json:"territorial_scope"`
	Source      string    `json:"source"`
	ContentAt   time.Time `json:"content_at"`
	Decider     string    `json:"decider,omitempty"`
	At          time.Time `json:"decided_at"`
	LiftedAt    time.Time `json:"lifted_at,omitzero"`
	LiftedWhy   string    `json:"lifted_why,omitempty"`
	Replaces    string    `json:"replaces,omitempty"` // a complaint's "modified" outcome replaced that decision
	Manifest    bool      `json:"manifest"`
	Automated   bool      `json:"automated"` // taken by the Art. 23 rule, not by a moderator
	// Statement is the statement of reasons (Art. 17), for restrictions.
	Statement *Statement `json:"statement_of_reasons,omitempty"`
}

// Restricts says whether the action restricts anything (and so has a
// statement of reasons).
func Restricts(action string) bool {
	switch action {
	case ActionMute, ActionRemoveFromStage, ActionEndRoom, ActionRemoveReplay, ActionRemoveClip, ActionSuspend, ActionTerminate:
		return true
	}
	return false
}

func validAction(a string) bool { return Restricts(a) || a == ActionNone || a == ActionWarn }

// forUser is the decision as its affected user (or a complainant) sees
// it: without the moderator's identity.
func (d Decision) forUser() Decision {
	d.Decider = ""
	return d
}

// forNotifier is what the notifier is told: what was decided, on what
// ground, and the redress; not whom it concerns nor who decided.
func (d Decision) forNotifier() Decision {
	d.Decider, d.User, d.Facts = "", "", ""
	return d
}

func (in *DecisionInput) validate(own bool) error {
	if !validAction(in.Action) {
		return fieldErr("bad_action", "action", "action must be none, warn, mute, remove_from_stage, end_room, remove_replay, remove_clip, suspend or terminate")
	}
	if own && in.Action == ActionNone {
		return fieldErr("bad_action", "action", "a decision on own initiative does something: none needs a notice")
	}
	if in.Action == ActionSuspend {
		if in.Duration < MinSuspension || in.Duration > MaxSuspension {
			return fieldErr("bad_duration", "duration_s", "a suspension lasts from one hour to 365 days")
		}
	} else if in.Duration != 0 {
		return fieldErr("bad_duration", "duration_s", "only a suspension has a duration")
	}
	if (own || in.Category != "") && !ValidCategory(in.Category) {
		return fieldErr("bad_category", "category", "category must be one of the Transparency Database's STATEMENT_CATEGORY_* values")
	}
	in.LegalGround, in.TermsGround = strings.TrimSpace(in.LegalGround), strings.TrimSpace(in.TermsGround)
	in.Explanation, in.Facts = strings.TrimSpace(in.Explanation), strings.TrimSpace(in.Facts)
	switch in.Ground {
	case GroundIllegal:
		if err := checkText("bad_ground", "legal_ground", in.LegalGround, 1, MaxGround, false); err != nil {
			return err
		}
		if in.TermsGround != "" || in.AlsoIllegal {
			return fieldErr("bad_ground", "terms_ground", "terms_ground and also_illegal are for the terms ground")
		}
	case GroundTerms:
		if err := checkText("bad_ground", "terms_ground", in.TermsGround, 1, MaxGround, false); err != nil {
			return err
		}
		if in.LegalGround != "" {
			return fieldErr("bad_ground", "legal_ground", "legal_ground is for the illegal ground")
		}
	default:
		return fieldErr("bad_ground", "ground", "ground must be illegal or terms")
	}
	if err := checkText("bad_explanation", "explanation", in.Explanation, 1, MaxExplain, true); err != nil {
		return err
	}
	if err := checkText("bad_facts", "facts", in.Facts, 1, MaxFacts, true); err != nil {
		return err
	}
	if len(in.Territory) > len(TerritorialEEA) {
		return fieldErr("bad_territory", "territorial_scope", "territorial_scope lists European country codes")
	}
	seen := map[string]bool{}
	for _, c := range in.Territory {
		if !validCountry(c) || seen[c] {
			return fieldErr("bad_territory", "territorial_scope", "territorial_scope lists distinct European country codes (AT, BE, … SK)")
		}
		seen[c] = true
	}
	if in.Manifest && !(in.Action == ActionNone || Restricts(in.Action) && in.Ground == GroundIllegal) {
		return fieldErr("bad_manifest", "manifest", "manifest marks a restriction of manifestly illegal content (ground illegal) or a manifestly unfounded notice (action none)")
	}
	if in.Offset < 0 || in.Offset > MaxOffset.Seconds() || in.Offset != in.Offset {
		return fieldErr("bad_offset", "offset_s", "offset_s must be seconds from 0 to 604800")
	}
	return nil
}

// Decide decides a notice: it acts at once through the domains, stores
// the decision with its statement of reasons, closes the notice and tells
// the room's members (an event) when it concerns one.
func (s *Service) Decide(ctx context.Context, a Actor, noticeID string, in DecisionInput) (Decision, error) {
	if !a.moderator() {
		return Decision{}, ErrForbidden
	}
	if err := in.validate(false); err != nil {
		return Decision{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	n, _, err := s.notice(ctx, s.db, noticeID)
	if err != nil {
		return Decision{}, err
	}
	switch {
	case n.State == NoticeDecided:
		return Decision{}, ErrDecided
	case n.State == NoticeClaimed && n.ClaimedBy != a.ID && !a.admin():
		return Decision{}, ErrClaimed
	}
	if in.Room == "" {
		in.Room = n.Room
	}
	if in.User == "" {
		in.User = n.Speaker
	}
	if in.Clip == "" {
		in.Clip = n.Clip
	}
	if in.Category == "" {
		in.Category = n.Category
	}
	if in.Offset == 0 {
		in.Offset = n.From
	}
	src := SourceArticle16
	if n.Trusted {
		src = SourceTrustedFlagger
	}
	return s.decideLocked(ctx, a, &n, in, src, "")
}

// DecideOwn is a decision on the moderator's own initiative (no notice).
func (s *Service) DecideOwn(ctx context.Context, a Actor, in DecisionInput) (Decision, error) {
	if !a.moderator() {
		return Decision{}, ErrForbidden
	}
	if err := in.validate(true); err != nil {
		return Decision{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.decideLocked(ctx, a, nil, in, SourceVoluntary, "")
}

// resolve fills in what the action acts on and whom it affects, and
// returns the room and the affected user's name.
func (s *Service) resolve(ctx context.Context, a Actor, in *DecisionInput) (room.Info, string, error) {
	var ri room.Info
	switch in.Action {
	case ActionRemoveClip:
		if in.Clip == "" {
			return ri, "", fieldErr("bad_clip", "clip", "remove_clip names the clip")
		}
		if s.cfg.Recordings == nil {
			return ri, "", fieldErr("bad_clip", "clip", "this server keeps no clips")
		}
		c, err := s.cfg.Recordings.ClipInfo(in.Clip)
		if err != nil {
			return ri, "", err
		}
		in.Room, in.User = c.Room, c.By
	case ActionSuspend, ActionTerminate, ActionWarn:
		if in.User == "" {
			return ri, "", fieldErr("bad_user", "user", in.Action+" names the user")
		}
	case ActionMute, ActionRemoveFromStage:
		if in.User == "" || in.Room == "" {
			return ri, "", fieldErr("bad_user", "user", in.Action+" names the room and the user")
		}
	case ActionEndRoom, ActionRemoveReplay:
		if in.Room == "" {
			return ri, "", fieldErr("bad_room", "room", in.Action+" names the room")
		}
		if in.Action == ActionRemoveReplay && s.cfg.Recordings == nil {
			return ri, "", fieldErr("bad_room", "room", "this server keeps no replays")
		}
	}
	if in.Room != "" {
		var err error
		if ri, err = s.cfg.Rooms.Peek(ctx, in.Room); err != nil {
			return ri, "", err
		}
		if in.Action == ActionEndRoom || in.Action == ActionRemoveReplay {
			in.User = ri.Host
		}
	}
	if in.User != "" {
		if in.User == a.ID {
			return ri, "", fieldErr("bad_user", "user", "a moderator does not decide about themselves")
		}
		u, err := s.cfg.Accounts.User(ctx, in.User)
		if err != nil {
			return ri, "", err
		}
		return ri, u.Name, nil
	}
	return ri, "", nil
}

// The platform's decision acts with the platform's authority: in a room,
// with the rank of an admin (a host may be muted); on accounts, as the
// admin role (a moderator's suspension is a platform decision).
func roomActor(a Actor) room.Actor { return room.Actor{ID: a.ID, Platform: room.PlatformAdmin} }
func accountActor(a Actor) account.Principal {
	return account.Principal{ID: a.ID, Role: account.RoleAdmin}
}

// act applies a decision's restriction.
func (s *Service) act(ctx context.Context, a Actor, d *Decision) error {
	switch d.Action {
	case ActionMute:
		return s.cfg.Rooms.Mute(ctx, roomActor(a), d.Room, d.User, true)
	case ActionRemoveFromStage:
		return s.cfg.Rooms.ToAudience(ctx, roomActor(a), d.Room, d.User)
	case ActionEndRoom:
		_, err := s.cfg.Rooms.End(ctx, roomActor(a), d.Room)
		return err
	case ActionRemoveReplay:
		return s.cfg.Recordings.Withhold(d.Room, "safety decision "+d.ID, WithholdUntil(*d))
	case ActionRemoveClip:
		return s.cfg.Recordings.WithholdClip(d.Clip, "safety decision "+d.ID, WithholdUntil(*d))
	case ActionSuspend, ActionTerminate:
		_, err := s.cfg.Accounts.SetSafetySuspended(ctx, accountActor(a), d.User, true)
		return err
	}
	return nil
}

// undo lifts a decision's restriction where it can be lifted (a mute, a
// removal from the stage while the room is live, a withheld replay or
// clip, a suspension); a room ended stays so, and so does a replay or clip
// deleted since. It says whether anything was undone.
func (s *Service) undo(ctx context.Context, a Actor, d Decision) (bool, error) {
	switch d.Action {
	case ActionMute:
		err := s.cfg.Rooms.Mute(ctx, roomActor(a), d.Room, d.User, false)
		if errors.Is(err, room.ErrEnded) || errors.Is(err, room.ErrBadTarget) {
			return false, nil // the room ended, or they left the stage: nothing to unmute
		}
		return err == nil, err
	case ActionRemoveFromStage:
		// Back on the stage as a speaker (a co-host's role is the host's to
		// give again), as an invitation: they may publish at once or leave.
		err := s.cfg.Rooms.Invite(ctx, roomActor(a), d.Room, d.User)
		if errors.Is(err, room.ErrEnded) || errors.Is(err, room.ErrNotLive) || errors.Is(err, room.ErrAlreadyOnStage) ||
			errors.Is(err, room.ErrStageFull) || errors.Is(err, room.ErrBlocked) {
			return false, nil // the room is over, they are back already, no seat is free, or the host blocked them since
		}
		return err == nil, err
	case ActionRemoveReplay:
		err := s.cfg.Recordings.Restore(d.Room)
		if errors.Is(err, recording.ErrDeleted) || errors.Is(err, recording.ErrNotFound) {
			return false, nil // deleted since (by its host, or its withholding ran out)
		}
		return err == nil, err
	case ActionRemoveClip:
		err := s.cfg.Recordings.RestoreClip(d.Clip)
		if errors.Is(err, recording.ErrClipNotFound) {
			return false, nil
		}
		return err == nil, err
	case ActionSuspend, ActionTerminate:
		if others, err := s.otherSuspensions(ctx, d); err != nil || others {
			return false, err
		}
		_, err := s.cfg.Accounts.SetSafetySuspended(ctx, accountActor(a), d.User, false)
		return err == nil, err
	}
	return false, nil
}

// otherSuspensions says whether another suspension of d's user is in force.
func (s *Service) otherSuspensions(ctx context.Context, d Decision) (bool, error) {
	var n int
	err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM decisions WHERE user_id = ? AND id != ? AND lifted_at = 0 AND (action = ? OR (action = ? AND ends_at > ?))`,
		d.User, d.ID, ActionTerminate, ActionSuspend, ms(s.now())).Scan(&n)
	return n > 0, err
}

func (s *Service) decideLocked(ctx context.Context, a Actor, n *Notice, in DecisionInput, source, replaces string) (Decision, error) {
	ri, name, err := s.resolve(ctx, a, &in)
	if err != nil {
		return Decision{}, err
	}
	if err := checkFacts(in.Facts, in.User, name); err != nil {
		return Decision{}, err
	}
	now := s.now()
	d := Decision{ID: newID(), Action: in.Action, Room: in.Room, User: in.User, Clip: in.Clip, Category: in.Category,
		Ground: in.Ground, LegalGround: in.LegalGround, TermsGround: in.TermsGround, Explanation: in.Explanation,
		AlsoIllegal: in.AlsoIllegal, Facts: in.Facts, Territory: in.Territory, Source: source, Decider: a.ID, At: now, Replaces: replaces,
		Manifest: in.Manifest, Automated: in.automated}
	d.PUID = "majlis-" + d.ID
	if len(d.Territory) == 0 {
		d.Territory = TerritorialEEA
	}
	if n != nil {
		d.Notice = n.ID
	}
	if in.Action == ActionSuspend {
		d.EndsAt = now.Add(in.Duration)
	}
	d.ContentAt = now
	if !ri.StartedAt.IsZero() {
		d.ContentAt = ri.StartedAt.Add(time.Duration(in.Offset * float64(time.Second))).UTC().Truncate(time.Millisecond)
		if d.ContentAt.After(now) {
			d.ContentAt = now
		}
	} else if !ri.CreatedAt.IsZero() {
		d.ContentAt = ri.CreatedAt
	}
	if err := s.act(ctx, a, &d); err != nil {
		return Decision{}, err
	}
	if err := s.storeDecision(ctx, a, n, d); err != nil {
		if _, uerr := s.undo(ctx, a, d); uerr != nil {
			s.log.Error("safety: undo a decision not stored", "decision", d.ID, "err", uerr)
		}
		return Decision{}, err
	}
	d.Statement = statementOf(d)
	s.tell(d)
	if n != nil && n.Kind != KindClip {
		// The evidence stays until the complaint window on the decision closes.
		s.holdEvidence(ctx, n.Room, n.From, n.To, ComplaintWindow(d).Add(24*time.Hour))
	}
	s.misuseLocked(ctx, d, n)
	return d, nil
}

func (s *Service) storeDecision(ctx context.Context, a Actor, n *Notice, d Decision) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	_, err = tx.ExecContext(ctx, `INSERT INTO decisions (id, puid, notice, action, room, user_id, clip, ends_at, category, ground, legal_ground, terms_ground, explanation, also_illegal, facts, territory, source, content_at, decider, decided_at, replaces, manifest, automated)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		d.ID, d.PUID, d.Notice, d.Action, d.Room, d.User, d.Clip, ms(d.EndsAt), d.Category, d.Ground, d.LegalGround, d.TermsGround, d.Explanation,
		d.AlsoIllegal, d.Facts, strings.Join(d.Territory, ","), d.Source, ms(d.ContentAt), d.Decider, ms(d.At), d.Replaces, d.Manifest, d.Automated)
	if err != nil {
		return fmt.Errorf("store decision: %w", err)
	}
	if n != nil {
		if _, err := tx.ExecContext(ctx, `UPDATE notices SET state = ?, decision = ? WHERE id = ?`, NoticeDecided, d.ID, n.ID); err != nil {
			return fmt.Errorf("store decision: %w", err)
		}
	}
	detail := map[string]any{"decision": d.ID, "action": d.Action, "ground": d.Ground, "source": d.Source, "category": d.Category, "manifest": d.Manifest, "automated": d.Automated}
	if d.Notice != "" {
		detail["notice"] = d.Notice
	}
	if !d.EndsAt.IsZero() {
		detail["ends_at"] = d.EndsAt
	}
	target := "decision:" + d.ID
	if d.User != "" {
		target = "user:" + d.User
	}
	if err := s.record(ctx, audit.Entry{Actor: a.ID, Action: "safety.decide", Target: target, Room: d.Room, Reason: d.groundText(), Detail: detail}); err != nil {
		return err
	}
	return tx.Commit()
}

// tell publishes the decision to the room's event stream when it concerns
// a member of a room: the event names the decision, the member and the
// restriction; the member reads the statement itself at its URL.
func (s *Service) tell(d Decision) {
	if d.Room == "" || d.User == "" || d.Action == ActionNone {
		return
	}
	s.cfg.Rooms.Notify(d.Room, "safety_decision", map[string]any{"decision": d.ID, "user": d.User, "action": d.Action,
		"statement": "/api/v1/safety/decisions/" + d.ID})
}

func (d Decision) groundText() string {
	if d.Ground == GroundIllegal {
		return d.LegalGround
	}
	return d.TermsGround
}

const decisionCols = `id, puid, notice, action, room, user_id, clip, ends_at, category, ground, legal_ground, terms_ground, explanation, also_illegal, facts, territory, source, content_at, decider, decided_at, lifted_at, lifted_why, replaces, manifest, automated`

func scanDecision(sc interface{ Scan(...any) error }) (Decision, error) {
	var d Decision
	var ends, content, at, lifted int64
	var terr string
	err := sc.Scan(&d.ID, &d.PUID, &d.Notice, &d.Action, &d.Room, &d.User, &d.Clip, &ends, &d.Category, &d.Ground, &d.LegalGround, &d.TermsGround,
		&d.Explanation, &d.AlsoIllegal, &d.Facts, &terr, &d.Source, &content, &d.Decider, &at, &lifted, &d.LiftedWhy, &d.Replaces, &d.Manifest, &d.Automated)
	d.EndsAt, d.ContentAt, d.At, d.LiftedAt = fromMS(ends), fromMS(content), fromMS(at), fromMS(lifted)
	d.Territory = strings.Split(terr, ",")
	d.Statement = statementOf(d)
	return d, err
}

func (s *Service) decision(ctx context.Context, id string) (Decision, error) {
	d, err := scanDecision(s.db.QueryRowContext(ctx, `SELECT `+decisionCols+` FROM decisions WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return Decision{}, ErrDecisionNotFound
	}
	return d, err
}

func (s *Service) decisions(ctx context.Context, where string, args ...any) ([]Decision, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+decisionCols+` FROM decisions `+where, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []Decision{}
	for rows.Next() {
		d, err := scanDecision(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

// Decision returns a decision: to moderators in full, to its affected user
// without the decider, to the notice's notifier as forNotifier.
func (s *Service) Decision(ctx context.Context, a Actor, id string) (Decision, error) {
	if !a.signedIn() {
		return Decision{}, ErrUnauthorized
	}
	d, err := s.decision(ctx, id)
	if err != nil {
		return Decision{}, err
	}
	switch {
	case a.moderator():
		return d, nil
	case a.ID == d.User:
		return d.forUser(), nil
	}
	if d.Notice != "" {
		n, _, err := s.notice(ctx, s.db, d.Notice)
		if err == nil && n.Notifier == a.ID {
			return d.forNotifier(), nil
		}
	}
	return Decision{}, ErrDecisionNotFound
}

// MyDecisions lists the decisions about the signed-in user, newest first.
func (s *Service) MyDecisions(ctx context.Context, a Actor) ([]Decision, error) {
	if !a.signedIn() {
		return nil, ErrUnauthorized
	}
	ds, err := s.decisions(ctx, `WHERE user_id = ? ORDER BY decided_at DESC, rowid DESC LIMIT ?`, a.ID, queueMax)
	for i := range ds {
		ds[i] = ds[i].forUser()
	}
	return ds, err
}

// Decisions lists recent decisions for moderators, newest first.
func (s *Service) Decisions(ctx context.Context, a Actor) ([]Decision, error) {
	if !a.moderator() {
		return nil, ErrForbidden
	}
	return s.decisions(ctx, `ORDER BY decided_at DESC, rowid DESC LIMIT ?`, queueMax)
}

// lift marks a decision lifted (why) after undoing its restriction.
func (s *Service) lift(ctx context.Context, a Actor, d Decision, why string) error {
	if _, err := s.undo(ctx, a, d); err != nil {
		return err
	}
	_, err := s.db.ExecContext(ctx, `UPDATE decisions SET lifted_at = ?, lifted_why = ? WHERE id = ? AND lifted_at = 0`, ms(s.now()), why, d.ID)
	return err
}

// LiftExpired lifts the suspensions whose time is up (the sweeper calls it).
func (s *Service) LiftExpired(ctx context.Context) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ds, err := s.decisions(ctx, `WHERE action = ? AND lifted_at = 0 AND ends_at <= ?`, ActionSuspend, ms(s.now()))
	if err != nil {
		s.log.Error("safety: expired suspensions", "err", err)
		return
	}
	sys := Actor{ID: "system", Role: account.RoleAdmin}
	for _, d := range ds {
		if err := s.record(ctx, audit.Entry{Actor: sys.ID, Action: "safety.lift", Target: "user:" + d.User, Reason: "suspension ended", Detail: map[string]any{"decision": d.ID}}); err != nil {
			s.log.Error("safety: lift suspension", "decision", d.ID, "err", err)
			continue
		}
		if err := s.lift(ctx, sys, d, "expired"); err != nil {
			s.log.Error("safety: lift suspension", "decision", d.ID, "err", err)
		}
	}
}
