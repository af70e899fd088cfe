package httpapi

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"majlis/internal/safety"
)

// TestSafetyErrorCodes: every error of the safety domain leaves with its
// stable code and status, a field error as 400 with its own code, and
// every code, field codes included, is documented in docs/api.md.
func TestSafetyErrorCodes(t *testing.T) {
	doc, err := os.ReadFile("../../docs/api.md")
	if err != nil {
		t.Fatal(err)
	}
	documented := func(code string) bool { return strings.Contains(string(doc), "`"+code+"`") }
	for _, e := range safetyErrors {
		got := toAPIError(fmt.Errorf("wrapped: %w", e.err))
		if got != e.api || got.Status < 400 || got.Code == "" {
			t.Errorf("%v: %+v", e.err, got)
		}
		if !documented(got.Code) {
			t.Errorf("code %s is not in docs/api.md", got.Code)
		}
	}
	if got := toAPIError(&safety.FieldError{Code: "bad_category", Field: "category", Message: "m"}); got.Status != http.StatusBadRequest || got.Code != "bad_category" {
		t.Errorf("field error: %+v", got)
	}
	// The codes of the domain's field errors, from its source.
	files, _ := filepath.Glob("../safety/*.go")
	re := regexp.MustCompile(`fieldErr\("([a-z_]+)"`)
	codes := map[string]bool{"bad_duration": true, "bad_since": true, "bad_limit": true, "bad_range": true, "bad_area": true} // httpapi's own
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range re.FindAllSubmatch(b, -1) {
			codes[string(m[1])] = true
		}
	}
	if len(codes) < 20 {
		t.Fatalf("found only %d codes", len(codes))
	}
	for c := range codes {
		if !documented(c) {
			t.Errorf("code %s is not in docs/api.md", c)
		}
	}
}
