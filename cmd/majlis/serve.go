package main

import (
	"context"
	"errors"
	"flag"
	"io"
	"log/slog"

	"majlis/internal/config"
	"majlis/internal/server"
)

// serve runs `majlis serve`: an origin, or an edge with --role edge.
func serve(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cfg, err := config.Load(args, getenv)
	if errors.Is(err, flag.ErrHelp) {
		config.Usage(stdout, "serve")
		return nil
	}
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))
	if cfg.Role == config.RoleEdge {
		return serveEdge(ctx, edgeConfig(cfg, log))
	}
	srv, err := server.New(serverConfig(cfg, log, stdout))
	if err != nil {
		return err
	}
	return srv.Serve(ctx)
}

// serverConfig is an origin's server.Config; out gets the generated admin
// token, printed once.
func serverConfig(c config.Config, log *slog.Logger, out io.Writer) server.Config {
	return server.Config{
		DataDir: c.DataDir, HTTPAddr: c.HTTPAddr, AdminAddr: c.AdminAddr, WebRTCUDP: c.WebRTCUDP, PublicIPs: c.PublicIPs,
		AdminToken: c.AdminToken, TicketTTL: c.TicketTTL, Logger: log, Out: out,
		Channels: c.Channels, Bitrate: c.Bitrate, ChunkFrames: c.ChunkFrames, ChunkMaxFrames: c.ChunkMaxFrames,
		LoginsPerIP: c.LoginsPerIP, LoginsPerPrefix: c.LoginsPerNet, HashSlots: c.HashSlots, HashQueue: c.HashQueue, HashWait: c.HashWait,
		Signup: c.Signup, MaxCohosts: c.MaxCohosts, MaxSpeakers: c.MaxSpeakers, AutoEnd: c.AutoEnd,
		RecordingRetention: c.RecordingRetention, ClipTTL: c.ClipTTL,
		EvidenceWindow: c.EvidenceWindow, EvidenceRetention: c.EvidenceRetention, EvidenceSpeakers: c.EvidenceSpeakers,
		Admission: originAdmission(c), Cluster: c.ClusterConfig(),
		HLS: server.HLSConfig{Part: c.HLSPart, Segment: c.HLSSegment, TokenWindow: c.HLSTokenWindow,
			BaseURL: c.HLSURL, CDNSecret: c.HLSCDNSecret},
		TDBURL: c.TDBURL, TDBToken: c.TDBToken, Misuse: c.Misuse, TLS: c.TLSConfig(), PublicURL: c.PublicURL,
	}
}

// originAdmission is the audience plane's settings plus the origin's joins and stage port.
func originAdmission(c config.Config) server.AdmissionConfig {
	a := audienceConfig(c)
	a.StageHTTPAddr, a.JoinRate, a.JoinBurst = c.StageHTTPAddr, c.JoinRate, c.JoinBurst
	a.JoinsPerIP, a.JoinsPerPrefix = c.JoinsPerIP, c.JoinsPerNet
	a.AuthFailuresPerIP, a.AuthFailuresPerPrefix = c.AuthFailuresPerIP, c.AuthFailuresPerNet
	a.ReportsPerIP, a.ReportsPerPrefix = c.ReportsPerIP, c.ReportsPerNet
	return a
}

// edgeConfig is an edge's server.EdgeConfig. The audience plane's defences
// (connection caps, accept pacing, the overload level) are an edge's as
// an origin's; the origin-only settings (rooms, joins, stage, the program
// encoding) are not.
func edgeConfig(c config.Config, log *slog.Logger) server.EdgeConfig {
	return server.EdgeConfig{DataDir: c.DataDir, TicketKeyFile: c.TicketKeyFile, TicketTTL: c.TicketTTL, HTTPAddr: c.HTTPAddr, AdminAddr: c.AdminAddr,
		ChunkFrames: c.ChunkFrames, ChunkMaxFrames: c.ChunkMaxFrames, Channels: c.Channels, Logger: log,
		Admission: audienceConfig(c), Cluster: c.ClusterConfig(), PublicURL: c.PublicURL, ID: c.EdgeID, TLS: c.TLSConfig()}
}

// audienceConfig is the audience plane's part of the admission settings,
// the same on both roles.
func audienceConfig(c config.Config) server.AdmissionConfig {
	return server.AdmissionConfig{
		AudienceMaxConns: c.AudienceMaxConns, AudienceConnsPerIP: c.AudienceConnsPerIP, AudienceAcceptRate: c.AudienceAcceptRate,
		ForceLevel: c.Overload, TrustedProxies: c.TrustedProxies, ProxyProtocol: c.ProxyProtocol,
	}
}
