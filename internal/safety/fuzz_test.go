package safety

import (
	"context"
	"testing"
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
