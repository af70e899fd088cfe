package config

import (
	"math"
	"net/url"
	"strconv"
	"strings"
	"time"

	"majlis/internal/account"
	"majlis/internal/cluster"
	"majlis/internal/hls"
	"majlis/internal/httpapi"
	"majlis/internal/overload"
	"majlis/internal/program"
	"majlis/internal/ratelimit"
)

// setting is one configurable value: its name (flag and file key; the env
// var derives from it), its help, the field it binds and its range.
type setting struct {
	name string
	arg  string // placeholder in --help; empty: from the value's type
	help string
	want string // what a valid value is, for errors
	bind func(*Config) value
	ok   func(Config) bool // nil: every value that parses
	// secret settings are redacted by WriteTOML and have no flag (the
	// command line is readable by every local user).
	secret bool
}

// settings is the one table every binding (flags, env, file, --help,
// WriteTOML, Validate) reads, in the order --help and WriteTOML show.
func settings() []setting {
	chunkRange := "1.." + strconv.Itoa(program.MaxChunkFrames)
	return []setting{
		{name: "data", arg: "DIR", help: "data directory (database, ticket keys, admin token)", want: "a directory",
			bind: func(c *Config) value { return (*stringValue)(&c.DataDir) }},
		{name: "http", arg: "ADDR", help: "public (audience) address: API, listeners, web app", want: "HOST:PORT",
			bind: func(c *Config) value { return (*stringValue)(&c.HTTPAddr) }},
		{name: "stage-http", arg: "ADDR", help: "stage plane address (WHIP, host and stage API) apart from the audience port; empty: one port", want: "HOST:PORT or empty",
			bind: func(c *Config) value { return (*stringValue)(&c.StageHTTPAddr) }},
		{name: "admin", arg: "ADDR", help: "admin address: /metrics, /healthz, /readyz, /debug/pprof", want: "HOST:PORT",
			bind: func(c *Config) value { return (*stringValue)(&c.AdminAddr) }},
		{name: "tls-cert", arg: "FILE", help: "PEM certificate chain: the public ports serve HTTPS (HTTP/2 and HTTP/1.1); reloaded on SIGHUP", want: "a file (with tls-key)",
			bind: func(c *Config) value { return (*stringValue)(&c.TLSCert) }},
		{name: "tls-key", arg: "FILE", help: "PEM private key of tls-cert; reloaded with it on SIGHUP", want: "a file (with tls-cert)",
			bind: func(c *Config) value { return (*stringValue)(&c.TLSKey) }},
		{name: "acme-domain", arg: "NAME,…", help: "obtain and renew certificates from an ACME CA (Let's Encrypt) for these names, on the public port itself (TLS-ALPN-01: it must be port 443 to the world); cached in <data>/acme; not with tls-cert", want: "comma-separated host names",
			bind: func(c *Config) value { return (*listValue)(&c.ACMEDomains) }},
		{name: "acme-directory", arg: "URL", help: "ACME CA directory URL (e.g. a staging CA); empty: Let's Encrypt", want: "https://… or empty",
			bind: func(c *Config) value { return (*stringValue)(&c.ACMEDirectory) },
			ok: func(c Config) bool {
				return c.ACMEDirectory == "" || strings.HasPrefix(c.ACMEDirectory, "https://") || strings.HasPrefix(c.ACMEDirectory, "http://")
			}},
		{name: "webrtc-udp", arg: "PORT", help: "UDP PORT (or HOST:PORT) for all WebRTC ICE traffic; a bare port binds on --http's host", want: "PORT or HOST:PORT",
			bind: func(c *Config) value { return (*stringValue)(&c.WebRTCUDP) }},
		{name: "public-ip", arg: "IP,…", help: "comma-separated public IPs announced as ICE host candidates (NAT 1:1)", want: "comma-separated IPs",
			bind: func(c *Config) value { return (*listValue)(&c.PublicIPs) }},
		{name: "role", arg: "ROLE", help: "origin (everything) or edge (serves listeners of an origin's rooms)", want: "origin or edge",
			bind: func(c *Config) value { return (*roleValue)(&c.Role) }, ok: func(c Config) bool { return c.Role == RoleOrigin || c.Role == RoleEdge }},
		{name: "ticket-key-file", arg: "FILE", help: "edge role: the origin's ticket key (empty: <data>/ticket.key)", want: "a file",
			bind: func(c *Config) value { return (*stringValue)(&c.TicketKeyFile) }},
		{name: "cluster", arg: "URL", help: "NATS for origin and edges (an edge requires it): empty (one process), embedded (a NATS server in the origin) or nats://host:4222[,…]", want: "empty, embedded or nats://HOST:PORT[,…]",
			bind: func(c *Config) value { return (*stringValue)(&c.Cluster) }},
		{name: "cluster-listen", arg: "ADDR", help: "--cluster embedded: the embedded NATS server's address (edges on the box connect there)", want: "HOST:PORT",
			bind: func(c *Config) value { return (*stringValue)(&c.ClusterListen) }},
		{name: "cluster-user", arg: "USER", help: "NATS user (with cluster-password; the embedded server requires them)", want: "a name",
			bind: func(c *Config) value { return (*stringValue)(&c.ClusterUser) }},
		{name: "cluster-password", arg: "PASSWORD", help: "NATS password (never a flag)", want: "a password",
			bind: func(c *Config) value { return (*stringValue)(&c.ClusterPassword) }, secret: true},
		{name: "cluster-creds", arg: "FILE", help: "NATS credentials file (JWT and nkey seed)", want: "a file",
			bind: func(c *Config) value { return (*stringValue)(&c.ClusterCreds) }},
		{name: "cluster-nkey", arg: "FILE", help: "NATS nkey seed file", want: "a file",
			bind: func(c *Config) value { return (*stringValue)(&c.ClusterNKey) }},
		{name: "cluster-tls-ca", arg: "FILE", help: "CA certificates that verify the NATS servers (turns TLS on)", want: "a file",
			bind: func(c *Config) value { return (*stringValue)(&c.ClusterTLSCA) }},
		{name: "cluster-tls-cert", arg: "FILE", help: "client certificate for NATS (with cluster-tls-key)", want: "a file",
			bind: func(c *Config) value { return (*stringValue)(&c.ClusterTLSCert) }},
		{name: "cluster-tls-key", arg: "FILE", help: "client certificate key for NATS", want: "a file",
			bind: func(c *Config) value { return (*stringValue)(&c.ClusterTLSKey) }},
		{name: "public-url", arg: "URL", help: "the base URL clients reach this server at, e.g. https://majlis.example: links in previews and calendar entries are under it (empty: as each request came); an edge announces it for placement (empty: http://<--http>)", want: "http(s)://HOST[:PORT] or empty",
			bind: func(c *Config) value { return (*stringValue)(&c.PublicURL) }, ok: func(c Config) bool { return isBaseURL(c.PublicURL) }},
		{name: "edge-max-listeners", help: "origin: the most listeners one edge's report may count", want: "a count ≥ 1",
			bind: func(c *Config) value { return (*intValue)(&c.EdgeMaxListeners) }, ok: func(c Config) bool { return c.EdgeMaxListeners >= 1 }},
		{name: "edge-id", arg: "ID", help: "edge role: this edge's id, in its reports and their subjects (majlis.edges.load.<id>, majlis.edges.sketch.<id>), so that NATS permissions can pin its credentials to it; empty: random per process", want: "up to 64 of a-z, 0-9, _ and -, or empty",
			bind: func(c *Config) value { return (*stringValue)(&c.EdgeID) }, ok: func(c Config) bool { return c.EdgeID == "" || cluster.ValidEdgeID(c.EdgeID) }},

		{name: "bitrate", help: "program Opus bitrate, bit/s", want: "6000..510000",
			bind: func(c *Config) value { return (*intValue)(&c.Bitrate) }, ok: func(c Config) bool { return c.Bitrate >= 6000 && c.Bitrate <= 510000 }},
		{name: "channels", help: "program channels", want: "1 or 2",
			bind: func(c *Config) value { return (*intValue)(&c.Channels) }, ok: func(c Config) bool { return c.Channels == 1 || c.Channels == 2 }},
		{name: "chunk-frames", help: "program frames (20 ms each) per listener chunk in small rooms", want: chunkRange,
			bind: func(c *Config) value { return (*intValue)(&c.ChunkFrames) }, ok: func(c Config) bool { return inChunk(c.ChunkFrames) }},
		{name: "chunk-max-frames", help: "cap of the chunk length as the audience grows (set to --chunk-frames for a fixed length)", want: chunkRange,
			bind: func(c *Config) value { return (*intValue)(&c.ChunkMaxFrames) }, ok: func(c Config) bool { return inChunk(c.ChunkMaxFrames) }},
		{name: "ticket-ttl", help: "join ticket lifetime", want: "a duration of at least 10s",
			bind: func(c *Config) value { return (*durationValue)(&c.TicketTTL) }, ok: func(c Config) bool { return c.TicketTTL >= minTicketTTL }},

		{name: "signup", help: "let anyone create an account", want: "true or false",
			bind: func(c *Config) value { return (*boolValue)(&c.Signup) }},
		{name: "login-limit-ip", help: "login and sign-up attempts per source address, before any password is hashed: RATE/BURST per second", want: "RATE/BURST, e.g. 0.25/20",
			bind: func(c *Config) value { return (*rateValue)(&c.LoginsPerIP) }, ok: func(c Config) bool { return validRate(c.LoginsPerIP) }},
		{name: "login-limit-net", help: "login and sign-up attempts per /24 (IPv4) or /48 (IPv6): RATE/BURST", want: "RATE/BURST, e.g. 5/100",
			bind: func(c *Config) value { return (*rateValue)(&c.LoginsPerNet) }, ok: func(c Config) bool { return validRate(c.LoginsPerNet) }},
		{name: "hash-slots", help: "passwords hashed at once (argon2id, 19 MiB each; 0: half the cores): the rest of the CPU stays the mixer's", want: "a count ≥ 0",
			bind: func(c *Config) value { return (*intValue)(&c.HashSlots) }, ok: func(c Config) bool { return c.HashSlots >= 0 && c.HashSlots <= 64 }},
		{name: "hash-queue", help: "logins that may wait for a hashing slot; beyond them 503 busy", want: "a count ≥ 1",
			bind: func(c *Config) value { return (*intValue)(&c.HashQueue) }, ok: func(c Config) bool { return c.HashQueue >= 1 && c.HashQueue <= 4096 }},
		{name: "hash-wait", help: "the longest a login waits for a hashing slot before 503 busy", want: "a duration from 10ms to 30s",
			bind: func(c *Config) value { return (*durationValue)(&c.HashWait) }, ok: func(c Config) bool { return c.HashWait >= 10*time.Millisecond && c.HashWait <= 30*time.Second }},
		{name: "max-cohosts", help: "co-hosts per room besides the host", want: "1..20",
			bind: func(c *Config) value { return (*intValue)(&c.MaxCohosts) }, ok: func(c Config) bool { return c.MaxCohosts >= 1 && c.MaxCohosts <= 20 }},
		{name: "max-speakers", help: "speakers per room besides host and co-hosts", want: "1..100",
			bind: func(c *Config) value { return (*intValue)(&c.MaxSpeakers) }, ok: func(c Config) bool { return c.MaxSpeakers >= 1 && c.MaxSpeakers <= 100 }},
		{name: "auto-end", help: "end a live room when its host has been off stage this long (0: never)", want: "a duration, 0 for never",
			bind: func(c *Config) value { return (*durationValue)(&c.AutoEnd) }, ok: func(c Config) bool { return c.AutoEnd >= 0 }},
		{name: "recording-retention", help: "keep a recording this long after its room ended (0: until the host deletes it)", want: "a duration, 0 for until deleted",
			bind: func(c *Config) value { return (*durationValue)(&c.RecordingRetention) }, ok: func(c Config) bool { return c.RecordingRetention >= 0 }},
		{name: "clip-ttl", help: "clips expire this long after they were made", want: "a duration of at least 1m",
			bind: func(c *Config) value { return (*durationValue)(&c.ClipTTL) }, ok: func(c Config) bool { return c.ClipTTL >= time.Minute }},
		{name: "evidence-window", help: "moderation evidence: how much of each live room's program (and speakers' tracks) is kept on disk", want: "a duration from 1m to 24h",
			bind: func(c *Config) value { return (*durationValue)(&c.EvidenceWindow) }, ok: func(c Config) bool { return c.EvidenceWindow >= time.Minute && c.EvidenceWindow <= 24*time.Hour }},
		{name: "evidence-retention", help: "moderation evidence is kept this long after its room ended (longer when a report holds it)", want: "a duration of at least 1h",
			bind: func(c *Config) value { return (*durationValue)(&c.EvidenceRetention) }, ok: func(c Config) bool { return c.EvidenceRetention >= time.Hour }},
		{name: "evidence-speakers", help: "moderation evidence: keep each speaker's own track (the Opus they sent) too", want: "true or false",
			bind: func(c *Config) value { return (*boolValue)(&c.EvidenceSpeakers) }},
		{name: "misuse-strikes", help: "DSA Art. 23: decisions on manifestly illegal content about one account (within misuse-window) before it is warned; the next one suspends it", want: "1..100",
			bind: func(c *Config) value { return (*intValue)(&c.Misuse.Strikes) }, ok: func(c Config) bool { return c.Misuse.Strikes >= 1 && c.Misuse.Strikes <= 100 }},
		{name: "misuse-unfounded", help: "DSA Art. 23: manifestly unfounded notices of one notifier (within misuse-window) before they are warned; the next one suspends their notices", want: "1..100",
			bind: func(c *Config) value { return (*intValue)(&c.Misuse.Unfounded) }, ok: func(c Config) bool { return c.Misuse.Unfounded >= 1 && c.Misuse.Unfounded <= 100 }},
		{name: "misuse-window", help: "DSA Art. 23: how far back strikes and unfounded notices count", want: "a duration of at least 24h",
			bind: func(c *Config) value { return (*durationValue)(&c.Misuse.Window) }, ok: func(c Config) bool { return c.Misuse.Window >= 24*time.Hour }},
		{name: "misuse-suspension", help: "DSA Art. 23: how long repeated manifestly illegal content suspends an account", want: "a duration of at least 1h",
			bind: func(c *Config) value { return (*durationValue)(&c.Misuse.Suspension) }, ok: func(c Config) bool { return c.Misuse.Suspension >= time.Hour }},
		{name: "misuse-notice-suspension", help: "DSA Art. 23: how long repeated manifestly unfounded notices suspend a notifier's notices", want: "a duration of at least 1h",
			bind: func(c *Config) value { return (*durationValue)(&c.Misuse.NoticeSuspension) }, ok: func(c Config) bool { return c.Misuse.NoticeSuspension >= time.Hour }},

		{name: "join-rate", help: "joins admitted per room per second at full health (lowered under overload)", want: "a positive number",
			bind: func(c *Config) value { return (*floatValue)(&c.JoinRate) }, ok: func(c Config) bool { return positive(c.JoinRate) }},
		{name: "join-burst", help: "joins admitted at once when nobody waits (0: join-rate)", want: "a number ≥ 0",
			bind: func(c *Config) value { return (*floatValue)(&c.JoinBurst) }, ok: func(c Config) bool { return c.JoinBurst == 0 || positive(c.JoinBurst) }},
		{name: "join-limit-ip", help: "join token bucket per source address: RATE/BURST per second", want: "RATE/BURST, e.g. 5/20",
			bind: func(c *Config) value { return (*rateValue)(&c.JoinsPerIP) }, ok: func(c Config) bool { return validRate(c.JoinsPerIP) }},
		{name: "join-limit-net", help: "join token bucket per /24 (IPv4) or /48 (IPv6): RATE/BURST", want: "RATE/BURST, e.g. 100/500",
			bind: func(c *Config) value { return (*rateValue)(&c.JoinsPerNet) }, ok: func(c Config) bool { return validRate(c.JoinsPerNet) }},
		{name: "auth-fail-limit-ip", help: "failed bearer tokens per source address on the audience port before 429: RATE/BURST", want: "RATE/BURST, e.g. 1/10",
			bind: func(c *Config) value { return (*rateValue)(&c.AuthFailuresPerIP) }, ok: func(c Config) bool { return validRate(c.AuthFailuresPerIP) }},
		{name: "auth-fail-limit-net", help: "failed bearer tokens per /24 (IPv4) or /48 (IPv6): RATE/BURST", want: "RATE/BURST, e.g. 10/100",
			bind: func(c *Config) value { return (*rateValue)(&c.AuthFailuresPerNet) }, ok: func(c Config) bool { return validRate(c.AuthFailuresPerNet) }},
		{name: "report-limit-ip", help: "notices (POST /api/v1/reports) per source address: RATE/BURST per second", want: "RATE/BURST, e.g. 0.1/5",
			bind: func(c *Config) value { return (*rateValue)(&c.ReportsPerIP) }, ok: func(c Config) bool { return validRate(c.ReportsPerIP) }},
		{name: "report-limit-net", help: "notices per /24 (IPv4) or /48 (IPv6): RATE/BURST", want: "RATE/BURST, e.g. 1/50",
			bind: func(c *Config) value { return (*rateValue)(&c.ReportsPerNet) }, ok: func(c Config) bool { return validRate(c.ReportsPerNet) }},
		{name: "trusted-proxies", arg: "CIDR,…", help: "reverse proxies whose X-Forwarded-For, -Host, -Proto or Forwarded are believed (comma-separated CIDRs or IPs); empty: none", want: "comma-separated CIDRs or IPs",
			bind: func(c *Config) value { return (*listValue)(&c.TrustedProxies) }, ok: func(c Config) bool { _, err := httpapi.ParseProxies(c.TrustedProxies); return err == nil }},
		{name: "proxy-protocol", help: "read the PROXY protocol header (v1 or v2) that --trusted-proxies must send on each connection, and take the client's address from it (nginx stream proxy_protocol, HAProxy send-proxy)", want: "true or false",
			bind: func(c *Config) value { return (*boolValue)(&c.ProxyProtocol) }},
		{name: "audience-max-conns", help: "open connections cap on the audience port (0: file limit − 1024)", want: "a count",
			bind: func(c *Config) value { return (*intValue)(&c.AudienceMaxConns) }, ok: func(c Config) bool { return c.AudienceMaxConns >= 0 }},
		{name: "audience-conns-per-ip", help: "open connections cap per source address on the audience port", want: "a count ≥ 1",
			bind: func(c *Config) value { return (*intValue)(&c.AudienceConnsPerIP) }, ok: func(c Config) bool { return c.AudienceConnsPerIP >= 1 }},
		{name: "audience-accept-rate", help: "new connections accepted per second on the audience port (the kernel backlog holds the excess)", want: "a positive number",
			bind: func(c *Config) value { return (*floatValue)(&c.AudienceAcceptRate) }, ok: func(c Config) bool { return positive(c.AudienceAcceptRate) }},
		{name: "overload", arg: "LEVEL", help: "overload level: auto (measured) or pinned: elevated, high, critical", want: "auto, elevated, high or critical",
			bind: func(c *Config) value { return (*levelValue)(&c.Overload) }, ok: func(c Config) bool { return c.Overload >= overload.Normal && c.Overload <= overload.Critical }},

		{name: "hls-part", help: "LL-HLS part target (a multiple of 20ms)", want: "a multiple of 20ms from 100ms to 2s",
			bind: func(c *Config) value { return (*durationValue)(&c.HLSPart) },
			ok: func(c Config) bool {
				return (hls.Timing{Part: c.HLSPart, Segment: c.HLSPart}).Validate() == nil // the segment checks the pair
			}},
		{name: "hls-segment", help: "LL-HLS segment length (a multiple of --hls-part)", want: "a multiple of --hls-part up to 10s",
			bind: func(c *Config) value { return (*durationValue)(&c.HLSSegment) }, ok: func(c Config) bool { return c.hlsTiming().Validate() == nil }},
		{name: "hls-token-window", help: "lifetime step of the room-scoped HLS URL token (valid one to two windows)", want: "a duration of at least 1m",
			bind: func(c *Config) value { return (*durationValue)(&c.HLSTokenWindow) }, ok: func(c Config) bool { return c.HLSTokenWindow >= time.Minute }},
		{name: "hls-url", arg: "URL", help: "base URL of listen.hls in join answers (a CDN in front of the origin); empty: the origin's path", want: "http(s)://HOST[:PORT] or empty",
			bind: func(c *Config) value { return (*stringValue)(&c.HLSURL) },
			ok:   func(c Config) bool { return isBaseURL(c.HLSURL) }},
		{name: "hls-cdn-secret", arg: "SECRET", help: "shared secret the cache sends in Majlis-Cdn-Secret on HLS fills; set: only the cache fills (empty: anyone with the token)", want: "empty or at least 16 characters",
			bind: func(c *Config) value { return (*stringValue)(&c.HLSCDNSecret) }, secret: true,
			ok: func(c Config) bool { return c.HLSCDNSecret == "" || len(c.HLSCDNSecret) >= 16 }},
		{name: "tdb-url", arg: "URL", help: "Transparency Database batch endpoint (…/api/v2/statements) the statements of reasons are submitted to; empty: not submitted", want: "http(s)://… or empty",
			bind: func(c *Config) value { return (*stringValue)(&c.TDBURL) },
			ok: func(c Config) bool {
				return c.TDBURL == "" || strings.HasPrefix(c.TDBURL, "http://") || strings.HasPrefix(c.TDBURL, "https://")
			}},
		{name: "tdb-token", arg: "TOKEN", help: "the platform's Transparency Database API token (needed with tdb-url)", want: "set when tdb-url is",
			bind: func(c *Config) value { return (*stringValue)(&c.TDBToken) }, secret: true,
			ok: func(c Config) bool { return c.TDBURL == "" || c.TDBToken != "" }},

		{name: "admin-token", arg: "TOKEN", help: "admin bearer token (empty: generated into <data>/admin.token on first start)", want: account.AdminTokenRule,
			bind: func(c *Config) value { return (*stringValue)(&c.AdminToken) }, secret: true,
			ok: func(c Config) bool { return c.AdminToken == "" || account.ValidAdminToken(c.AdminToken) }},
	}
}

func (c Config) hlsTiming() hls.Timing { return hls.Timing{Part: c.HLSPart, Segment: c.HLSSegment} }

// minTicketTTL is the shortest ticket lifetime: a listener's reconnect
// must fit in it.
const minTicketTTL = 10 * time.Second

func inChunk(n int) bool { return n >= 1 && n <= program.MaxChunkFrames }

// positive reports a finite number above zero (ParseFloat also reads NaN and Inf).
func positive(f float64) bool { return f > 0 && !math.IsInf(f, 1) }

func validRate(r ratelimit.Rate) bool {
	return positive(r.PerSecond) && r.Burst >= 1 && !math.IsInf(r.Burst, 1)
}

// envName is the environment variable of a setting: MAJLIS_<NAME>.
func envName(name string) string {
	return "MAJLIS_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
}

// show renders a value in an error: bare unless it would be unreadable so.
func show(s string) string {
	if s == "" || strings.ContainsAny(s, " \t\n\"") {
		return `"` + strings.ReplaceAll(s, `"`, `\"`) + `"`
	}
	return s
}

// isBaseURL: s is empty or a base URL links are made under, http(s)://
// and a host with no path, query or trailing slash.
func isBaseURL(s string) bool {
	if s == "" {
		return true
	}
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" && u.Path == "" && u.RawQuery == "" && u.Fragment == "" && u.User == nil && !strings.HasSuffix(s, "/") && !strings.HasSuffix(s, "?") && !strings.HasSuffix(s, "#")
}
