package safety

import (
	"context"
	"strings"
	"testing"
)

// personalData finds what a moderator might paste into decision_facts by
// mistake, and lets ordinary facts (times, dates, ids, counts) through.
func TestPersonalData(t *testing.T) {
	const id, name = "w5bmr3jmr5vanyfb", "Samir_al-Khatib"
	for _, c := range []struct {
		facts, want string
	}{
		{"Heard in the program at the reported time.", ""},
		{"At 12:30:05 on 2026-01-10 the speaker read out a list.", ""},
		{"Heard 3 times between 00:01:10 and 00:04:00, 1,250,000 listeners.", ""},
		{"Decision 4lmf5kqoh3g4kyd7 on clip c23456789abcdefg was upheld.", ""}, // ids: digits inside a word
		{"Case 1234567 (seven digits).", ""},
		{"Samirah and al-Khatib spoke; the host said nothing.", ""}, // parts of the name, not the name
		{"See https://example.org/rules#2 and mailto-less text @ noon.", ""},
		{"The speaker read out ana@example.org twice.", "an email address"},
		{"Contact: ANA.B+tag@mail.example.co.uk.", "an email address"},
		{"بريده سمير@مثال.شبكة", "an email address"},
		{"They said: call +49 30 1234 5678 now.", "a phone number"},
		{"They gave 0171-2345678 on air.", "a phone number"},
		{"Number 12345678.", "a phone number"},
		{"رقم ٠١٢٣٤٥٦٧٨٩ قيل على الهواء", "a phone number"},
		{"A link to https://bob:hunter2@files.example.org/x was read out.", "a URL with a user name or password"},
		{"ftp://admin@10.0.0.1/ was shown.", "a URL with a user name or password"},
		{"The account W5BMR3JMR5VANYFB spoke.", "the affected user's id"},
		{"samir_al-khatib asked for bank details.", "the affected user's name"},
		{"As (Samir_al-Khatib) said.", "the affected user's name"},
	} {
		if got := personalData(c.facts, id, name); got != c.want {
			t.Errorf("personalData(%q) = %q, want %q", c.facts, got, c.want)
		}
	}
	if got := personalData("a b c", "", "a"); got != "" {
		t.Errorf("a one-letter name matched: %q", got)
	}
}

// A decision whose facts hold personal data is refused with
// facts_personal_data (the affected user is the one named, or the host of
// a room ended); nothing is stored or done. Facts without any are taken.
func TestDecisionFactsPersonalData(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	for _, facts := range []string{"Heard at 12:00; mail ana@example.org.", "Samir_al-Khatib read out 030 1234 5678.", "User spk spoke."} {
		in := muteDecision()
		in.Room, in.User, in.Category, in.Facts = "r1", "spk", CategoryIllegalSpeech, facts
		_, err := e.DecideOwn(ctx, mod1, in)
		if codeOf(err) != "facts_personal_data" {
			t.Fatalf("facts %q: %v, want facts_personal_data", facts, err)
		}
		if fe := err.(*FieldError); fe.Field != "facts" || !strings.Contains(fe.Message, "hold ") {
			t.Fatalf("facts %q: %+v", facts, fe)
		}
	}
	// The host's name in an end_room decision's facts: the host is the affected user.
	in := muteDecision()
	in.Action, in.Room, in.User, in.Category, in.Facts = ActionEndRoom, "r1", "", CategoryIllegalSpeech, "Hala hosted it."
	if _, err := e.DecideOwn(ctx, mod1, in); codeOf(err) != "facts_personal_data" {
		t.Fatalf("host named: %v", err)
	}
	if ds, _ := e.Decisions(ctx, mod1); len(ds) != 0 {
		t.Fatalf("stored %v", ds)
	}
	if e.f.muted["r1/spk"] || e.f.ended["r1"] {
		t.Fatal("a refused decision acted")
	}
	in = muteDecision()
	in.Room, in.User, in.Category, in.Facts = "r1", "spk", CategoryIllegalSpeech, "Heard at 00:12:40 on 2026-01-10, for 40 s."
	if _, err := e.DecideOwn(ctx, mod1, in); err != nil {
		t.Fatalf("facts without personal data: %v", err)
	}
}
