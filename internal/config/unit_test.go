package config

import (
	"bufio"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

const unitPath = "../../deploy/majlis.service"

// unitFile is a systemd unit: per section, each key's values in order (a
// key may be given more than once).
type unitFile map[string]map[string][]string

// parseUnit reads systemd's unit syntax (systemd.syntax(7)): [Section]
// lines, Key=Value lines, '#' and ';' comments, a trailing backslash
// continuing a line.
func parseUnit(data string) (unitFile, error) {
	u := unitFile{}
	section := ""
	var cont strings.Builder
	sc := bufio.NewScanner(strings.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if cont.Len() > 0 {
			if strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";") {
				continue // comments inside a continuation are skipped
			}
			line = cont.String() + line
			cont.Reset()
		}
		if line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";") {
			continue
		}
		if strings.HasSuffix(line, `\`) {
			cont.WriteString(strings.TrimSuffix(line, `\`) + " ")
			continue
		}
		if strings.HasPrefix(line, "[") {
			if !strings.HasSuffix(line, "]") {
				return nil, errors.New("line " + strconv.Itoa(n) + ": bad section header")
			}
			section = line[1 : len(line)-1]
			if u[section] == nil {
				u[section] = map[string][]string{}
			}
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok || section == "" {
			return nil, errors.New("line " + strconv.Itoa(n) + ": not Key=Value in a section")
		}
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		u[section][k] = append(u[section][k], v)
	}
	return u, sc.Err()
}

// one is a key's single value; "" and false when it is absent.
func (u unitFile) one(section, key string) (string, bool) {
	v := u[section][key]
	if len(v) == 0 {
		return "", false
	}
	return v[len(v)-1], true // the last assignment wins
}

// TestSystemdUnit: deploy/majlis.service runs `majlis serve` with flags
// the serve command has (and values it accepts), its data dir is the
// StateDirectory, and its hardening and stop settings are there. Where
// systemd-analyze is installed, `systemd-analyze verify` must accept the
// unit without a word.
func TestSystemdUnit(t *testing.T) {
	data, err := os.ReadFile(unitPath)
	if err != nil {
		t.Fatal(err)
	}
	u, err := parseUnit(string(data))
	if err != nil {
		t.Fatalf("%s: %v", unitPath, err)
	}
	const svc = "Service"

	// ExecStart: the binary, "serve", then serve's own flags.
	start, ok := u.one(svc, "ExecStart")
	if !ok {
		t.Fatal("no ExecStart")
	}
	if strings.ContainsAny(start, `"'`) {
		t.Fatalf("ExecStart %q: quotes (this test splits at spaces)", start)
	}
	args := strings.Fields(start)
	if len(args) < 2 || !filepath.IsAbs(args[0]) || filepath.Base(args[0]) != "majlis" || args[1] != "serve" {
		t.Fatalf("ExecStart %q is not /…/majlis serve …", start)
	}
	// serve's flags are parseFlags': --config and every setting but the
	// secrets. Load then parses the whole line as serve does.
	serveFlags := map[string]bool{"config": true}
	for _, s := range settings() {
		if !s.secret {
			serveFlags[s.name] = true
		}
	}
	flags := args[2:]
	stateDir := t.TempDir()
	expanded := make([]string, len(flags))
	for i, a := range flags {
		expanded[i] = strings.ReplaceAll(a, "%S", stateDir) // %S: /var/lib for a system unit
		if strings.HasPrefix(a, "-") {
			if name, _, _ := strings.Cut(strings.TrimLeft(a, "-"), "="); !serveFlags[name] {
				t.Errorf("ExecStart flag %s is no flag of majlis serve", a)
			}
		}
	}
	c, err := Load(expanded, func(string) string { return "" })
	if err != nil {
		t.Fatalf("majlis serve %s: %v", strings.Join(flags, " "), err)
	}
	state, ok := u.one(svc, "StateDirectory")
	if !ok || state == "" || strings.ContainsAny(state, " /") {
		t.Fatalf("StateDirectory %q: want one directory name", state)
	}
	if want := filepath.Join(stateDir, state); c.DataDir != want {
		t.Errorf("the data dir is %q, want the StateDirectory (%%S/%s)", strings.ReplaceAll(c.DataDir, stateDir, "%S"), state)
	}

	// Hardening.
	for k, want := range map[string]string{
		"DynamicUser": "yes", "ProtectSystem": "strict", "NoNewPrivileges": "yes", "PrivateTmp": "yes",
		"ProtectHome": "yes", "SystemCallFilter": "@system-service", "KillSignal": "SIGTERM",
	} {
		if v, _ := u.one(svc, k); v != want {
			t.Errorf("%s=%q, want %q", k, v, want)
		}
	}
	fams, _ := u.one(svc, "RestrictAddressFamilies")
	have := map[string]bool{}
	for _, f := range strings.Fields(fams) {
		have[f] = true
	}
	// AF_NETLINK: WebRTC lists the interfaces for its ICE candidates.
	for _, f := range []string{"AF_INET", "AF_INET6", "AF_UNIX", "AF_NETLINK"} {
		if !have[f] {
			t.Errorf("RestrictAddressFamilies=%q lacks %s", fams, f)
		}
	}
	if strings.HasPrefix(fams, "~") {
		t.Errorf("RestrictAddressFamilies=%q is a deny list", fams)
	}
	// Every listener is a descriptor, and 1024 are kept back from the
	// audience (docs/operations.md): far more than the default 1024.
	if v, _ := u.one(svc, "LimitNOFILE"); v != "infinity" {
		soft, _, _ := strings.Cut(v, ":")
		if n, err := strconv.Atoi(soft); err != nil || n < 65536 {
			t.Errorf("LimitNOFILE=%q: want at least 65536 (a listener per descriptor)", v)
		}
	}
	// The graceful stop drains HTTP for up to 10 s (server.Serve), then
	// ends recordings and the store.
	if v, _ := u.one(svc, "TimeoutStopSec"); !stopTimeoutFits(v, 15*time.Second) {
		t.Errorf("TimeoutStopSec=%q: want at least 15s", v)
	}
	// SIGHUP reloads the certificate files (and is harmless without them).
	if v, _ := u.one(svc, "ExecReload"); v != "/bin/kill -HUP $MAINPID" {
		t.Errorf("ExecReload=%q, want /bin/kill -HUP $MAINPID (SIGHUP reloads the TLS certificate)", v)
	}

	verifyUnit(t, string(data), args[0])
}

// stopTimeoutFits: v (seconds, or a systemd time span of s and min) is at
// least min.
func stopTimeoutFits(v string, min time.Duration) bool {
	if n, err := strconv.Atoi(v); err == nil {
		return time.Duration(n)*time.Second >= min
	}
	d, err := time.ParseDuration(strings.ReplaceAll(strings.ReplaceAll(v, "min", "m"), " ", ""))
	return err == nil && d >= min
}

// verifyUnit runs `systemd-analyze verify` on the unit when the machine
// has it. verify checks that ExecStart's binary exists, which it does
// not here: the copy it checks names this test's own executable instead.
// verify reports most mistakes (an unknown key, a bad value) on stderr
// and still exits 0, so any output fails.
func verifyUnit(t *testing.T, unit, bin string) {
	tool, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Log("systemd-analyze not installed: the unit was parsed and checked above, but not verified by systemd")
		return
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "majlis.service")
	if err := os.WriteFile(path, []byte(strings.Replace(unit, "ExecStart="+bin+" ", "ExecStart="+self+" ", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, tool, "verify", "--man=no", path).CombinedOutput()
	if err != nil || len(out) > 0 {
		t.Errorf("systemd-analyze verify %s (ExecStart's binary replaced by %s): %v\n%s", unitPath, self, err, out)
	}
}
