package main

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"majlis/internal/config"
	"majlis/internal/overload"
	"majlis/internal/ratelimit"
	"majlis/internal/safety"
	"majlis/internal/testkit"
)

func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

// settingKeys are the keys `majlis config` writes: every setting.
func settingKeys(t *testing.T) []string {
	t.Helper()
	var out bytes.Buffer
	if err := run(context.Background(), []string{"config"}, env(nil), &out, &out); err != nil {
		t.Fatal(err)
	}
	keys := regexp.MustCompile(`(?m)^([a-z-]+) = `).FindAllStringSubmatch(out.String(), -1)
	var names []string
	for _, k := range keys {
		names = append(names, k[1])
	}
	if len(names) < 27 {
		t.Fatalf("majlis config wrote %d settings:\n%s", len(names), out.String())
	}
	return names
}

func TestServeHelp(t *testing.T) {
	var out, errOut bytes.Buffer
	if err := run(context.Background(), []string{"serve", "--help"}, env(nil), &out, &errOut); err != nil {
		t.Fatal(err)
	}
	help := out.String()
	for _, name := range settingKeys(t) {
		flagName := "--" + name + " "
		if name == "admin-token" || name == "cluster-password" || name == "hls-cdn-secret" || name == "tdb-token" { // secrets: env or file only
			flagName = "  " + name + " "
		}
		env := "MAJLIS_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
		if !strings.Contains(help, flagName) || !strings.Contains(help, "; env "+env) {
			t.Errorf("serve --help lacks %s or %s", flagName, env)
		}
	}
	if n := strings.Count(help, "(default "); n < 27 {
		t.Errorf("serve --help shows %d defaults", n)
	}
	if !strings.Contains(help, "--config FILE") {
		t.Error("serve --help lacks --config")
	}
	out.Reset()
	if err := run(context.Background(), []string{"config", "-h"}, env(nil), &out, &errOut); err != nil || !strings.Contains(out.String(), "usage: majlis config") {
		t.Errorf("config -h: %v\n%s", err, out.String())
	}
}

func TestConfigRedactsAndLoadsBack(t *testing.T) {
	vars := env(map[string]string{"MAJLIS_ADMIN_TOKEN": "s3cret-admin-0123456789abcdefghijklmnopqrstuvwxyz", "MAJLIS_BITRATE": "64000", "MAJLIS_TICKET_TTL": "2m"})
	args := []string{"--role", "edge", "--cluster", "nats://127.0.0.1:1", "--join-limit-ip", "1/2", "--public-ip", "192.0.2.1,192.0.2.2",
		"--overload", "high", "--join-rate", "12.5", "--signup", "true"}
	var out, errOut bytes.Buffer
	if err := run(context.Background(), append([]string{"config"}, args...), vars, &out, &errOut); err != nil {
		t.Fatal(err)
	}
	text := out.String()
	if strings.Contains(text, "s3cret-admin-0123456789abcdefghijklmnopqrstuvwxyz") {
		t.Fatalf("majlis config printed the admin token:\n%s", text)
	}
	for _, want := range []string{"\nadmin-token = \"<redacted>\"\n", "\nbitrate = 64000\n", "\nrole = \"edge\"\n", "\njoin-limit-ip = \"1/2\"\n"} {
		if !strings.Contains(text, want) {
			t.Errorf("majlis config lacks %q:\n%s", want, text)
		}
	}
	want, err := config.Load(args, vars)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "majlis.toml")
	if err := os.WriteFile(file, out.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	// The file alone (the token still from the env) gives the same config.
	got, err := config.Load([]string{"--config", file}, env(map[string]string{"MAJLIS_ADMIN_TOKEN": "s3cret-admin-0123456789abcdefghijklmnopqrstuvwxyz"}))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("loaded back %+v\nwant %+v", got, want)
	}
	// Without the env, the redacted line leaves the token unset (generated), not "<redacted>".
	got, err = config.Load([]string{"--config", file}, env(nil))
	if err != nil || got.AdminToken != "" {
		t.Fatalf("admin token from a redacted file: %q, %v", got.AdminToken, err)
	}
}

func TestServeBadSetting(t *testing.T) {
	var out, errOut bytes.Buffer
	err := run(context.Background(), []string{"serve", "--bitrate", "5", "--data", t.TempDir()}, env(nil), &out, &errOut)
	if want := "--bitrate 5: want 6000..510000"; err == nil || err.Error() != want {
		t.Fatalf("err %v, want %q", err, want)
	}
	err = run(context.Background(), []string{"config"}, env(map[string]string{"MAJLIS_OVERLOAD": "panic"}), &out, &errOut)
	if want := `--overload "panic": want auto, elevated, high or critical (from MAJLIS_OVERLOAD)`; err == nil || err.Error() != want {
		t.Fatalf("err %v, want %q", err, want)
	}
}

func TestServerConfig(t *testing.T) {
	c := config.Default()
	c.DataDir, c.HTTPAddr, c.StageHTTPAddr, c.AdminAddr, c.WebRTCUDP = "/d", "h:1", "s:2", "a:3", "4"
	c.PublicIPs, c.AdminToken, c.TicketTTL = []string{"192.0.2.1"}, "tok", time.Minute
	c.Bitrate, c.Channels, c.ChunkFrames, c.ChunkMaxFrames = 48000, 2, 3, 25
	c.Signup, c.MaxCohosts, c.MaxSpeakers, c.AutoEnd = true, 4, 20, time.Hour
	c.JoinRate, c.JoinBurst = 12.5, 40
	c.JoinsPerIP, c.JoinsPerNet = ratelimit.Rate{PerSecond: 1, Burst: 2}, ratelimit.Rate{PerSecond: 3, Burst: 4}
	c.AudienceMaxConns, c.AudienceConnsPerIP, c.AudienceAcceptRate, c.Overload = 5000, 64, 500, overload.Critical
	c.Cluster, c.ClusterUser, c.EdgeMaxListeners, c.PublicURL = "nats://n:4222", "u", 9, "http://e:1"
	c.LoginsPerIP, c.LoginsPerNet = ratelimit.Rate{PerSecond: 0.5, Burst: 6}, ratelimit.Rate{PerSecond: 7, Burst: 8}
	c.HashSlots, c.HashQueue, c.HashWait = 3, 9, 700*time.Millisecond
	c.TrustedProxies = []string{"10.0.0.0/8", "192.0.2.7"}
	c.Misuse = safety.Misuse{Strikes: 5, Unfounded: 6, Window: 48 * time.Hour, Suspension: 2 * time.Hour, NoticeSuspension: 3 * time.Hour}
	c.TLSCert, c.TLSKey, c.ACMEDirectory = "/etc/c.pem", "/etc/k.pem", "https://ca.example/dir"
	var out bytes.Buffer
	s := serverConfig(c, nil, &out)
	a := s.Admission
	got := []any{s.DataDir, s.HTTPAddr, a.StageHTTPAddr, s.AdminAddr, s.WebRTCUDP, s.PublicIPs, s.AdminToken, s.TicketTTL,
		s.Bitrate, s.Channels, s.ChunkFrames, s.ChunkMaxFrames, s.Signup, s.MaxCohosts, s.MaxSpeakers, s.AutoEnd,
		a.JoinRate, a.JoinBurst, a.JoinsPerIP, a.JoinsPerPrefix, a.AudienceMaxConns, a.AudienceConnsPerIP, a.AudienceAcceptRate, a.ForceLevel,
		s.LoginsPerIP, s.LoginsPerPrefix, s.HashSlots, s.HashQueue, s.HashWait}
	want := []any{c.DataDir, c.HTTPAddr, c.StageHTTPAddr, c.AdminAddr, c.WebRTCUDP, c.PublicIPs, c.AdminToken, c.TicketTTL,
		c.Bitrate, c.Channels, c.ChunkFrames, c.ChunkMaxFrames, c.Signup, c.MaxCohosts, c.MaxSpeakers, c.AutoEnd,
		c.JoinRate, c.JoinBurst, c.JoinsPerIP, c.JoinsPerNet, c.AudienceMaxConns, c.AudienceConnsPerIP, c.AudienceAcceptRate, c.Overload,
		c.LoginsPerIP, c.LoginsPerNet, c.HashSlots, c.HashQueue, c.HashWait}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("server.Config fields\n got %v\nwant %v", got, want)
	}
	if s.Misuse != c.Misuse {
		t.Errorf("Misuse = %+v, want %+v", s.Misuse, c.Misuse)
	}
	if s.Out != &out {
		t.Error("Out not wired")
	}
	c.Role, c.TicketKeyFile, c.EdgeID = config.RoleEdge, "/k", "edge-a"
	e := edgeConfig(c, nil)
	if got, want := []any{e.DataDir, e.TicketKeyFile, e.HTTPAddr, e.AdminAddr, e.ChunkFrames, e.ChunkMaxFrames, e.Channels, e.ID},
		[]any{c.DataDir, c.TicketKeyFile, c.HTTPAddr, c.AdminAddr, c.ChunkFrames, c.ChunkMaxFrames, c.Channels, c.EdgeID}; !reflect.DeepEqual(got, want) {
		t.Errorf("server.EdgeConfig fields\n got %v\nwant %v", got, want)
	}
	if tc := c.TLSConfig(); !reflect.DeepEqual(s.TLS, tc) || !reflect.DeepEqual(e.TLS, tc) || tc.CertFile != "/etc/c.pem" {
		t.Errorf("TLS settings not wired: origin %+v, edge %+v", s.TLS, e.TLS)
	}
	if s.Cluster != c.ClusterConfig() || e.Cluster != c.ClusterConfig() || e.PublicURL != c.PublicURL {
		t.Errorf("cluster settings not wired: origin %+v, edge %+v %q", s.Cluster, e.Cluster, e.PublicURL)
	}
	// An edge's audience plane takes the same defences as an origin's.
	if got, want := []any{e.Admission.AudienceMaxConns, e.Admission.AudienceConnsPerIP, e.Admission.AudienceAcceptRate, e.Admission.ForceLevel, e.Admission.TrustedProxies, s.Admission.TrustedProxies},
		[]any{c.AudienceMaxConns, c.AudienceConnsPerIP, c.AudienceAcceptRate, c.Overload, c.TrustedProxies, c.TrustedProxies}; !reflect.DeepEqual(got, want) {
		t.Errorf("server.EdgeConfig audience settings\n got %v\nwant %v", got, want)
	}
}

// TestServeRuns starts `majlis serve` from a config file, flags and env on
// 127.0.0.1, checks the admin token from the env guards the API, and stops
// it through its context.
func TestServeRuns(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "majlis.toml")
	if err := os.WriteFile(file, []byte("http = \"127.0.0.1:0\"\nadmin = \"127.0.0.1:0\"\nwebrtc-udp = \"127.0.0.1:0\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout, stderr testkit.SyncBuffer
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"serve", "--data", filepath.Join(dir, "data")},
			env(map[string]string{"MAJLIS_CONFIG": file, "MAJLIS_ADMIN_TOKEN": "s3cret-admin-0123456789abcdefghijklmnopqrstuvwxyz"}), &stdout, &stderr)
	}()
	addr := regexp.MustCompile(`msg="majlis serving" http=(127\.0\.0\.1:\d+)`)
	var base string
	for deadline := time.Now().Add(20 * time.Second); base == ""; time.Sleep(20 * time.Millisecond) {
		select {
		case err := <-done:
			t.Fatalf("serve returned early: %v\n%s", err, stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve did not start:\n%s", stderr.String())
		}
		if m := addr.FindStringSubmatch(stderr.String()); m != nil {
			base = "http://" + m[1]
		}
	}
	client := &http.Client{Timeout: 5 * time.Second}
	for _, tc := range []struct {
		token string
		want  int
	}{{"wrong", http.StatusUnauthorized}, {"s3cret-admin-0123456789abcdefghijklmnopqrstuvwxyz", http.StatusCreated}} {
		req, _ := http.NewRequest("POST", base+"/api/v1/users", strings.NewReader(`{"name":"amal"}`))
		req.Header.Set("Authorization", "Bearer "+tc.token)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("POST /api/v1/users with token %q: %d, want %d", tc.token, resp.StatusCode, tc.want)
		}
	}
	if strings.Contains(stdout.String(), "generated admin token") {
		t.Error("generated a token although MAJLIS_ADMIN_TOKEN is set")
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("serve: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("serve did not stop")
	}
}
