package safety

import (
	"regexp"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Personal data in a decision's facts (decision_facts): the Transparency
// Database publishes them, and its terms (and Art. 24(5) DSA) forbid
// personal data there. The checks are what a moderator is likely to paste
// by mistake; they are not a guarantee that free text names nobody.
const (
	// minPhoneDigits is the shortest digit run taken for a phone number
	// (spaces, dashes and a leading + allowed between the digits).
	minPhoneDigits = 8
	// minNameRunes is the shortest user name looked for as a word: a
	// one-letter name would match ordinary words.
	minNameRunes = 2
)

var (
	factsURLCredentials = regexp.MustCompile(`(?i)[a-z][a-z0-9+.\-]*://[^\s/?#@]+@`)
	factsEmail          = regexp.MustCompile(`(?i)[\p{L}\p{Nd}._%+\-]+@[\p{L}\p{Nd}\-]+(?:\.[\p{L}\p{Nd}\-]+)*\.\p{L}{2,}`)
	// A date or a time of day is not a phone number: 2026-01-10, 12:30:05.
	factsDate  = regexp.MustCompile(`\p{Nd}{4}-\p{Nd}{2}-\p{Nd}{2}`)
	factsPhone = regexp.MustCompile(`\+?\p{Nd}(?:[ \-]?\p{Nd}){` + strconv.Itoa(minPhoneDigits-1) + `,}`)
)

// personalData says what personal data facts holds ("" for none): an email
// address, a URL with a user name or password in it, a phone-number-like
// run of minPhoneDigits digits or more (not part of a longer word such as
// an id), or the affected user's id or name (as a word, any case).
func personalData(facts, userID, userName string) string {
	if factsURLCredentials.MatchString(facts) {
		return "a URL with a user name or password"
	}
	if factsEmail.MatchString(facts) {
		return "an email address"
	}
	undated := factsDate.ReplaceAllStringFunc(facts, func(s string) string { return strings.Repeat("/", len(s)) })
	for _, m := range factsPhone.FindAllStringIndex(undated, -1) {
		if !wordAt(undated, m[0], m[1]) {
			continue // digits inside an id or a word
		}
		return "a phone number"
	}
	lower := strings.ToLower(facts)
	if userID != "" && strings.Contains(lower, strings.ToLower(userID)) {
		return "the affected user's id"
	}
	if name := strings.ToLower(userName); utf8.RuneCountInString(name) >= minNameRunes {
		for i := 0; ; {
			j := strings.Index(lower[i:], name)
			if j < 0 {
				break
			}
			if wordAt(lower, i+j, i+j+len(name)) {
				return "the affected user's name"
			}
			i += j + len(name)
		}
	}
	return ""
}

// wordAt says whether s[from:to] stands alone: no letter, digit or '_'
// touches it on either side.
func wordAt(s string, from, to int) bool {
	inWord := func(r rune) bool { return unicode.IsLetter(r) || unicode.IsDigit(r) || r == '_' }
	if r, _ := utf8.DecodeLastRuneInString(s[:from]); from > 0 && inWord(r) {
		return false
	}
	if r, _ := utf8.DecodeRuneInString(s[to:]); to < len(s) && inWord(r) {
		return false
	}
	return true
}

// checkFacts refuses facts with personal data of in's affected user (or anyone's).
func checkFacts(facts, userID, userName string) error {
	if what := personalData(facts, userID, userName); what != "" {
		return fieldErr("facts_personal_data", "facts", "facts are published in the Transparency Database and must hold no personal data: they hold "+what)
	}
	return nil
}
