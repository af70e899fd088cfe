package account

import (
	"strings"
	"testing"
)

func TestValidAdminToken(t *testing.T) {
	for _, c := range []struct {
		tok string
		ok  bool
	}{
		{"", false}, {"x", false}, {"test-admin-token", false}, {strings.Repeat("a", MinAdminToken-1), false},
		{strings.Repeat("a", MinAdminToken), true},
		{"mja_" + strings.Repeat("0f", 24), true}, // the generated form of old data dirs
		{strings.Repeat("ab", 32), true},          // 64 hex digits
		{"AZaz09-_.~" + strings.Repeat("x", 40), true},
		{strings.Repeat("a", 42) + " b", false}, {strings.Repeat("a", 42) + "/", false}, {strings.Repeat("é", 30), false},
		{strings.Repeat("a", MaxSecret+1), false},
	} {
		if got := ValidAdminToken(c.tok); got != c.ok {
			t.Errorf("ValidAdminToken(%q) = %v, want %v", c.tok, got, c.ok)
		}
	}
}
