package server

import (
	"context"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestQuickSession: the README's quick session (scripts/session) against a
// running server: a user, a live room, the WHIP URL and a listen URL that
// plays. Run twice, it reuses the user and opens another room; a name
// taken by someone else, a stopped server or no admin token end with a
// message that says what to do, never with TOKEN=null.
func TestQuickSession(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		t.Fatalf("MAJLIS-SKIP-TOOL: curl: %v (scripts/deps installs it)", err)
	}
	dir := t.TempDir()
	ts := startServerWith(t, dir, func(*Config) {})
	run := func(env []string, args ...string) (string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, "../../scripts/session", args...)
		cmd.Env = append(os.Environ(), env...)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	env := []string{"MAJLIS_URL=" + ts.base, "MAJLIS_DATA=" + dir, "MAJLIS_ADMIN_TOKEN=" + testAdminToken}
	roomRE := regexp.MustCompile(`Room: +(\S+), live`)
	bearerRE := regexp.MustCompile(`Bearer: +(\S+)`)
	listenRE := regexp.MustCompile(`ffplay -nodisp "([^"]+)"`)
	var rooms, bearers []string
	for i := range 2 {
		out, err := run(env, "amal", "Town hall")
		if err != nil {
			t.Fatalf("run %d: %v\n%s", i+1, err, out)
		}
		r, b, l := roomRE.FindStringSubmatch(out), bearerRE.FindStringSubmatch(out), listenRE.FindStringSubmatch(out)
		if r == nil || b == nil || l == nil || strings.Contains(out, "null") || !strings.Contains(out, ts.base+"/api/v1/rooms/"+r[1]+"/whip") {
			t.Fatalf("run %d printed:\n%s", i+1, out)
		}
		rooms, bearers = append(rooms, r[1]), append(bearers, b[1])
		if st := ts.state(t, r[1]); st.State != "live" {
			t.Errorf("run %d: room %s is %q", i+1, r[1], st.State)
		}
		// The listen URL plays: an Ogg stream begins.
		c := &http.Client{Timeout: 10 * time.Second}
		resp, err := c.Get(l[1])
		if err != nil {
			t.Fatal(err)
		}
		head := make([]byte, 4)
		_, err = io.ReadFull(resp.Body, head)
		resp.Body.Close()
		if resp.StatusCode != 200 || err != nil || string(head) != "OggS" {
			t.Fatalf("run %d: the listen URL answered %d %q %v", i+1, resp.StatusCode, head, err)
		}
	}
	if rooms[0] == rooms[1] || bearers[0] != bearers[1] {
		t.Errorf("second run: rooms %v, tokens %v; want a new room for the same user", rooms, bearers)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "session-*.token"))
	if len(files) != 1 {
		t.Errorf("token files %v, want one", files)
	}
	if fi, err := os.Stat(files[0]); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("token file mode: %v %v", fi.Mode(), err)
	}

	other := t.TempDir() // another data dir: amal's token is not there
	for _, c := range []struct {
		env  []string
		want string
	}{
		{[]string{"MAJLIS_URL=" + ts.base, "MAJLIS_DATA=" + other, "MAJLIS_ADMIN_TOKEN=" + testAdminToken}, "pick another"},
		{[]string{"MAJLIS_URL=http://127.0.0.1:1", "MAJLIS_DATA=" + dir, "MAJLIS_ADMIN_TOKEN=" + testAdminToken}, "is the server running"},
		{[]string{"MAJLIS_URL=" + ts.base, "MAJLIS_DATA=" + other, "MAJLIS_ADMIN_TOKEN="}, "no admin token"},
		{[]string{"MAJLIS_URL=" + ts.base, "MAJLIS_DATA=" + dir, "MAJLIS_ADMIN_TOKEN=wrong-token-0123456789abcdefghijklmnopqrstuvwxyz"}, "does not take this admin token"},
	} {
		out, err := run(c.env, "amal")
		if err == nil || !strings.Contains(out, c.want) || strings.Contains(out, "null") {
			t.Errorf("%v: err %v, output %q; want a refusal saying %q", c.env, err, out, c.want)
		}
	}
}
