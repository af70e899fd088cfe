package safety

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"majlis/internal/account"
	"majlis/internal/recording"
	"majlis/internal/room"
)

func codeOf(err error) string {
	var fe *FieldError
	if errors.As(err, &fe) {
		return fe.Code
	}
	return ""
}

func TestNoticeValidation(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	long := strings.Repeat("x", MaxExplanation+1)
	cases := []struct {
		name string
		edit func(*NoticeInput)
		code string
		err  error
	}{
		{"valid", func(*NoticeInput) {}, "", nil},
		{"kind", func(n *NoticeInput) { n.Kind = "song" }, "bad_kind", nil},
		{"no room", func(n *NoticeInput) { n.Room = "" }, "bad_room", nil},
		{"unknown room", func(n *NoticeInput) { n.Room = "nope" }, "", room.ErrRoomNotFound},
		{"speaker missing", func(n *NoticeInput) { n.Speaker = "" }, "bad_speaker", nil},
		{"unknown speaker", func(n *NoticeInput) { n.Speaker = "ghost" }, "", account.ErrUserNotFound},
		{"no offset", func(n *NoticeInput) { n.From = nil }, "bad_offset", nil},
		{"negative offset", func(n *NoticeInput) { n.From = f64(-1) }, "bad_offset", nil},
		{"offset too far", func(n *NoticeInput) { n.From, n.To = f64(8*24*3600), nil }, "bad_offset", nil},
		{"range backwards", func(n *NoticeInput) { n.To = f64(90) }, "bad_offset", nil},
		{"range too long", func(n *NoticeInput) { n.To = f64(95 + 3601) }, "bad_offset", nil},
		{"category", func(n *NoticeInput) { n.Category = "STATEMENT_CATEGORY_RUDE" }, "bad_category", nil},
		{"illegal without law", func(n *NoticeInput) { n.Law = " " }, "bad_law", nil},
		{"law on terms notice", func(n *NoticeInput) { n.Illegal = false }, "bad_law", nil},
		{"law too long", func(n *NoticeInput) { n.Law = strings.Repeat("l", MaxLaw+1) }, "bad_law", nil},
		{"explanation short", func(n *NoticeInput) { n.Explanation = "bad" }, "bad_explanation", nil},
		{"explanation long", func(n *NoticeInput) { n.Explanation = long }, "bad_explanation", nil},
		{"explanation bidi", func(n *NoticeInput) { n.Explanation = "look at this \u202e now please" }, "bad_explanation", nil},
		{"no name", func(n *NoticeInput) { n.Name = "" }, "bad_name", nil},
		{"bad email", func(n *NoticeInput) { n.Email = "ana at example" }, "bad_email", nil},
		{"email with name", func(n *NoticeInput) { n.Email = "Ana <ana@example.org>" }, "bad_email", nil},
		{"no good faith", func(n *NoticeInput) { n.GoodFaith = false }, "good_faith_required", nil},
		{"minors anonymous", func(n *NoticeInput) { n.Category, n.Name, n.Email = CategoryMinors, "", "" }, "", nil},
		{"minors with a bad email", func(n *NoticeInput) { n.Category, n.Name, n.Email = CategoryMinors, "", "x" }, "bad_email", nil},
		{"clip", func(n *NoticeInput) { n.Kind, n.Speaker, n.Clip, n.From, n.To = KindClip, "", "c1", nil, nil }, "", nil},
		{"clip missing", func(n *NoticeInput) { n.Kind, n.Clip = KindClip, "" }, "bad_clip", nil},
		{"clip unknown", func(n *NoticeInput) { n.Kind, n.Clip = KindClip, "zz" }, "", recording.ErrClipNotFound},
		{"replay", func(n *NoticeInput) { n.Kind, n.Speaker = KindReplay, "" }, "", nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			in := speakerNotice()
			c.edit(&in)
			_, err := e.Report(ctx, anon, in)
			switch {
			case c.code != "":
				if codeOf(err) != c.code {
					t.Fatalf("err %v, want code %s", err, c.code)
				}
			case c.err != nil:
				if !errors.Is(err, c.err) {
					t.Fatalf("err %v, want %v", err, c.err)
				}
			case err != nil:
				t.Fatalf("refused: %v", err)
			}
		})
	}
}

func TestReceiptAndStatus(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	rc, err := e.Report(ctx, anon, speakerNotice())
	if err != nil {
		t.Fatal(err)
	}
	if rc.Key == "" || rc.Notice.ID == "" || rc.Notice.State != NoticeOpen {
		t.Fatalf("receipt %+v", rc)
	}
	st, err := e.Status(ctx, anon, rc.Notice.ID, rc.Key)
	if err != nil || st.State != NoticeOpen || st.Decision != nil {
		t.Fatalf("status %+v %v", st, err)
	}
	if _, err := e.Status(ctx, anon, rc.Notice.ID, rc.Key+"x"); !errors.Is(err, ErrNoticeNotFound) {
		t.Fatalf("wrong key: %v", err)
	}
	if _, err := e.Status(ctx, anon, rc.Notice.ID, ""); !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("no key: %v", err)
	}
	if _, err := e.Status(ctx, lis, rc.Notice.ID, ""); !errors.Is(err, ErrNoticeNotFound) {
		t.Fatalf("someone else: %v", err)
	}
	// Signed in, the notifier reads it by their account.
	mine, err := e.Report(ctx, lis, speakerNotice())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.Status(ctx, lis, mine.Notice.ID, ""); err != nil {
		t.Fatal(err)
	}
	ns, err := e.MyNotices(ctx, lis)
	if err != nil || len(ns) != 1 || ns[0].ID != mine.Notice.ID {
		t.Fatalf("my notices %v %v", ns, err)
	}
	// Decided: the notifier is told what was done, not who decided.
	if _, err := e.Decide(ctx, mod1, mine.Notice.ID, muteDecision()); err != nil {
		t.Fatal(err)
	}
	st, err = e.Status(ctx, lis, mine.Notice.ID, "")
	if err != nil || st.State != NoticeDecided || st.Decision == nil || st.Decision.Action != ActionMute || st.Decision.Decider != "" || st.Decision.User != "" {
		t.Fatalf("decided status %+v %v", st, err)
	}
}

func TestQueueOrder(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	if _, err := e.SetFlagger(ctx, adm, "tf", CategoryScams); err != nil {
		t.Fatal(err)
	}
	file := func(a Actor, cat string) string {
		in := speakerNotice()
		in.Category = cat
		rc, err := e.Report(ctx, a, in)
		if err != nil {
			t.Fatal(err)
		}
		e.clk.Add(time.Second)
		return rc.Notice.ID
	}
	oldTerms := file(anon, CategoryOtherTerms)
	speech := file(anon, CategoryIllegalSpeech)
	minors := file(anon, CategoryMinors)
	tfOutside := file(tflag, CategoryViolence) // outside the flagger's area: not trusted
	tfScam := file(tflag, CategoryScams)
	speech2 := file(lis, CategoryIllegalSpeech)
	q, err := e.Queue(ctx, mod1)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, n := range q {
		got = append(got, n.ID)
	}
	want := []string{tfScam, minors, tfOutside, speech, speech2, oldTerms}
	if !slices.Equal(got, want) {
		t.Fatalf("queue %v, want %v", got, want)
	}
	if !q[0].Trusted || q[2].Trusted {
		t.Fatal("trusted flags wrong")
	}
	if _, err := e.Queue(ctx, lis); !errors.Is(err, ErrForbidden) {
		t.Fatalf("user reads queue: %v", err)
	}
}

func TestClaim(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	rc, _ := e.Report(ctx, anon, speakerNotice())
	id := rc.Notice.ID
	if _, err := e.Claim(ctx, mod1, id); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Claim(ctx, mod2, id); !errors.Is(err, ErrClaimed) {
		t.Fatalf("second claim: %v", err)
	}
	if _, err := e.Decide(ctx, mod2, id, muteDecision()); !errors.Is(err, ErrClaimed) {
		t.Fatalf("decide another's claim: %v", err)
	}
	if _, err := e.Claim(ctx, adm, id); err != nil {
		t.Fatalf("admin takes over: %v", err)
	}
	if _, err := e.Decide(ctx, adm, id, muteDecision()); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Claim(ctx, mod1, id); !errors.Is(err, ErrDecided) {
		t.Fatalf("claim decided: %v", err)
	}
	if _, err := e.Decide(ctx, adm, id, muteDecision()); !errors.Is(err, ErrDecided) {
		t.Fatalf("decide twice: %v", err)
	}
	if _, err := e.Claim(ctx, mod1, "nope"); !errors.Is(err, ErrNoticeNotFound) {
		t.Fatalf("claim unknown: %v", err)
	}
	acts := e.f.actions()
	if !slices.Equal(acts, []string{"safety.claim", "safety.claim", "safety.decide"}) {
		t.Fatalf("audit %v", acts)
	}
}

func TestDecisionsAct(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		name  string
		in    DecisionInput
		check func(*fakeDomains) bool
		user  string
	}{
		{"mute", DecisionInput{Action: ActionMute, Room: "r1", User: "spk"}, func(f *fakeDomains) bool { return f.muted["r1/spk"] }, "spk"},
		{"remove from stage", DecisionInput{Action: ActionRemoveFromStage, Room: "r1", User: "spk"}, func(f *fakeDomains) bool { return !f.stage["r1/spk"] }, "spk"},
		{"end room", DecisionInput{Action: ActionEndRoom, Room: "r1"}, func(f *fakeDomains) bool { return f.ended["r1"] }, "host"},
		{"remove replay", DecisionInput{Action: ActionRemoveReplay, Room: "r1"}, func(f *fakeDomains) bool { return f.replays["r1"] }, "host"},
		{"remove clip", DecisionInput{Action: ActionRemoveClip, Clip: "c1"}, func(f *fakeDomains) bool { _, ok := f.clips["c1"]; return !ok }, "lis"},
		{"suspend", DecisionInput{Action: ActionSuspend, User: "spk", Duration: 48 * time.Hour}, func(f *fakeDomains) bool { return f.suspended["spk"] }, "spk"},
		{"terminate", DecisionInput{Action: ActionTerminate, User: "spk"}, func(f *fakeDomains) bool { return f.suspended["spk"] }, "spk"},
		{"warn", DecisionInput{Action: ActionWarn, User: "spk"}, func(f *fakeDomains) bool { return !f.muted["r1/spk"] && !f.suspended["spk"] }, "spk"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t)
			in := muteDecision()
			in.Action, in.Room, in.User, in.Clip, in.Duration = c.in.Action, c.in.Room, c.in.User, c.in.Clip, c.in.Duration
			in.Category, in.Offset = CategoryIllegalSpeech, 95
			d, err := e.DecideOwn(ctx, mod1, in)
			if err != nil {
				t.Fatal(err)
			}
			if !c.check(e.f) {
				t.Fatal("the decision did not act")
			}
			if d.User != c.user || d.Source != SourceVoluntary || d.PUID == "" {
				t.Fatalf("decision %+v", d)
			}
			if (d.Statement != nil) != Restricts(c.in.Action) {
				t.Fatalf("statement %+v", d.Statement)
			}
			if d.Statement != nil && (d.Statement.Basis != "own_initiative" || d.Statement.Automated || len(d.Statement.Redress) != 3 || d.Statement.Facts == "") {
				t.Fatalf("statement %+v", d.Statement)
			}
			if want := time.Date(2026, 1, 10, 12, 1, 35, 0, time.UTC); !d.ContentAt.Equal(want) && c.in.Action != ActionSuspend && c.in.Action != ActionTerminate && c.in.Action != ActionWarn {
				t.Fatalf("content at %v, want %v", d.ContentAt, want)
			}
			mine, err := e.MyDecisions(ctx, Actor{ID: c.user, Role: account.RoleUser})
			if err != nil || len(mine) != 1 || mine[0].ID != d.ID || mine[0].Decider != "" {
				t.Fatalf("affected user's decisions %+v %v", mine, err)
			}
			if d.Room != "" && !slices.Contains(e.f.events, d.Room+" safety_decision") {
				t.Fatalf("no event: %v", e.f.events)
			}
		})
	}
}

func TestDecisionValidation(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	cases := []struct {
		name string
		edit func(*DecisionInput)
		code string
	}{
		{"action", func(d *DecisionInput) { d.Action = "ban" }, "bad_action"},
		{"own none", func(d *DecisionInput) { d.Action = ActionNone }, "bad_action"},
		{"suspend without duration", func(d *DecisionInput) { d.Action = ActionSuspend }, "bad_duration"},
		{"suspend too long", func(d *DecisionInput) { d.Action, d.Duration = ActionSuspend, 400*24*time.Hour }, "bad_duration"},
		{"duration on mute", func(d *DecisionInput) { d.Duration = time.Hour }, "bad_duration"},
		{"category", func(d *DecisionInput) { d.Category = "" }, "bad_category"},
		{"ground", func(d *DecisionInput) { d.Ground = "vibes" }, "bad_ground"},
		{"illegal without law", func(d *DecisionInput) { d.LegalGround = "" }, "bad_ground"},
		{"terms without clause", func(d *DecisionInput) { d.Ground, d.LegalGround = GroundTerms, "" }, "bad_ground"},
		{"terms with law", func(d *DecisionInput) { d.Ground, d.TermsGround = GroundTerms, "§3" }, "bad_ground"},
		{"explanation", func(d *DecisionInput) { d.Explanation = strings.Repeat("e", MaxExplain+1) }, "bad_explanation"},
		{"no facts", func(d *DecisionInput) { d.Facts = "" }, "bad_facts"},
		{"facts long", func(d *DecisionInput) { d.Facts = strings.Repeat("f", MaxFacts+1) }, "bad_facts"},
		{"territory", func(d *DecisionInput) { d.Territory = []string{"US"} }, "bad_territory"},
		{"territory twice", func(d *DecisionInput) { d.Territory = []string{"DE", "DE"} }, "bad_territory"},
		{"no user", func(d *DecisionInput) { d.User = "" }, "bad_user"},
		{"self", func(d *DecisionInput) { d.Action, d.User = ActionWarn, "mod1" }, "bad_user"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			in := muteDecision()
			in.Room, in.User, in.Category = "r1", "spk", CategoryIllegalSpeech
			c.edit(&in)
			if _, err := e.DecideOwn(ctx, mod1, in); codeOf(err) != c.code {
				t.Fatalf("err %v, want %s", err, c.code)
			}
		})
	}
	// A target the room refuses: nothing is stored.
	in := muteDecision()
	in.Room, in.User, in.Category = "r1", "lis", CategoryIllegalSpeech
	if _, err := e.DecideOwn(ctx, mod1, in); !errors.Is(err, room.ErrBadTarget) {
		t.Fatalf("mute a listener: %v", err)
	}
	if ds, _ := e.Decisions(ctx, mod1); len(ds) != 0 {
		t.Fatalf("stored %v", ds)
	}
}

// An action that cannot be audited is not taken: the restriction is undone
// and nothing is stored.
func TestDecisionNeedsAudit(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.f.auditFail = true
	in := muteDecision()
	in.Room, in.User, in.Category = "r1", "spk", CategoryIllegalSpeech
	if _, err := e.DecideOwn(ctx, mod1, in); !errors.Is(err, ErrAuditUnavailable) {
		t.Fatalf("err %v", err)
	}
	if e.f.muted["r1/spk"] {
		t.Fatal("the mute stayed")
	}
	if ds, _ := e.Decisions(ctx, mod1); len(ds) != 0 {
		t.Fatalf("stored %v", ds)
	}
}

func TestComplaints(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	rc, _ := e.Report(ctx, lis, speakerNotice())
	d, err := e.Decide(ctx, mod1, rc.Notice.ID, muteDecision())
	if err != nil {
		t.Fatal(err)
	}
	if !e.f.muted["r1/spk"] {
		t.Fatal("not muted")
	}
	text := "I was quoting the speaker before me to refute them."
	if _, err := e.Complain(ctx, lis, d.ID, "", text); !errors.Is(err, ErrNotComplainable) {
		t.Fatalf("notifier complains about a restriction: %v", err)
	}
	if _, err := e.Complain(ctx, spk, d.ID, "", "short"); codeOf(err) != "bad_text" {
		t.Fatalf("short: %v", err)
	}
	c, err := e.Complain(ctx, spk, d.ID, "", text)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.Complain(ctx, spk, d.ID, "", text); !errors.Is(err, ErrDuplicate) {
		t.Fatalf("duplicate: %v", err)
	}
	if _, err := e.DecideComplaint(ctx, mod1, c.ID, ComplaintOutcome{Outcome: OutcomeReversed, Explanation: "x"}); !errors.Is(err, ErrSameDecider) {
		t.Fatalf("same decider: %v", err)
	}
	if _, err := e.DecideComplaint(ctx, spk, c.ID, ComplaintOutcome{Outcome: OutcomeReversed, Explanation: "x"}); !errors.Is(err, ErrForbidden) {
		t.Fatalf("user decides: %v", err)
	}
	if _, err := e.DecideComplaint(ctx, mod2, c.ID, ComplaintOutcome{Outcome: "maybe", Explanation: "x"}); codeOf(err) != "bad_outcome" {
		t.Fatalf("bad outcome: %v", err)
	}
	out, err := e.DecideComplaint(ctx, mod2, c.ID, ComplaintOutcome{Outcome: OutcomeReversed, Explanation: "Quoting to refute is not incitement."})
	if err != nil {
		t.Fatal(err)
	}
	if e.f.muted["r1/spk"] {
		t.Fatal("reversal did not unmute")
	}
	if _, err := e.DecideComplaint(ctx, adm, c.ID, ComplaintOutcome{Outcome: OutcomeUpheld, Explanation: "x"}); !errors.Is(err, ErrComplaintDecided) {
		t.Fatalf("decided twice: %v", err)
	}
	shown, err := e.Complaint(ctx, spk, c.ID)
	if err != nil || shown.Outcome != OutcomeReversed || shown.DecidedBy != "" || out.DecidedBy != "mod2" {
		t.Fatalf("shown %+v %v", shown, err)
	}
	dd, _ := e.Decision(ctx, spk, d.ID)
	if dd.LiftedAt.IsZero() || !strings.Contains(dd.LiftedWhy, "reversed") {
		t.Fatalf("not lifted: %+v", dd)
	}
	want := []string{"safety.decide", "safety.complain", "safety.complaint_outcome"}
	if got := e.f.actions(); !slices.Equal(got, want) {
		t.Fatalf("audit %v, want %v", got, want)
	}
}

func TestComplaintWindowAndNotifier(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	rc, _ := e.Report(ctx, anon, speakerNotice())
	in := muteDecision()
	in.Action = ActionNone
	d, err := e.Decide(ctx, mod1, rc.Notice.ID, in)
	if err != nil {
		t.Fatal(err)
	}
	text := "The speaker clearly called for violence; please listen again."
	if _, err := e.Complain(ctx, spk, d.ID, "", text); err != nil {
		t.Fatalf("affected user of no action: %v", err)
	}
	if _, err := e.Complain(ctx, anon, d.ID, "wrong", text); !errors.Is(err, ErrNotComplainable) {
		t.Fatalf("wrong key: %v", err)
	}
	e.clk.Add(6*30*24*time.Hour - time.Hour) // just under six months (182 days later is past)
	if _, err := e.Complain(ctx, anon, d.ID, rc.Key, text); err != nil {
		t.Fatalf("anonymous notifier with the key: %v", err)
	}
	// A second decision, and the window shuts six calendar months after it.
	rc2, _ := e.Report(ctx, anon, speakerNotice())
	d2, err := e.Decide(ctx, mod1, rc2.Notice.ID, in)
	if err != nil {
		t.Fatal(err)
	}
	e.clk.Add(ComplaintWindow(d2).Sub(e.clk.Now()))
	if _, err := e.Complain(ctx, anon, d2.ID, rc2.Key, text); !errors.Is(err, ErrWindowClosed) {
		t.Fatalf("after six months: %v", err)
	}
}

func TestModifiedOutcome(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	in := muteDecision()
	in.Action, in.User, in.Duration, in.Category = ActionSuspend, "spk", 30*24*time.Hour, CategoryIllegalSpeech
	d, err := e.DecideOwn(ctx, mod1, in)
	if err != nil {
		t.Fatal(err)
	}
	c, err := e.Complain(ctx, spk, d.ID, "", "Thirty days is far too long for one remark.")
	if err != nil {
		t.Fatal(err)
	}
	r := muteDecision()
	r.Action, r.Duration = ActionSuspend, 24*time.Hour
	out, err := e.DecideComplaint(ctx, mod2, c.ID, ComplaintOutcome{Outcome: OutcomeModified, Explanation: "A day is proportionate.", Replacement: &r})
	if err != nil {
		t.Fatal(err)
	}
	nd, err := e.Decision(ctx, mod2, out.Replacement)
	if err != nil || nd.Replaces != d.ID || nd.EndsAt.Sub(nd.At) != 24*time.Hour || !e.f.suspended["spk"] {
		t.Fatalf("replacement %+v %v", nd, err)
	}
	// The day passes: the sweeper lifts the replacement; the original was lifted already.
	e.clk.Add(25 * time.Hour)
	e.LiftExpired(ctx)
	if e.f.suspended["spk"] {
		t.Fatal("still suspended after the day")
	}
}

func TestSuspensionExpires(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	in := muteDecision()
	in.Action, in.User, in.Duration, in.Category = ActionSuspend, "spk", 2*time.Hour, CategoryIllegalSpeech
	if _, err := e.DecideOwn(ctx, mod1, in); err != nil {
		t.Fatal(err)
	}
	in.Action, in.Duration = ActionSuspend, 5*time.Hour
	if _, err := e.DecideOwn(ctx, mod2, in); err != nil {
		t.Fatal(err)
	}
	e.clk.Add(3 * time.Hour)
	e.LiftExpired(ctx)
	if !e.f.suspended["spk"] {
		t.Fatal("lifted while a longer suspension is in force")
	}
	e.clk.Add(3 * time.Hour)
	e.LiftExpired(ctx)
	if e.f.suspended["spk"] {
		t.Fatal("not lifted")
	}
}

// Everything acknowledged is in the file: a new Service on it sees it.
func TestDurable(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	rc, _ := e.Report(ctx, anon, speakerNotice())
	d, err := e.Decide(ctx, mod1, rc.Notice.ID, muteDecision())
	if err != nil {
		t.Fatal(err)
	}
	c, err := e.Complain(ctx, spk, d.ID, "", "Please listen to the whole minute.")
	if err != nil {
		t.Fatal(err)
	}
	e.Close()
	s2, err := Open(Config{Path: e.path, Rooms: e.f, Accounts: e.f, Recordings: e.f, Now: e.clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if st, err := s2.Status(ctx, anon, rc.Notice.ID, rc.Key); err != nil || st.Decision == nil || st.Decision.ID != d.ID {
		t.Fatalf("status after reopen %+v %v", st, err)
	}
	if got, err := s2.Complaint(ctx, spk, c.ID); err != nil || got.Text != c.Text {
		t.Fatalf("complaint after reopen %+v %v", got, err)
	}
}

// TestReverseRemovalFromStage: a reversed removal from the stage seats the
// speaker again while the room is live; once it has ended, the decision
// is marked lifted and nothing is seated.
func TestReverseRemovalFromStage(t *testing.T) {
	for _, ended := range []bool{false, true} {
		e := newEnv(t)
		ctx := context.Background()
		in := muteDecision()
		in.Action, in.Room, in.User, in.Category = ActionRemoveFromStage, "r1", "spk", CategoryIllegalSpeech
		d, err := e.DecideOwn(ctx, mod1, in)
		if err != nil {
			t.Fatal(err)
		}
		if e.f.stage["r1/spk"] {
			t.Fatal("still on the stage")
		}
		c, err := e.Complain(ctx, spk, d.ID, "", "I was quoting the speaker before me to refute them.")
		if err != nil {
			t.Fatal(err)
		}
		if ended {
			e.f.End(ctx, room.Actor{}, "r1")
		}
		if _, err := e.DecideComplaint(ctx, mod2, c.ID, ComplaintOutcome{Outcome: OutcomeReversed, Explanation: "Quoting to refute."}); err != nil {
			t.Fatal(err)
		}
		if e.f.stage["r1/spk"] == ended {
			t.Fatalf("room ended %v: on the stage after the reversal: %v", ended, e.f.stage["r1/spk"])
		}
		if dd, _ := e.Decision(ctx, spk, d.ID); dd.LiftedAt.IsZero() {
			t.Fatalf("room ended %v: not lifted", ended)
		}
	}
}
