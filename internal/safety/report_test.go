package safety

import (
	"context"
	"testing"
	"time"
)

// TestTransparencyReport counts a period's notices, decisions and
// complaints, with the medians, and leaves out what is outside it.
func TestTransparencyReport(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	start := e.clk.Now()
	if _, err := e.SetFlagger(ctx, adm, "tf", AreaAll); err != nil {
		t.Fatal(err)
	}
	rc1, _ := e.Report(ctx, anon, speakerNotice())
	rc2, _ := e.Report(ctx, tflag, speakerNotice())
	in := speakerNotice()
	in.Category = CategoryScams
	if _, err := e.Report(ctx, anon, in); err != nil {
		t.Fatal(err)
	}
	e.clk.Add(10 * time.Minute)
	d1, err := e.Decide(ctx, mod1, rc1.Notice.ID, muteDecision())
	if err != nil {
		t.Fatal(err)
	}
	e.clk.Add(10 * time.Minute)
	none := muteDecision()
	none.Action = ActionNone
	if _, err := e.Decide(ctx, mod1, rc2.Notice.ID, none); err != nil {
		t.Fatal(err)
	}
	own := muteDecision()
	own.Action, own.User, own.Duration, own.Category = ActionSuspend, "lis", 2*time.Hour, CategoryScams
	if _, err := e.DecideOwn(ctx, mod2, own); err != nil {
		t.Fatal(err)
	}
	c, err := e.Complain(ctx, spk, d1.ID, "", "It was a quotation, please listen again.")
	if err != nil {
		t.Fatal(err)
	}
	e.clk.Add(time.Hour)
	if _, err := e.DecideComplaint(ctx, mod2, c.ID, ComplaintOutcome{Outcome: OutcomeReversed, Explanation: "A quotation."}); err != nil {
		t.Fatal(err)
	}
	r, err := e.TransparencyReport(ctx, mod1, start, e.clk.Now().Add(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if r.Notices != 3 || r.NoticesBySource[SourceTrustedFlagger] != 1 || r.NoticesBySource[SourceArticle16] != 2 || r.NoticesByCategory[CategoryScams] != 1 {
		t.Fatalf("notices %+v", r)
	}
	if r.Decisions != 3 || r.OwnInitiative != 1 || r.OnNotice != 2 || r.DecisionsByAction[ActionMute] != 1 || r.DecisionsByGround[GroundIllegal] != 3 {
		t.Fatalf("decisions %+v", r)
	}
	if r.MedianDecisionS != 900 { // 600 s and 1200 s
		t.Fatalf("median time to decision %v", r.MedianDecisionS)
	}
	if r.Complaints != 1 || r.ComplaintsByOutcome[OutcomeReversed] != 1 || r.Reversals != 1 || r.MedianComplaintS != 3600 || r.TrustedFlaggersNow != 1 {
		t.Fatalf("complaints %+v", r)
	}
	later, err := e.TransparencyReport(ctx, adm, e.clk.Now().Add(time.Minute), e.clk.Now().Add(time.Hour))
	if err != nil || later.Notices != 0 || later.Decisions != 0 || later.Complaints != 0 {
		t.Fatalf("empty period %+v %v", later, err)
	}
	if _, err := e.TransparencyReport(ctx, lis, start, e.clk.Now()); err != ErrForbidden {
		t.Fatalf("a user reads the report: %v", err)
	}
}
