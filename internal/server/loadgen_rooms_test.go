package server

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"majlis/internal/loadgen"
)

// TestLoadgenOpensRooms: `majlis loadgen --rooms N` opens N live rooms with
// the admin token, spreads its listeners over them (every one verified to
// get continuous audio), and ends the rooms afterwards; with --listeners 0
// and --keep-rooms it holds the rooms, measures the server, and leaves
// them live. Misuse is refused with a clear message.
func TestLoadgenOpensRooms(t *testing.T) {
	dir := t.TempDir()
	ts := startServerWith(t, dir, func(*Config) {})
	bin := buildMajlis(t)
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte(testAdminToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) (string, error) {
		cmd := exec.Command(bin, append([]string{"loadgen", "--origin", ts.base}, args...)...)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	liveLoadgenRooms := func() []string {
		var list struct {
			Rooms []struct {
				ID    string `json:"id"`
				Title string `json:"title"`
			} `json:"rooms"`
		}
		if code := ts.call(t, "GET", "/api/v1/rooms?state=live", "", nil, &list); code != 200 {
			t.Fatalf("room list: %d", code)
		}
		var ids []string
		for _, r := range list.Rooms {
			if strings.HasPrefix(r.Title, "loadgen ") {
				ids = append(ids, r.ID)
			}
		}
		return ids
	}

	out := filepath.Join(t.TempDir(), "report.json")
	if msg, err := run("--rooms", "3", "--token-file", tokenFile, "--listeners", "6", "--proto", "mix", "--ramp", "0",
		"--duration", "4s", "--ticket-key-file", filepath.Join(dir, "ticket.key"), "--out", out); err != nil {
		t.Fatalf("loadgen --rooms 3: %v\n%s", err, msg)
	}
	var rep loadgen.Report
	raw, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &rep); err != nil {
		t.Fatal(err)
	}
	if rooms := strings.Split(rep.Config.Room, ","); len(rooms) != 3 {
		t.Fatalf("the run's rooms: %q, want 3", rep.Config.Room)
	}
	if rep.Listeners != 6 || rep.WithAudio != 6 || rep.Failed != 0 || rep.Stalled != 0 {
		t.Fatalf("report: %d listeners, %d with audio, %d failed, %d stalled; want 6 with audio", rep.Listeners, rep.WithAudio, rep.Failed, rep.Stalled)
	}
	if left := liveLoadgenRooms(); len(left) != 0 {
		t.Fatalf("rooms still live after the run: %v", left)
	}

	out2 := filepath.Join(t.TempDir(), "hold.json")
	if msg, err := run("--rooms", "2", "--token-file", tokenFile, "--listeners", "0", "--keep-rooms", "--duration", "10s",
		"--server-pids", strconv.Itoa(os.Getpid()), "--out", out2); err != nil {
		t.Fatalf("loadgen --rooms 2 --listeners 0: %v\n%s", err, msg)
	}
	var hold struct {
		Rooms  int                `json:"rooms"`
		Server *loadgen.ProcUsage `json:"server"`
	}
	if raw, err = os.ReadFile(out2); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &hold); err != nil {
		t.Fatal(err)
	}
	if hold.Rooms != 2 || hold.Server == nil || hold.Server.WindowS < 2 || hold.Server.CPUSeconds <= 0 || hold.Server.CtxSwitchesPerS <= 0 {
		t.Fatalf("hold report: %s", raw)
	}
	if left := liveLoadgenRooms(); len(left) != 2 {
		t.Fatalf("--keep-rooms: %d loadgen rooms live, want 2", len(left))
	}

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--rooms", "2", "--listeners", "1"}, "--token-file"},
		{[]string{"--rooms", "2", "--room", "x", "--token-file", tokenFile}, "one of them"},
		{[]string{"--rooms", "2", "--listeners", "0", "--token-file", tokenFile}, "--server-pids"},
		{[]string{"--rooms", "20000", "--token-file", tokenFile}, "want 1..10000"},
		{[]string{"--rooms", "1", "--listeners", "1", "--token-file", os.DevNull}, "token"},
	} {
		start := time.Now()
		msg, err := run(tc.args...)
		if err == nil || !strings.Contains(msg, tc.want) {
			t.Errorf("loadgen %v: err %v, output %q; want a refusal saying %q", tc.args, err, msg, tc.want)
		}
		if time.Since(start) > 20*time.Second {
			t.Errorf("loadgen %v took %v to refuse", tc.args, time.Since(start))
		}
	}
}
