// Package usertext checks the free text people type into majlis (room
// titles and descriptions, token names) before it is stored and shown to
// others: valid UTF-8 within a length, and nothing that would let one
// person's text disguise itself or attack another's screen.
//
// Refused: NUL and every other C0/C1 control character (a terminal escape
// starts with ESC), DEL, the bidirectional embedding, override and isolate
// controls (U+202A–U+202E, U+2066–U+2069: "RTL override" spoofing), the
// unassigned and private-use code points, and text made only of invisible
// characters (zero-width spaces and joiners, word joiners, BOMs, spaces).
// Line breaks and tabs are allowed where the field is multi-line. Zero-width
// joiners and non-joiners inside visible text stay allowed: emoji sequences
// and Arabic and Persian script need them.
package usertext

import (
	"errors"
	"unicode"
	"unicode/utf8"
)

// Why a text is refused.
var (
	ErrInvalid   = errors.New("not valid UTF-8")
	ErrTooLong   = errors.New("too long")
	ErrEmpty     = errors.New("empty or only invisible characters")
	ErrControl   = errors.New("contains a control character")
	ErrBidi      = errors.New("contains a bidirectional override or isolate")
	ErrCodePoint = errors.New("contains an unassigned or private-use character")
)

// Check reports why s is not acceptable as a field of at most max
// characters (runes), or nil. A multi-line field also takes \n, \r and \t.
// Empty text passes: whether a field may be empty is the caller's rule.
func Check(s string, max int, multiline bool) error {
	if !utf8.ValidString(s) {
		return ErrInvalid
	}
	n := 0
	visible := false
	for _, r := range s {
		n++
		if n > max {
			return ErrTooLong
		}
		switch {
		case r == '\n' || r == '\r' || r == '\t':
			if !multiline {
				return ErrControl
			}
			continue
		case r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0):
			return ErrControl
		case r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069:
			return ErrBidi
		case unicode.Is(unicode.Co, r) || !unicode.IsPrint(r) && !unicode.IsSpace(r) && !unicode.Is(unicode.Cf, r):
			return ErrCodePoint
		}
		if !unicode.IsSpace(r) && !unicode.Is(unicode.Cf, r) {
			visible = true
		}
	}
	if n > 0 && !visible {
		return ErrEmpty
	}
	return nil
}
