package safety

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"
)

// TestRepeatedIllegalContent (Art. 23(1)): at the third decision on
// manifestly illegal content the user is warned by the rule; at the next,
// suspended for the configured period, by a decision marked automated
// whose exported statement still passes the database's rules. A decision
// reversed on complaint is no strike.
func TestRepeatedIllegalContent(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	strike := func() Decision {
		in := muteDecision()
		in.Action, in.Room, in.User, in.Category, in.Manifest = ActionMute, "r1", "spk", CategoryIllegalSpeech, true
		e.f.stage["r1/spk"] = true
		d, err := e.DecideOwn(ctx, mod1, in)
		if err != nil {
			t.Fatal(err)
		}
		e.clk.Add(time.Minute)
		return d
	}
	first := strike()
	// Reversed on complaint: no strike.
	c, err := e.Complain(ctx, spk, first.ID, "", "That was a quotation, not my words.")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.DecideComplaint(ctx, mod2, c.ID, ComplaintOutcome{Outcome: OutcomeReversed, Explanation: "A quotation."}); err != nil {
		t.Fatal(err)
	}
	strike()
	strike()
	st, err := e.MisuseOf(ctx, mod1, "spk")
	if err != nil || st.Strikes != 2 {
		t.Fatalf("after a reversal and two strikes: %+v %v", st, err)
	}
	if e.f.suspended["spk"] {
		t.Fatal("suspended before three strikes")
	}
	strike() // the third: a warning
	mine, _ := e.MyDecisions(ctx, spk)
	if mine[0].Action != ActionWarn || !mine[0].Automated {
		t.Fatalf("third strike: %+v", mine[0])
	}
	if e.f.suspended["spk"] {
		t.Fatal("suspended without a prior warning")
	}
	strike() // after the warning: suspended
	mine, _ = e.MyDecisions(ctx, spk)
	sus := mine[0]
	if sus.Action != ActionSuspend || !sus.Automated || sus.EndsAt.Sub(sus.At) != DefaultMisuse.Suspension || !e.f.suspended["spk"] || !sus.Statement.Automated {
		t.Fatalf("fourth strike: %+v", sus)
	}
	tdb, _ := sus.TDB()
	raw, _ := json.Marshal(tdb)
	if err := validTDB(raw); err != nil || tdb.AutomatedDecision != "AUTOMATED_DECISION_FULLY" {
		t.Fatalf("automated statement: %v %s", err, raw)
	}
	if st, _ := e.MisuseOf(ctx, mod1, "spk"); !st.StrikeSuspended {
		t.Fatalf("standing %+v", st)
	}
	strike() // a fifth while suspended: no second suspension
	n := 0
	ds, _ := e.MyDecisions(ctx, spk)
	for _, d := range ds {
		if d.Automated && d.Action == ActionSuspend {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("%d automated suspensions", n)
	}
	// Only a restriction on the illegal ground, or a decision to do nothing, is "manifest".
	in := muteDecision()
	in.Ground, in.LegalGround, in.TermsGround, in.Manifest, in.Room, in.User, in.Category = GroundTerms, "", "§1", true, "r1", "spk", CategoryOtherTerms
	if _, err := e.DecideOwn(ctx, mod1, in); codeOf(err) != "bad_manifest" {
		t.Fatalf("manifest on terms: %v", err)
	}
}

// TestManifestlyUnfoundedNotices (Art. 23(2)): a signed-in notifier's
// third manifestly unfounded notice brings a warning, the next suspends
// their notices, and the notifier's own standing tells them; anonymous
// ones are never counted.
func TestManifestlyUnfoundedNotices(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	unfounded := func(a Actor) error {
		rc, err := e.Report(ctx, a, speakerNotice())
		if err != nil {
			return err
		}
		in := muteDecision()
		in.Action, in.Manifest = ActionNone, true
		_, err = e.Decide(ctx, mod1, rc.Notice.ID, in)
		return err
	}
	for i := range 4 {
		if err := unfounded(lis); err != nil {
			t.Fatalf("notice %d: %v", i+1, err)
		}
		st, _ := e.MisuseOf(ctx, mod1, "lis")
		if (i >= 2) != !st.NotifierWarned.IsZero() || (i >= 3) != !st.NoticesBlocked.IsZero() {
			t.Fatalf("after %d: %+v", i+1, st)
		}
		// The notifier is told: their own standing says the same.
		if mine, err := e.MyStanding(ctx, lis); err != nil || mine != st {
			t.Fatalf("after %d, the notifier's own standing: %+v, %v; moderators see %+v", i+1, mine, err, st)
		}
	}
	if _, err := e.MyStanding(ctx, anon); !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("anonymous standing: %v", err)
	}
	if _, err := e.Report(ctx, lis, speakerNotice()); !errors.Is(err, ErrNoticesSuspended) {
		t.Fatalf("suspended notifier: %v", err)
	}
	if _, err := e.Report(ctx, anon, speakerNotice()); err != nil {
		t.Fatalf("anonymous: %v", err)
	}
	e.clk.Add(DefaultMisuse.NoticeSuspension + time.Minute)
	if _, err := e.Report(ctx, lis, speakerNotice()); err != nil {
		t.Fatalf("after the suspension: %v", err)
	}
	want := map[string]int{"safety.notifier_warn": 1, "safety.notices_suspend": 1}
	got := map[string]int{}
	for _, a := range e.f.actions() {
		if want[a] > 0 {
			got[a]++
		}
	}
	if got["safety.notifier_warn"] != 1 || got["safety.notices_suspend"] != 1 {
		t.Fatalf("audit %v", got)
	}
}
