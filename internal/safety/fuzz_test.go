package safety

import (
	"context"
	"testing"
	"time"
)

// FuzzReport feeds the notice validator (fields straight from the
// network) arbitrary text and offsets: it refuses or stores, never panics,
// and what it stores reads back.
func FuzzReport(f *testing.F) {
	f.Add("speaker", "r1", "spk", 95.0, 110.0, CategoryIllegalSpeech, true, "§ 130 StGB", "At 1:35 the speaker calls for violence.", "Ana", "ana@example.org")
	f.Add("clip", "r1", "", -1.0, 0.0, CategoryMinors, false, "", "explanation \u202e bidi", "", "")
	f.Add("room", "r1", "", 1e300, 0.5, "STATEMENT_CATEGORY_", false, "x", "\x00\x01", "n", "a@b")
	e := newEnv(f)
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, kind, roomID, speaker string, from, to float64, cat string, illegal bool, law, expl, name, email string) {
		in := NoticeInput{Kind: kind, Room: roomID, Speaker: speaker, From: &from, To: &to, Category: cat, Illegal: illegal, Law: law,
			Explanation: expl, Name: name, Email: email, GoodFaith: true, Clip: "c1"}
		rc, err := e.Report(ctx, anon, in)
		if err != nil {
			return
		}
		st, err := e.Status(ctx, anon, rc.Notice.ID, rc.Key)
		if err != nil || st.Category != cat {
			t.Fatalf("stored notice reads back %+v %v", st, err)
		}
	})
}

// FuzzDecisionInput feeds a decision's validation (a moderator's request
// body) arbitrary values: it refuses with a field code or accepts, never
// panics, and what it accepts keeps the database's limits.
func FuzzDecisionInput(f *testing.F) {
	f.Add("mute", int64(0), "STATEMENT_CATEGORY_VIOLENCE", "illegal", "§ 130 StGB", "", "Incitement.", "Heard.", "DE", 95.0, false)
	f.Add("suspend", int64(3600e9), CategoryScams, "terms", "", "Terms §2", "Fraud.", "Seen.", "", 0.0, true)
	f.Add("x", int64(-1), "", "", "", "", "", "", "US", -1.0, true)
	f.Fuzz(func(t *testing.T, action string, dur int64, cat, ground, legal, terms, expl, facts, country string, off float64, manifest bool) {
		in := DecisionInput{Action: action, Duration: time.Duration(dur), Category: cat, Ground: ground, LegalGround: legal, TermsGround: terms,
			Explanation: expl, Facts: facts, Offset: off, Manifest: manifest}
		if country != "" {
			in.Territory = []string{country}
		}
		err := in.validate(true)
		if err != nil {
			if codeOf(err) == "" {
				t.Fatalf("refusal without a code: %v", err)
			}
			return
		}
		if len([]rune(in.Facts)) > MaxFacts || len([]rune(in.Explanation)) > MaxExplain || !ValidCategory(in.Category) || !validAction(in.Action) {
			t.Fatalf("accepted out of limits: %+v", in)
		}
	})
}
