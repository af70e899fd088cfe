package account

import (
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/cases"
	"golang.org/x/text/unicode/norm"
)

// ValidName says whether s is an acceptable user name (CanonicalName).
func ValidName(s string) bool {
	_, ok := CanonicalName(s)
	return ok
}

// CanonicalName is the form a user name is stored in, NFKC-normalised,
// and whether it is acceptable: 1 to MaxName bytes of letters (with their
// combining marks), digits, '.', '_' and '-', in any language but one
// script (Latin, Arabic, Cyrillic…; Han with Hiragana, Katakana or Hangul
// counts as one), so a name cannot mix look-alike letters of two scripts
// ("pаypal" with a Cyrillic "а"). Spaces, symbols, control and format
// characters (the bidi overrides and marks, zero-width joiners) are
// refused: they make one name display as another.
func CanonicalName(s string) (string, bool) {
	n := norm.NFKC.String(s)
	if len(n) == 0 || len(n) > MaxName || !utf8.ValidString(n) {
		return "", false
	}
	var scripts uint64 // bit i: a letter of nameScripts[i]
	prevLetter := false
	for _, c := range n {
		switch {
		case c == '.' || c == '_' || c == '-' || c >= '0' && c <= '9':
			prevLetter = false
			continue
		case unicode.IsMark(c):
			if !prevLetter { // a mark on nothing, or on a digit or '.'
				return "", false
			}
			continue
		case !unicode.IsLetter(c) && !unicode.IsDigit(c):
			return "", false
		}
		prevLetter = unicode.IsLetter(c)
		i := scriptOf(c)
		if i < 0 {
			return "", false // a letter of no script we name
		}
		scripts |= 1 << i
	}
	if scripts&(scripts-1) != 0 && scripts&^japanese != 0 && scripts&^korean != 0 {
		return "", false // two scripts, and not Japanese's or Korean's mix
	}
	return n, true
}

// nameScripts are the scripts a name's letters may be in (scriptOf's
// indices); the last four are the CJK ones, which mix.
var nameScripts = []*unicode.RangeTable{
	unicode.Latin, unicode.Arabic, unicode.Cyrillic, unicode.Greek, unicode.Hebrew, unicode.Armenian,
	unicode.Georgian, unicode.Devanagari, unicode.Bengali, unicode.Gurmukhi, unicode.Gujarati,
	unicode.Tamil, unicode.Telugu, unicode.Kannada, unicode.Malayalam, unicode.Sinhala, unicode.Thai,
	unicode.Lao, unicode.Khmer, unicode.Myanmar, unicode.Ethiopic, unicode.Thaana, unicode.Syriac,
	unicode.Tifinagh, unicode.Han, unicode.Hiragana, unicode.Katakana, unicode.Hangul,
}

// The script mixes one name may hold: Han with kana, Han with Hangul.
const (
	han      = 1 << 24
	japanese = han | 1<<25 | 1<<26
	korean   = han | 1<<27
)

// scriptOf is c's index in nameScripts, or -1.
func scriptOf(c rune) int {
	for i, t := range nameScripts {
		if unicode.Is(t, c) {
			return i
		}
	}
	return -1
}

// NameKey is the form names are compared in: NFKC-normalised, then
// case-folded (Unicode full case folding). Two names with one key are one
// name: "alice", "ALICE" and "Alice" cannot all exist, and a login names the
// account whatever the case. The store keeps the key unique (users.name_key).
func NameKey(name string) string {
	// A cases.Caser is not safe for concurrent use: one per call (cheap).
	return norm.NFKC.String(cases.Fold().String(norm.NFKC.String(name)))
}

// reservedNames cannot be taken by self sign-up (by key): they name the
// platform or its staff, or read as a role. An admin may still create them.
var reservedNames = map[string]bool{
	"admin": true, "administrator": true, "root": true, "superuser": true, "sysadmin": true,
	"moderator": true, "mod": true, "mods": true, "staff": true, "official": true, "owner": true,
	"system": true, "majlis": true, "support": true, "help": true, "helpdesk": true, "me": true,
	"security": true, "abuse": true, "postmaster": true, "webmaster": true, "hostmaster": true, "noreply": true, "no-reply": true,
	"api": true, "www": true, "anonymous": true, "guest": true, "everyone": true, "null": true, "undefined": true,
}

// Reserved says whether self sign-up refuses name.
func Reserved(name string) bool { return reservedNames[NameKey(name)] }
