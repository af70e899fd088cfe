package config

import (
	"errors"
	"fmt"
	"time"

	"majlis/internal/account"
	"majlis/internal/admission"
	"majlis/internal/certs"
	"majlis/internal/cluster"
	"majlis/internal/hls"
	"majlis/internal/httpapi"
	"majlis/internal/live"
	"majlis/internal/overload"
	"majlis/internal/program"
	"majlis/internal/ratelimit"
	"majlis/internal/recording"
	"majlis/internal/room"
	"majlis/internal/safety"
	"majlis/internal/server"
)

// Role is what a process serves.
type Role string

// Roles.
const (
	RoleOrigin Role = "origin" // everything: rooms, stage, programs, listeners
	RoleEdge   Role = "edge"   // listeners of an origin's rooms
)

// Config is every setting of `majlis serve`. The comment of each field is
// its flag (and file key); settings.go holds the help and the ranges.
type Config struct {
	DataDir       string   // --data
	HTTPAddr      string   // --http: the audience port
	StageHTTPAddr string   // --stage-http: the stage plane apart; empty: on --http
	AdminAddr     string   // --admin
	WebRTCUDP     string   // --webrtc-udp: PORT or HOST:PORT
	PublicIPs     []string // --public-ip
	Role          Role     // --role
	TicketKeyFile string   // --ticket-key-file (edge)
	// TLS on the public ports: certificate files (reloaded on SIGHUP), or
	// ACME for the listed domains; neither: plain HTTP.
	TLSCert       string   // --tls-cert
	TLSKey        string   // --tls-key
	ACMEDomains   []string // --acme-domain
	ACMEDirectory string   // --acme-directory; empty: Let's Encrypt

	Cluster          string // --cluster: "", embedded or nats://host:port[,…]
	ClusterListen    string // --cluster-listen: the embedded server's address
	ClusterUser      string // --cluster-user
	ClusterPassword  string // cluster-password (secret: file or MAJLIS_CLUSTER_PASSWORD)
	ClusterCreds     string // --cluster-creds: NATS credentials file
	ClusterNKey      string // --cluster-nkey: nkey seed file
	ClusterTLSCA     string // --cluster-tls-ca
	ClusterTLSCert   string // --cluster-tls-cert
	ClusterTLSKey    string // --cluster-tls-key
	PublicURL        string // --public-url: base URL of links in previews and calendar entries; an edge announces it to the origin
	EdgeMaxListeners int    // --edge-max-listeners (origin): cap of one edge's reported listeners
	EdgeID           string // --edge-id (edge): its id in its reports and their subjects; empty: random

	Bitrate        int           // --bitrate, bit/s
	Channels       int           // --channels
	ChunkFrames    int           // --chunk-frames
	ChunkMaxFrames int           // --chunk-max-frames
	TicketTTL      time.Duration // --ticket-ttl

	Signup bool // --signup
	// Logins: attempts per address and per /24 (/48) before any hash, and
	// the hashing pool (account.Config).
	LoginsPerIP  ratelimit.Rate // --login-limit-ip
	LoginsPerNet ratelimit.Rate // --login-limit-net
	HashSlots    int            // --hash-slots; 0: half the cores
	HashQueue    int            // --hash-queue
	HashWait     time.Duration  // --hash-wait
	MaxCohosts   int            // --max-cohosts
	MaxSpeakers  int            // --max-speakers
	AutoEnd      time.Duration  // --auto-end; 0: never

	RecordingRetention time.Duration // --recording-retention; 0: until deleted
	ClipTTL            time.Duration // --clip-ttl
	EvidenceWindow     time.Duration // --evidence-window
	EvidenceRetention  time.Duration // --evidence-retention
	EvidenceSpeakers   bool          // --evidence-speakers

	// Misuse is the Art. 23 DSA rules (--misuse-*): strikes before an
	// account is suspended, unfounded notices before a notifier's notices
	// are, the window they are counted in and the suspensions' lengths.
	Misuse safety.Misuse

	JoinRate           float64        // --join-rate, per room per second
	JoinBurst          float64        // --join-burst; 0: JoinRate
	JoinsPerIP         ratelimit.Rate // --join-limit-ip
	JoinsPerNet        ratelimit.Rate // --join-limit-net, per /24 or /48
	AuthFailuresPerIP  ratelimit.Rate // --auth-fail-limit-ip: failed bearer tokens per address
	AuthFailuresPerNet ratelimit.Rate // --auth-fail-limit-net, per /24 or /48
	ReportsPerIP       ratelimit.Rate // --report-limit-ip: notices (POST /api/v1/reports) per address
	ReportsPerNet      ratelimit.Rate // --report-limit-net, per /24 or /48
	TrustedProxies     []string       // --trusted-proxies
	ProxyProtocol      bool           // --proxy-protocol: the PROXY header from TrustedProxies, required
	AudienceMaxConns   int            // --audience-max-conns; 0: file limit − 1024
	AudienceConnsPerIP int            // --audience-conns-per-ip
	AudienceAcceptRate float64        // --audience-accept-rate, per second
	// Overload pins the overload level (--overload); overload.Normal means
	// measured ("auto").
	Overload overload.Level

	HLSPart        time.Duration // --hls-part: LL-HLS part target
	HLSSegment     time.Duration // --hls-segment
	HLSTokenWindow time.Duration // --hls-token-window
	HLSURL         string        // --hls-url: prefix of listen.hls (a CDN); empty: the origin
	// HLSCDNSecret, when set, is required from the cache on every HLS fill
	// (hls-cdn-secret, MAJLIS_HLS_CDN_SECRET; a secret: no flag).
	HLSCDNSecret string
	// TDBURL, when set, is where the statements of reasons are submitted
	// (--tdb-url); TDBToken its bearer token (tdb-token, MAJLIS_TDB_TOKEN; a secret).
	TDBURL, TDBToken string

	// AdminToken is the admin bearer token (admin-token, MAJLIS_ADMIN_TOKEN;
	// never a flag: the command line is readable by every local user).
	// Empty: generated into the data dir on first start.
	AdminToken string
}

// Default returns the configuration of a bare `majlis serve`.
func Default() Config {
	return Config{
		DataDir:   server.DefaultDataDir,
		HTTPAddr:  server.DefaultHTTPAddr,
		AdminAddr: server.DefaultAdminAddr,
		WebRTCUDP: server.DefaultWebRTCUDP,
		Role:      RoleOrigin,

		ClusterListen:    cluster.DefaultListen,
		EdgeMaxListeners: cluster.DefaultMaxPerEdge,

		Bitrate:        live.DefaultBitrate,
		Channels:       live.DefaultChannels,
		ChunkFrames:    program.DefaultChunkFrames,
		ChunkMaxFrames: program.MaxChunkFrames,
		TicketTTL:      server.DefaultTicketTTL,

		LoginsPerIP:  account.DefaultLoginsPerIP,
		LoginsPerNet: account.DefaultLoginsPerPrefix,
		HashQueue:    account.DefaultHashQueue,
		HashWait:     account.DefaultHashWait,

		MaxCohosts:  room.DefaultMaxCohosts,
		MaxSpeakers: room.DefaultMaxSpeakers,
		ClipTTL:     recording.DefaultClipTTL,

		EvidenceWindow:    recording.DefaultEvidenceWindow,
		EvidenceRetention: recording.DefaultEvidenceRetention,
		Misuse:            safety.DefaultMisuse,

		JoinRate:           admission.DefaultJoinRate,
		JoinsPerIP:         server.DefaultJoinsPerIP,
		JoinsPerNet:        server.DefaultJoinsPerPrefix,
		AuthFailuresPerIP:  server.DefaultAuthFailuresPerIP,
		AuthFailuresPerNet: server.DefaultAuthFailuresPerPrefix,
		ReportsPerIP:       server.DefaultReportsPerIP,
		ReportsPerNet:      server.DefaultReportsPerPrefix,
		AudienceConnsPerIP: server.DefaultAudienceConnsPerIP,
		AudienceAcceptRate: server.DefaultAudienceAcceptRate,

		HLSPart:        hls.DefaultPart,
		HLSSegment:     hls.DefaultSegment,
		HLSTokenWindow: hls.DefaultTokenWindow,
	}
}

// Validate checks every setting against its range and returns the first
// bad one as `--name value: want …`.
func (c Config) Validate() error {
	for _, s := range settings() {
		if s.ok == nil || s.ok(c) {
			continue
		}
		if s.secret { // no flag, and its value is never shown
			return fmt.Errorf("%s (%s or %s in the config file): want %s", s.name, envName(s.name), s.name, s.want)
		}
		return fmt.Errorf("--%s %s: want %s", s.name, show(s.bind(&c).String()), s.want)
	}
	if p, _ := httpapi.ParseProxies(c.TrustedProxies); c.ProxyProtocol && p.Empty() {
		return errors.New("--proxy-protocol: needs --trusted-proxies (the proxies that send the header)")
	}
	if c.Role == RoleEdge && c.Cluster == "" {
		return errors.New("--cluster: required with --role edge (an edge takes the programs from NATS)")
	}
	if err := c.ClusterConfig().Validate(); err != nil {
		return fmt.Errorf("--cluster: %w", err)
	}
	if err := c.TLSConfig().Validate(); err != nil {
		return fmt.Errorf("--tls-cert, --tls-key, --acme-domain: %w", err)
	}
	return nil
}

// TLSConfig is the public ports' certificate source the settings describe
// (the server puts ACME's cache under the data dir).
func (c Config) TLSConfig() certs.Config {
	return certs.Config{CertFile: c.TLSCert, KeyFile: c.TLSKey, ACMEDomains: c.ACMEDomains, ACMEDirectory: c.ACMEDirectory}
}

// ClusterConfig is the cluster connection the settings describe.
func (c Config) ClusterConfig() cluster.Config {
	return cluster.Config{URL: c.Cluster, Listen: c.ClusterListen, User: c.ClusterUser, Password: c.ClusterPassword,
		CredsFile: c.ClusterCreds, NKeyFile: c.ClusterNKey, TLSCA: c.ClusterTLSCA, TLSCert: c.ClusterTLSCert, TLSKey: c.ClusterTLSKey,
		MaxPerEdge: c.EdgeMaxListeners}
}
