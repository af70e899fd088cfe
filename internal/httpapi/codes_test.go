package httpapi

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestEveryErrorCodeDocumented: every error code the server's sources
// answer with (errorf, apierror.New, the admission refusals) is in the
// error table or the text of docs/api.md, written as `code`.
func TestEveryErrorCodeDocumented(t *testing.T) {
	doc, err := os.ReadFile("../../docs/api.md")
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`(?:errorf|apierror\.New|refuse|Refuse)\([^,()]*, *"([a-z_]+)"`)
	codes := map[string]string{}
	for _, dir := range []string{"..", "../../cmd"} {
		err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
				return err
			}
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			for _, m := range re.FindAllSubmatch(b, -1) {
				codes[string(m[1])] = p
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if len(codes) < 80 {
		t.Fatalf("found only %d codes: the pattern no longer matches the sources", len(codes))
	}
	for c, file := range codes {
		if !strings.Contains(string(doc), "`"+c+"`") {
			t.Errorf("code %s (%s) is not in docs/api.md", c, file)
		}
	}
}
