package config

import (
	"errors"
	"fmt"
	"time"

	"majlis/internal/admission"
	"majlis/internal/hls"
	"majlis/internal/live"
	"majlis/internal/overload"
	"majlis/internal/program"
	"majlis/internal/ratelimit"
	"majlis/internal/room"
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
	Origin        string   // --origin (edge)
	TicketKeyFile string   // --ticket-key-file (edge)

	Bitrate        int           // --bitrate, bit/s
	Channels       int           // --channels
	ChunkFrames    int           // --chunk-frames
	ChunkMaxFrames int           // --chunk-max-frames
	TicketTTL      time.Duration // --ticket-ttl

	Signup      bool          // --signup
	MaxCohosts  int           // --max-cohosts
	MaxSpeakers int           // --max-speakers
	AutoEnd     time.Duration // --auto-end; 0: never

	JoinRate           float64        // --join-rate, per room per second
	JoinBurst          float64        // --join-burst; 0: JoinRate
	JoinsPerIP         ratelimit.Rate // --join-limit-ip
	JoinsPerNet        ratelimit.Rate // --join-limit-net, per /24 or /48
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

		Bitrate:        live.DefaultBitrate,
		Channels:       live.DefaultChannels,
		ChunkFrames:    program.DefaultChunkFrames,
		ChunkMaxFrames: program.MaxChunkFrames,
		TicketTTL:      server.DefaultTicketTTL,

		MaxCohosts:  room.DefaultMaxCohosts,
		MaxSpeakers: room.DefaultMaxSpeakers,

		JoinRate:           admission.DefaultJoinRate,
		JoinsPerIP:         server.DefaultJoinsPerIP,
		JoinsPerNet:        server.DefaultJoinsPerPrefix,
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
	if c.Role == RoleEdge && c.Origin == "" {
		return errors.New("--origin: required with --role edge (the origin's base URL)")
	}
	return nil
}
