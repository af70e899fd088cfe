package usertext

import (
	"errors"
	"strings"
	"testing"
)

func TestCheck(t *testing.T) {
	cases := []struct {
		name      string
		s         string
		max       int
		multiline bool
		want      error
	}{
		{"plain", "Town hall", 200, false, nil},
		{"arabic", "مجلس المدينة", 200, false, nil},
		{"persian with a non-joiner", "می\u200cخواهم", 200, false, nil},
		{"emoji sequence with joiners", "👩\u200d👩\u200d👧 family", 200, false, nil},
		{"empty passes (the caller decides)", "", 200, false, nil},
		{"multi-line description", "line one\nline two\tend", 2000, true, nil},
		{"newline in a one-line field", "a\nb", 200, false, ErrControl},
		{"NUL", "a\x00b", 200, false, ErrControl},
		{"terminal escape", "\x1b[31mred", 200, false, ErrControl},
		{"DEL", "a\x7f", 200, false, ErrControl},
		{"C1 control", "a\u0085b", 200, false, ErrControl},
		{"RTL override", "evil\u202etxt.exe", 200, false, ErrBidi},
		{"LTR embedding", "\u202aabc", 200, false, ErrBidi},
		{"isolate", "a\u2067b\u2069", 200, false, ErrBidi},
		{"zero-width only", "\u200b\u200b\u200d", 200, false, ErrEmpty},
		{"spaces and BOM only", " \ufeff ", 200, false, ErrEmpty},
		{"private use", "a\ue000", 200, false, ErrCodePoint},
		{"unassigned", "a\U000e0fff", 200, false, ErrCodePoint},
		{"invalid UTF-8", "a\xffb", 200, false, ErrInvalid},
		{"at the limit", strings.Repeat("é", 200), 200, false, nil},
		{"over the limit", strings.Repeat("é", 201), 200, false, ErrTooLong},
	}
	for _, c := range cases {
		if got := Check(c.s, c.max, c.multiline); !errors.Is(got, c.want) {
			t.Errorf("%s: Check(%q) = %v, want %v", c.name, c.s, got, c.want)
		}
	}
}

func FuzzCheck(f *testing.F) {
	for _, s := range []string{"Town hall", "\u202e", "\x1b[0m", "a\nb", "\u200b", "مجلس"} {
		f.Add(s, true)
	}
	f.Fuzz(func(t *testing.T, s string, multiline bool) {
		err := Check(s, 64, multiline)
		if err == nil {
			for _, r := range s {
				if r < 0x20 && !(multiline && (r == '\n' || r == '\r' || r == '\t')) || r >= 0x202a && r <= 0x202e || r >= 0x2066 && r <= 0x2069 {
					t.Fatalf("accepted %q with %U", s, r)
				}
			}
		}
	})
}
