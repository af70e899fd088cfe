package config

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/BurntSushi/toml"

	"majlis/internal/overload"
	"majlis/internal/ratelimit"
)

// env is a getenv over a map.
func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func writeFile(t *testing.T, name, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestDefaultValid(t *testing.T) {
	if err := Default().Validate(); err != nil {
		t.Fatal(err)
	}
	c, err := Load(nil, env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(c, Default()) {
		t.Fatalf("Load with nothing set = %+v, want Default() %+v", c, Default())
	}
}

// TestPrecedence sets settings of every type in the file, the env and the
// flags, and checks default < file < env < flag for each.
func TestPrecedence(t *testing.T) {
	tests := []struct {
		name string
		file string // TOML line setting the file layer
		env  string
		flag string
		get  func(Config) any
		want [4]any // after default, +file, +env, +flag
	}{
		{"bitrate", "bitrate = 64000", "96000", "128000", func(c Config) any { return c.Bitrate },
			[4]any{32000, 64000, 96000, 128000}},
		{"ticket-ttl", `ticket-ttl = "1m"`, "2m", "3m", func(c Config) any { return c.TicketTTL },
			[4]any{5 * time.Minute, time.Minute, 2 * time.Minute, 3 * time.Minute}},
		{"join-limit-ip", `join-limit-ip = "1/2"`, "3/4", "5.5/6", func(c Config) any { return c.JoinsPerIP },
			[4]any{ratelimit.Rate{PerSecond: 5, Burst: 20}, ratelimit.Rate{PerSecond: 1, Burst: 2}, ratelimit.Rate{PerSecond: 3, Burst: 4}, ratelimit.Rate{PerSecond: 5.5, Burst: 6}}},
		{"public-ip", `public-ip = ["192.0.2.1"]`, "192.0.2.2,192.0.2.3", "192.0.2.4", func(c Config) any { return c.PublicIPs },
			[4]any{[]string(nil), []string{"192.0.2.1"}, []string{"192.0.2.2", "192.0.2.3"}, []string{"192.0.2.4"}}},
		{"signup", "signup = true", "false", "true", func(c Config) any { return c.Signup },
			[4]any{false, true, false, true}},
		{"join-rate", "join-rate = 50", "25.5", "10", func(c Config) any { return c.JoinRate },
			[4]any{100.0, 50.0, 25.5, 10.0}},
		{"overload", `overload = "elevated"`, "high", "critical", func(c Config) any { return c.Overload },
			[4]any{overload.Normal, overload.Elevated, overload.High, overload.Critical}},
		{"http", `http = "127.0.0.1:1"`, "127.0.0.1:2", "127.0.0.1:3", func(c Config) any { return c.HTTPAddr },
			[4]any{"127.0.0.1:8080", "127.0.0.1:1", "127.0.0.1:2", "127.0.0.1:3"}},
		{"role", `role = "edge"` + "\ncluster = \"nats://127.0.0.1:1\"", "origin", "edge", func(c Config) any { return c.Role },
			[4]any{RoleOrigin, RoleEdge, RoleOrigin, RoleEdge}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			file := writeFile(t, "majlis.toml", tt.file+"\n")
			envs := map[string]string{}
			var args []string
			layers := []func(){
				func() {},
				func() { args = append(args, "--config", file) },
				func() { envs[envName(tt.name)] = tt.env },
				func() { args = append(args, "--"+tt.name, tt.flag) },
			}
			if tt.name == "role" { // an edge needs its cluster at every layer
				envs["MAJLIS_CLUSTER"] = "nats://127.0.0.1:1"
			}
			for i, add := range layers {
				add()
				c, err := Load(args, env(envs))
				if err != nil {
					t.Fatalf("layer %d: %v", i, err)
				}
				if got := tt.get(c); !reflect.DeepEqual(got, tt.want[i]) {
					t.Errorf("layer %d (args %q, env %v): %s = %v, want %v", i, args, envs, tt.name, got, tt.want[i])
				}
			}
		})
	}
}

func TestConfigFileFromEnv(t *testing.T) {
	a := writeFile(t, "a.toml", "bitrate = 64000\n")
	b := writeFile(t, "b.toml", "bitrate = 96000\n")
	c, err := Load(nil, env(map[string]string{EnvConfig: a}))
	if err != nil || c.Bitrate != 64000 {
		t.Fatalf("MAJLIS_CONFIG: bitrate %d, err %v; want 64000", c.Bitrate, err)
	}
	c, err = Load([]string{"--config", b}, env(map[string]string{EnvConfig: a}))
	if err != nil || c.Bitrate != 96000 {
		t.Fatalf("--config over MAJLIS_CONFIG: bitrate %d, err %v; want 96000", c.Bitrate, err)
	}
	if _, err := Load([]string{"--config", filepath.Join(t.TempDir(), "none.toml")}, env(nil)); err == nil || !strings.Contains(err.Error(), "none.toml") {
		t.Fatalf("missing file: err %v, want one naming it", err)
	}
}

// TestBadValues gives every setting with a range a bad value, by flag,
// and checks the error names the setting.
func TestBadValues(t *testing.T) {
	tests := []struct{ name, value, want string }{
		{"bitrate", "5", "--bitrate 5: want 6000..510000"},
		{"bitrate", "abc", `--bitrate "abc": want 6000..510000`},
		{"bitrate", "600000", "--bitrate 600000: want 6000..510000"},
		{"channels", "3", "--channels 3: want 1 or 2"},
		{"chunk-frames", "0", "--chunk-frames 0: want 1..50"},
		{"chunk-frames", "51", "--chunk-frames 51: want 1..50"},
		{"chunk-max-frames", "99", "--chunk-max-frames 99: want 1..50"},
		{"ticket-ttl", "5s", "--ticket-ttl 5s: want a duration of at least 10s"},
		{"ticket-ttl", "5", `--ticket-ttl "5": want a duration of at least 10s`},
		{"signup", "maybe", `--signup "maybe": want true or false`},
		{"login-limit-ip", "1/0", "--login-limit-ip 1/0: want RATE/BURST, e.g. 0.25/20"},
		{"login-limit-net", "0/5", "--login-limit-net 0/5: want RATE/BURST, e.g. 5/100"},
		{"hash-slots", "-1", "--hash-slots -1: want a count ≥ 0"},
		{"hash-queue", "0", "--hash-queue 0: want a count ≥ 1"},
		{"hash-wait", "1ms", "--hash-wait 1ms: want a duration from 10ms to 30s"},
		{"max-cohosts", "0", "--max-cohosts 0: want 1..20"},
		{"max-cohosts", "21", "--max-cohosts 21: want 1..20"},
		{"max-speakers", "101", "--max-speakers 101: want 1..100"},
		{"auto-end", "-1m", "--auto-end -1m: want a duration, 0 for never"},
		{"recording-retention", "-1h", "--recording-retention -1h: want a duration, 0 for until deleted"},
		{"clip-ttl", "10s", "--clip-ttl 10s: want a duration of at least 1m"},
		{"evidence-window", "25h", "--evidence-window 25h: want a duration from 1m to 24h"},
		{"evidence-retention", "30m", "--evidence-retention 30m: want a duration of at least 1h"},
		{"misuse-strikes", "0", "--misuse-strikes 0: want 1..100"},
		{"misuse-unfounded", "101", "--misuse-unfounded 101: want 1..100"},
		{"misuse-window", "1h", "--misuse-window 1h: want a duration of at least 24h"},
		{"misuse-suspension", "10m", "--misuse-suspension 10m: want a duration of at least 1h"},
		{"misuse-notice-suspension", "0s", "--misuse-notice-suspension 0s: want a duration of at least 1h"},
		{"role", "relay", `--role "relay": want origin or edge`},
		{"join-rate", "0", "--join-rate 0: want a positive number"},
		{"join-rate", "NaN", "--join-rate NaN: want a positive number"},
		{"join-burst", "-1", "--join-burst -1: want a number ≥ 0"},
		{"join-limit-ip", "5", `--join-limit-ip "5": want RATE/BURST, e.g. 5/20`},
		{"join-limit-ip", "5/0", "--join-limit-ip 5/0: want RATE/BURST, e.g. 5/20"},
		{"join-limit-net", "0/10", "--join-limit-net 0/10: want RATE/BURST, e.g. 100/500"},
		{"auth-fail-limit-ip", "1/0", "--auth-fail-limit-ip 1/0: want RATE/BURST, e.g. 1/10"},
		{"auth-fail-limit-net", "x", `--auth-fail-limit-net "x": want RATE/BURST, e.g. 10/100`},
		{"report-limit-ip", "1/0", "--report-limit-ip 1/0: want RATE/BURST, e.g. 0.1/5"},
		{"report-limit-net", "0/1", "--report-limit-net 0/1: want RATE/BURST, e.g. 1/50"},
		{"trusted-proxies", "10.0.0.0/33", "--trusted-proxies 10.0.0.0/33: want comma-separated CIDRs or IPs"},
		{"audience-max-conns", "-1", "--audience-max-conns -1: want a count"},
		{"audience-conns-per-ip", "0", "--audience-conns-per-ip 0: want a count ≥ 1"},
		{"audience-accept-rate", "-5", "--audience-accept-rate -5: want a positive number"},
		{"overload", "panic", `--overload "panic": want auto, elevated, high or critical`},
		{"edge-max-listeners", "0", "--edge-max-listeners 0: want a count ≥ 1"},
		{"edge-id", "edge.a", "--edge-id edge.a: want up to 64 of a-z, 0-9, _ and -, or empty"}, // two subject tokens
		{"edge-id", "*", "--edge-id *: want up to 64 of a-z, 0-9, _ and -, or empty"},
		{"edge-id", "Edge-A", "--edge-id Edge-A: want up to 64 of a-z, 0-9, _ and -, or empty"},
		{"edge-id", strings.Repeat("e", 65), "--edge-id " + strings.Repeat("e", 65) + ": want up to 64 of a-z, 0-9, _ and -, or empty"},
		{"hls-part", "30ms", "--hls-part 30ms: want a multiple of 20ms from 100ms to 2s"},
		{"hls-part", "3s", "--hls-part 3s: want a multiple of 20ms from 100ms to 2s"},
		{"hls-segment", "1700ms", "--hls-segment 1.7s: want a multiple of --hls-part up to 10s"},
		{"hls-token-window", "10s", "--hls-token-window 10s: want a duration of at least 1m"},
		{"hls-url", "ftp://cdn", "--hls-url ftp://cdn: want http(s)://HOST[:PORT] or empty"},
		{"hls-url", "https://cdn/", "--hls-url https://cdn/: want http(s)://HOST[:PORT] or empty"},
		{"hls-url", "https://cdn/live", "--hls-url https://cdn/live: want http(s)://HOST[:PORT] or empty"},
		{"public-url", "majlis.example", "--public-url majlis.example: want http(s)://HOST[:PORT] or empty"},
		{"public-url", "https://majlis.example/", "--public-url https://majlis.example/: want http(s)://HOST[:PORT] or empty"},
		{"public-url", "https://majlis.example?x", "--public-url https://majlis.example?x: want http(s)://HOST[:PORT] or empty"},
		{"tdb-url", "ftp://tdb", "--tdb-url ftp://tdb: want http(s)://… or empty"},
		{"acme-directory", "ftp://ca", "--acme-directory ftp://ca: want https://… or empty"},
	}
	covered := map[string]bool{"admin-token": true, "hls-cdn-secret": true, "tdb-token": true} // no flag: TestAdminTokenRule, TestHLSCDNSecretRule, TestTDBTokenRule
	for _, tt := range tests {
		covered[tt.name] = true
		_, err := Load([]string{"--" + tt.name, tt.value}, env(nil))
		if err == nil || err.Error() != tt.want {
			t.Errorf("--%s %s: err %v, want %q", tt.name, tt.value, err, tt.want)
		}
	}
	for _, s := range settings() {
		if s.ok != nil && !covered[s.name] {
			t.Errorf("setting %s has a range and no bad-value case here", s.name)
		}
	}
}

func TestBadEnvNamesVariable(t *testing.T) {
	_, err := Load(nil, env(map[string]string{"MAJLIS_BITRATE": "abc"}))
	if want := `--bitrate "abc": want 6000..510000 (from MAJLIS_BITRATE)`; err == nil || err.Error() != want {
		t.Fatalf("err %v, want %q", err, want)
	}
	// A range error from the env names the setting too.
	_, err = Load(nil, env(map[string]string{"MAJLIS_MAX_SPEAKERS": "0"}))
	if want := "--max-speakers 0: want 1..100"; err == nil || err.Error() != want {
		t.Fatalf("err %v, want %q", err, want)
	}
}

func TestValidateInCode(t *testing.T) {
	tests := []struct {
		edit func(*Config)
		want string
	}{
		{func(c *Config) { c.Overload = 7 }, "--overload 7: want auto, elevated, high or critical"},
		{func(c *Config) { c.Role = "" }, `--role "": want origin or edge`},
		{func(c *Config) { c.Role = RoleEdge }, "--cluster: required with --role edge (an edge takes the programs from NATS)"},
		{func(c *Config) { c.ProxyProtocol = true }, "--proxy-protocol: needs --trusted-proxies (the proxies that send the header)"},
		{func(c *Config) { c.Cluster = "redis://x" }, `--cluster: cluster "redis://x": want embedded or nats://host:port[,…]`},
		{func(c *Config) { c.Cluster, c.ClusterUser, c.ClusterCreds = "embedded", "u", "/f" }, "--cluster: cluster credentials: one of user/password, a creds file or an nkey file"},
		{func(c *Config) { c.JoinsPerNet = ratelimit.Rate{} }, "--join-limit-net 0/0: want RATE/BURST, e.g. 100/500"},
	}
	for _, tt := range tests {
		c := Default()
		tt.edit(&c)
		if err := c.Validate(); err == nil || err.Error() != tt.want {
			t.Errorf("err %v, want %q", err, tt.want)
		}
	}
}

func TestArgs(t *testing.T) {
	if _, err := Load([]string{"-h"}, env(nil)); !errors.Is(err, flag.ErrHelp) {
		t.Errorf("-h: err %v, want flag.ErrHelp", err)
	}
	if _, err := Load([]string{"--help"}, env(nil)); !errors.Is(err, flag.ErrHelp) {
		t.Errorf("--help: err %v, want flag.ErrHelp", err)
	}
	if _, err := Load([]string{"--bitrat", "1"}, env(nil)); err == nil || !strings.Contains(err.Error(), "bitrat") {
		t.Errorf("unknown flag: err %v", err)
	}
	// --signup takes its value, so what follows is still a flag.
	c, err := Load([]string{"--signup", "true", "--bitrate", "64000"}, env(nil))
	if err != nil || !c.Signup || c.Bitrate != 64000 {
		t.Errorf("--signup true --bitrate 64000: %+v, %v", c, err)
	}
	if _, err := Load([]string{"--bitrate", "64000", "stray"}, env(nil)); err == nil || !strings.Contains(err.Error(), `"stray"`) {
		t.Errorf("stray argument: err %v", err)
	}
	// The admin token is never a flag.
	if _, err := Load([]string{"--admin-token", "x"}, env(nil)); err == nil {
		t.Error("--admin-token accepted as a flag")
	}
	c, err = Load(nil, env(map[string]string{"MAJLIS_ADMIN_TOKEN": testToken}))
	if err != nil || c.AdminToken != testToken {
		t.Errorf("MAJLIS_ADMIN_TOKEN: %q, %v", c.AdminToken, err)
	}
}

func TestFileErrors(t *testing.T) {
	tests := []struct{ name, text, want string }{
		{"unknown key", "bitrate = 64000\nbitrat = 1\n", `:2: unknown setting "bitrat"`},
		{"unknown table", "[server]\nhttp = \"x\"\n", `:1: unknown setting "server"`},
		{"malformed", "bitrate = 64000\nhttp = \n", ":2: "},
		{"unclosed string", "data = \"x\n", ":1: "},
		{"duplicate key", "bitrate = 64000\nbitrate = 96000\n", ":2: "},
		{"wrong type", "signup = true\nbitrate = \"64000\"\n", ":2: --bitrate: want 6000..510000 (a TOML integer), not a string"},
		{"out of syntax", "ticket-ttl = \"soon\"\n", `:1: --ticket-ttl "soon": want a duration of at least 10s`},
		{"list of numbers", "public-ip = [1]\n", ":1: --public-ip: want an array of strings, not of an integer"},
		{"float for integer", "bitrate = 6.4e4\n", ":1: --bitrate: want 6000..510000 (a TOML integer), not a float"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := writeFile(t, "bad.toml", tt.text)
			_, err := Load([]string{"--config", p}, env(nil))
			if err == nil || !strings.HasPrefix(err.Error(), p+tt.want) {
				t.Fatalf("err %v, want prefix %q", err, p+tt.want)
			}
		})
	}
}

func TestUsageListsEverySetting(t *testing.T) {
	var b bytes.Buffer
	Usage(&b, "serve")
	help := b.String()
	def := Default()
	for _, s := range settings() {
		name := "--" + s.name + " "
		if s.secret {
			name = "  " + s.name + " "
		}
		i := strings.Index(help, name)
		if i < 0 {
			t.Errorf("--help lacks %s", s.name)
			continue
		}
		entry := strings.Join(strings.SplitN(help[i:], "\n", 3)[:2], "\n") // the flag line and its help line
		d := "none"
		if x := s.bind(&def).String(); x != "" {
			d = x
		}
		for _, want := range []string{"(default " + d + ";", envName(s.name)} {
			if !strings.Contains(entry, want) {
				t.Errorf("--help entry of %s lacks %q:\n%s", s.name, want, entry)
			}
		}
	}
	if !strings.Contains(help, "--config FILE") || !strings.Contains(help, EnvConfig) {
		t.Error("--help lacks --config")
	}
}

// changed is a Config with every setting away from its default.
func changed() Config {
	return Config{
		DataDir: "/var/lib/majlis", HTTPAddr: "0.0.0.0:80", StageHTTPAddr: "10.0.0.5:8443", AdminAddr: "127.0.0.1:9", WebRTCUDP: "0.0.0.0:3478",
		PublicIPs: []string{"192.0.2.1", "192.0.2.2"}, Role: RoleEdge, TicketKeyFile: "/etc/majlis/ticket.key",
		Bitrate: 48000, Channels: 2, ChunkFrames: 3, ChunkMaxFrames: 25, TicketTTL: 90 * time.Second,
		Signup: true, MaxCohosts: 4, MaxSpeakers: 20, AutoEnd: time.Hour + 30*time.Second,
		JoinRate: 12.5, JoinBurst: 40, JoinsPerIP: ratelimit.Rate{PerSecond: 0.5, Burst: 3}, JoinsPerNet: ratelimit.Rate{PerSecond: 50, Burst: 250},
		AudienceMaxConns: 50000, AudienceConnsPerIP: 64, AudienceAcceptRate: 500, Overload: overload.High,
		AdminToken: testToken,
		Cluster:    "nats://10.0.0.2:4222,nats://10.0.0.3:4222", ClusterListen: "127.0.0.1:4333", ClusterUser: "majlis",
		ClusterCreds: "/etc/majlis/nats.creds", ClusterNKey: "/etc/majlis/nats.nk", ClusterTLSCA: "/etc/majlis/ca.pem",
		ClusterTLSCert: "/etc/majlis/client.pem", ClusterTLSKey: "/etc/majlis/client.key", PublicURL: "https://edge1.example.org",
		EdgeMaxListeners: 5000, EdgeID: "edge-1",
		TLSCert: "/etc/majlis/tls/fullchain.pem", TLSKey: "/etc/majlis/tls/privkey.pem",
		ACMEDomains: []string{"majlis.example.org", "live.example.org"}, ACMEDirectory: "https://acme-staging.example/directory",
	}
}

// TestTLSSettings: the TLS settings bind as flags, env and file keys into
// the server's certificate source; files and ACME exclude each other, and
// a certificate goes with its key.
func TestTLSSettings(t *testing.T) {
	file := writeFile(t, "m.toml", "tls-key = \"/etc/k.pem\"\n")
	c, err := Load([]string{"--config", file, "--tls-cert", "/etc/c.pem"}, env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if tc := c.TLSConfig(); tc.CertFile != "/etc/c.pem" || tc.KeyFile != "/etc/k.pem" || !tc.Enabled() {
		t.Fatalf("TLSConfig %+v", tc)
	}
	c, err = Load(nil, env(map[string]string{"MAJLIS_ACME_DOMAIN": "majlis.example.org,live.example.org"}))
	if err != nil {
		t.Fatal(err)
	}
	if tc := c.TLSConfig(); !reflect.DeepEqual(tc.ACMEDomains, []string{"majlis.example.org", "live.example.org"}) {
		t.Fatalf("TLSConfig %+v", tc)
	}
	for _, args := range [][]string{
		{"--tls-cert", "/etc/c.pem"},
		{"--tls-key", "/etc/k.pem"},
		{"--tls-cert", "/etc/c.pem", "--tls-key", "/etc/k.pem", "--acme-domain", "majlis.example.org"},
		{"--acme-domain", "majlis.example.org:443"},
	} {
		if _, err := Load(args, env(nil)); err == nil || !strings.Contains(err.Error(), "--tls-cert, --tls-key, --acme-domain") {
			t.Errorf("%v: err %v", args, err)
		}
	}
	if Default().TLSConfig().Enabled() {
		t.Error("TLS on by default")
	}
}

func TestWriteTOMLRoundTrip(t *testing.T) {
	for name, c := range map[string]Config{"default": Default(), "changed": changed()} {
		t.Run(name, func(t *testing.T) {
			var b bytes.Buffer
			if err := c.WriteTOML(&b); err != nil {
				t.Fatal(err)
			}
			out := b.String()
			if c.AdminToken != "" {
				if strings.Contains(out, c.AdminToken) {
					t.Fatalf("the admin token is in the output:\n%s", out)
				}
				if !strings.Contains(out, "\nadmin-token = \"<redacted>\"\n") {
					t.Fatalf("no redacted admin-token line:\n%s", out)
				}
			}
			// Loaded over a Config that already holds the token (as from
			// the env), the output gives back the same Config.
			var got Config
			got.AdminToken = c.AdminToken
			if err := got.decodeTOML("out.toml", out); err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			if !reflect.DeepEqual(got, c) {
				t.Fatalf("loaded back %+v\nwant %+v\nfrom:\n%s", got, c, out)
			}
		})
	}
}

const examplePath = "../../docs/majlis.example.toml"

// TestExampleFile checks docs/majlis.example.toml holds every setting at
// its default, and is what WriteTOML writes for Default().
func TestExampleFile(t *testing.T) {
	data, err := os.ReadFile(examplePath)
	if err != nil {
		t.Fatal(err)
	}
	var c Config
	if err := c.decodeTOML(examplePath, string(data)); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(c, Default()) {
		t.Errorf("example file = %+v\nwant Default() %+v", c, Default())
	}
	var top map[string]any
	md, err := toml.Decode(string(data), &top)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range settings() {
		if !md.IsDefined(s.name) {
			t.Errorf("example file lacks %s", s.name)
		}
	}
	var b bytes.Buffer
	if err := Default().WriteTOML(&b); err != nil {
		t.Fatal(err)
	}
	if b.String() != string(data) {
		t.Errorf("%s is not WriteTOML(Default()); regenerate it: env -u MAJLIS_CONFIG go run ./cmd/majlis config > docs/majlis.example.toml (with no MAJLIS_* set)", examplePath)
	}
}

// testToken is an admin token of the required strength.
const testToken = "s3cret-admin-token-0123456789abcdefghijklmnopqrstuvwxyz"

// TestAdminTokenRule: a weak admin token from the env or the file is
// refused with an error naming the setting and not showing the token;
// none at all is fine (one is generated).
func TestAdminTokenRule(t *testing.T) {
	for _, weak := range []string{"zq", "s3cret", strings.Repeat("a", 42), strings.Repeat("a", 42) + "!"} {
		_, err := Load(nil, env(map[string]string{"MAJLIS_ADMIN_TOKEN": weak}))
		if err == nil || !strings.Contains(err.Error(), "MAJLIS_ADMIN_TOKEN") || !strings.Contains(err.Error(), "at least 43 characters") || strings.Contains(err.Error(), weak) {
			t.Errorf("MAJLIS_ADMIN_TOKEN=%q: err %v", weak, err)
		}
		file := writeFile(t, "weak.toml", "admin-token = \""+weak+"\"\n")
		if _, err := Load([]string{"--config", file}, env(nil)); err == nil || !strings.Contains(err.Error(), "admin-token") || strings.Contains(err.Error(), weak) {
			t.Errorf("admin-token = %q in the file: err %v", weak, err)
		}
	}
	for _, ok := range []string{"", testToken, strings.Repeat("0f", 32)} {
		if c, err := Load(nil, env(map[string]string{"MAJLIS_ADMIN_TOKEN": ok})); err != nil || c.AdminToken != ok {
			t.Errorf("MAJLIS_ADMIN_TOKEN=%q: %q, %v", ok, c.AdminToken, err)
		}
	}
}

// TestHLSCDNSecretRule: the cache's secret is a secret (env or file, no
// flag) of at least 16 characters, and never shown.
func TestHLSCDNSecretRule(t *testing.T) {
	_, err := Load(nil, env(map[string]string{"MAJLIS_HLS_CDN_SECRET": "short"}))
	if want := "hls-cdn-secret (MAJLIS_HLS_CDN_SECRET or hls-cdn-secret in the config file): want empty or at least 16 characters"; err == nil || err.Error() != want {
		t.Fatalf("short secret: %v, want %q", err, want)
	}
	c, err := Load(nil, env(map[string]string{"MAJLIS_HLS_CDN_SECRET": "a-long-enough-cdn-secret"}))
	if err != nil || c.HLSCDNSecret != "a-long-enough-cdn-secret" {
		t.Fatalf("secret from env: %q %v", c.HLSCDNSecret, err)
	}
	if _, err := Load([]string{"--hls-cdn-secret", "a-long-enough-cdn-secret"}, env(nil)); err == nil {
		t.Fatal("the secret was accepted as a flag")
	}
}

// TestTDBTokenRule: the Transparency Database token is a secret (env or
// file, no flag), required with tdb-url.
func TestTDBTokenRule(t *testing.T) {
	_, err := Load([]string{"--tdb-url", "https://tdb.example/api/v2/statements"}, env(nil))
	if want := "tdb-token (MAJLIS_TDB_TOKEN or tdb-token in the config file): want set when tdb-url is"; err == nil || err.Error() != want {
		t.Fatalf("url without token: %v, want %q", err, want)
	}
	c, err := Load([]string{"--tdb-url", "https://tdb.example/api/v2/statements"}, env(map[string]string{"MAJLIS_TDB_TOKEN": "tok"}))
	if err != nil || c.TDBToken != "tok" {
		t.Fatalf("token from env: %q %v", c.TDBToken, err)
	}
	if _, err := Load([]string{"--tdb-token", "tok"}, env(nil)); err == nil {
		t.Fatal("the token was accepted as a flag")
	}
}
