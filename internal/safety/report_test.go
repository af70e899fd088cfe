package safety

import (
	"context"
	"encoding/csv"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestTransparencyReport counts a period's notices, decisions and
// complaints, with the medians, and leaves out what is outside it.
func TestTransparencyReport(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	start := reportFixture(t, e)
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

// reportFixture makes a period's worth of safety work, and returns its
// start: three notices (one from a trusted flagger, one of scams), a mute
// on notice, no action on another, an own-initiative suspension, and a
// complaint about the mute, reversed.
func reportFixture(t *testing.T, e *env) time.Time {
	t.Helper()
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
	return start
}

// TestTransparencyCSV checks the 2024/2835 layout's cells for the
// fixture: every category's rows are there (zeros too), and the counts
// are where the template puts them.
func TestTransparencyCSV(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	start := reportFixture(t, e)
	r, err := e.TransparencyReport(ctx, mod1, start, e.clk.Now().Add(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	if err := r.WriteCSV(&b); err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(strings.NewReader(b.String())).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(recs[0], csvHeader) {
		t.Fatalf("header %q", recs[0])
	}
	cell := map[string]string{}
	for _, rec := range recs[1:] {
		if len(rec) != len(csvHeader) {
			t.Fatalf("row %q", rec)
		}
		k := rec[0] + "/" + rec[2] + "/" + rec[3] + "/" + rec[4]
		if _, dup := cell[k]; dup {
			t.Fatalf("two rows for %s", k)
		}
		cell[k] = rec[5]
	}
	want := map[string]string{
		"notices/notices_received/total/total":                                  "3",
		"notices/notices_received/total/SOURCE_TRUSTED_FLAGGER":                 "1",
		"notices/notices_received/" + CategoryIllegalSpeech + "/total":          "2",
		"notices/notices_received/" + CategoryScams + "/SOURCE_ARTICLE_16":      "1",
		"notices/notices_received/" + CategoryMinors + "/total":                 "0",
		"notices/notices_acted_on/total/total":                                  "2",
		"notices/notices_acted_on/" + CategoryIllegalSpeech + "/ground_illegal": "1",
		"notices/notices_acted_on/" + CategoryIllegalSpeech + "/no_restriction": "1",
		"notices/notices_acted_on/total/ground_terms":                           "0",
		"notices/median_time_to_action_s/total/":                                "900",
		"own_initiative/decisions/total/total":                                  "1",
		"own_initiative/decisions/" + CategoryScams + "/account":                "1",
		"own_initiative/decisions/" + CategoryScams + "/provision":              "0",
		"own_initiative/decisions/" + CategoryScams + "/ground_illegal":         "1",
		"own_initiative/decided_by/total/not_automated":                         "1",
		"complaints/complaints/total/total":                                     "1",
		"complaints/complaints/restriction/reversed":                            "1",
		"complaints/complaints/no_action/total":                                 "0",
		"complaints/median_time_to_decision_s/total/":                           "3600",
		"complaints/decisions_reversed/total/":                                  "1",
		"orders/orders_received/total/":                                         "",
		"trusted_flaggers/trusted_flaggers/total/":                              "1",
		"identification/reporting_period_start//":                               start.UTC().Format(time.RFC3339),
	}
	for k, v := range want {
		if got, ok := cell[k]; !ok || got != v {
			t.Errorf("%s = %q (present %v), want %q", k, got, ok, v)
		}
	}
	for _, cat := range Categories() {
		for _, k := range []string{"notices/notices_received/" + cat + "/total", "own_initiative/decisions/" + cat + "/visibility"} {
			if _, ok := cell[k]; !ok {
				t.Errorf("no row %s", k)
			}
		}
	}
}

func TestParsePeriod(t *testing.T) {
	now := time.Date(2026, 8, 3, 10, 0, 0, 0, time.UTC)
	d := func(y int, m time.Month) time.Time { return time.Date(y, m, 1, 0, 0, 0, 0, time.UTC) }
	for _, c := range []struct {
		in       string
		from, to time.Time
	}{
		{"", d(2026, 1), d(2027, 1)},
		{"2026", d(2026, 1), d(2027, 1)},
		{"2025-H2", d(2025, 7), d(2026, 1)},
		{"2026-H1", d(2026, 1), d(2026, 7)},
		{"2026-H2", d(2026, 7), d(2027, 1)},
		{"2024", d(2024, 1), d(2025, 1)},
	} {
		from, to, err := ParsePeriod(c.in, now)
		if err != nil || !from.Equal(c.from) || !to.Equal(c.to) {
			t.Errorf("%q: %v–%v %v", c.in, from, to, err)
		}
	}
	for _, in := range []string{"2027", "2027-H1", "2023", "26", "2026-H3", "2026-", "2026-h1", "+2026", "2026-H1-H2", "02026", "x"} {
		if _, _, err := ParsePeriod(in, now); err == nil {
			t.Errorf("%q accepted", in)
		} else if fe, ok := err.(*FieldError); !ok || fe.Code != "bad_period" {
			t.Errorf("%q: %v", in, err)
		}
	}
}

// TestPublicReport: anyone reads a period's counts; within a minute the
// same answer comes from the cache, after it the new counts.
func TestPublicReport(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	reportFixture(t, e)
	r, err := e.PublicReport(ctx, "2026")
	if err != nil {
		t.Fatal(err)
	}
	if r.Notices != 3 || r.Decisions != 3 || r.Complete || !r.From.Equal(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)) {
		t.Fatalf("report %+v", r)
	}
	if _, err := e.Report(ctx, anon, speakerNotice()); err != nil {
		t.Fatal(err)
	}
	if r, _ := e.PublicReport(ctx, "2026"); r.Notices != 3 {
		t.Fatalf("within the minute: %d notices, want the cached 3", r.Notices)
	}
	e.clk.Add(publicReportTTL)
	if r, _ := e.PublicReport(ctx, "2026"); r.Notices != 4 {
		t.Fatalf("after the minute: %d notices, want 4", r.Notices)
	}
	if r, err := e.PublicReport(ctx, "2025-H2"); err != nil || r.Notices != 0 || !r.Complete {
		t.Fatalf("2025-H2: %+v %v", r, err)
	}
	if _, err := e.PublicReport(ctx, "2026-H2"); err == nil { // the clock is in January 2026
		t.Fatal("a period not begun answered")
	}
}
