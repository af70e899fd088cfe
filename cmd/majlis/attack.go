package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"majlis/internal/admission"
	"majlis/internal/attack"
	"majlis/internal/overload"
	"majlis/internal/server"
)

// attackCmd runs `majlis attack`: a bounded junk flood against a loopback
// audience port (internal/attack).
func attackCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("attack", flag.ContinueOnError)
	fs.SetOutput(stderr)
	target := fs.String("target", "http://127.0.0.1:8080", "audience base URL (loopback only)")
	room := fs.String("room", "", "room id to aim at")
	kinds := fs.String("kinds", strings.Join(attack.Kinds, ","), "comma-separated: "+strings.Join(attack.Kinds, ","))
	dur := fs.Duration("duration", 20*time.Second, "how long (at most 5m)")
	workers := fs.Int("workers", 16, "concurrent requesters per request kind")
	sockets := fs.Int("sockets", 200, "sockets per socket kind (slowloris, idle)")
	ws := fs.Int("ws", 8, "WebSocket flooders")
	nets := fs.Int("source-nets", 16, "/24 networks the sources (127.S.x.y) span")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *room == "" {
		return fmt.Errorf("attack: --room is required")
	}
	rep, err := attack.Run(ctx, attack.Config{Target: *target, Room: *room, Kinds: strings.Split(*kinds, ","), Duration: *dur,
		Workers: *workers, Sockets: *sockets, WSConns: *ws, SourceNets: *nets})
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	fmt.Fprint(stdout, rep)
	return nil
}

// admissionFlags registers serve's admission and plane flags on str (serve's
// flag helper, which also reads MAJLIS_*) and returns their parser.
func admissionFlags(str func(name, def, help string) *string) func() (server.AdmissionConfig, error) {
	stage := str("stage-http", "", "stage plane address (WHIP, host and stage API) apart from the audience port; empty: one port")
	rate := str("join-rate", "100", "joins admitted per room per second at full health (lowered under overload)")
	burst := str("join-burst", "0", "joins admitted at once when nobody waits (0: join-rate)")
	perIP := str("join-limit-ip", "5/20", "join token bucket per source address: RATE/BURST per second")
	perNet := str("join-limit-net", "100/500", "join token bucket per /24 (IPv4) or /48 (IPv6): RATE/BURST")
	maxConns := str("audience-max-conns", "0", "open connections cap on the audience port (0: file limit − 1024)")
	connsIP := str("audience-conns-per-ip", "256", "open connections cap per source address on the audience port")
	acceptRate := str("audience-accept-rate", "2000", "new connections accepted per second on the audience port (the kernel backlog holds the excess)")
	level := str("overload", "auto", "overload level: auto (measured) or pinned: elevated, high, critical")
	return func() (server.AdmissionConfig, error) {
		var c server.AdmissionConfig
		var err error
		c.StageHTTPAddr = *stage
		if c.JoinRate, err = strconv.ParseFloat(*rate, 64); err != nil || c.JoinRate <= 0 {
			return c, fmt.Errorf("--join-rate %q: want a positive number", *rate)
		}
		if c.JoinBurst, err = strconv.ParseFloat(*burst, 64); err != nil || c.JoinBurst < 0 {
			return c, fmt.Errorf("--join-burst %q: want a number ≥ 0", *burst)
		}
		if c.JoinsPerIP, err = parseRate(*perIP); err != nil {
			return c, fmt.Errorf("--join-limit-ip: %w", err)
		}
		if c.JoinsPerPrefix, err = parseRate(*perNet); err != nil {
			return c, fmt.Errorf("--join-limit-net: %w", err)
		}
		if c.AudienceMaxConns, err = strconv.Atoi(*maxConns); err != nil || c.AudienceMaxConns < 0 {
			return c, fmt.Errorf("--audience-max-conns %q: want a count", *maxConns)
		}
		if c.AudienceConnsPerIP, err = strconv.Atoi(*connsIP); err != nil || c.AudienceConnsPerIP < 1 {
			return c, fmt.Errorf("--audience-conns-per-ip %q: want a count ≥ 1", *connsIP)
		}
		if c.AudienceAcceptRate, err = strconv.ParseFloat(*acceptRate, 64); err != nil || c.AudienceAcceptRate <= 0 {
			return c, fmt.Errorf("--audience-accept-rate %q: want a positive number", *acceptRate)
		}
		switch *level {
		case "auto", "":
		case "elevated":
			c.ForceLevel = overload.Elevated
		case "high":
			c.ForceLevel = overload.High
		case "critical":
			c.ForceLevel = overload.Critical
		default:
			return c, fmt.Errorf("--overload %q: want auto, elevated, high or critical", *level)
		}
		return c, nil
	}
}

// parseRate reads "RATE/BURST" (per second).
func parseRate(s string) (admission.Rate, error) {
	r, b, ok := strings.Cut(s, "/")
	rate, err1 := strconv.ParseFloat(r, 64)
	burst, err2 := strconv.ParseFloat(b, 64)
	if !ok || err1 != nil || err2 != nil || rate <= 0 || burst < 1 {
		return admission.Rate{}, fmt.Errorf("%q: want RATE/BURST, e.g. 5/20", s)
	}
	return admission.Rate{PerSecond: rate, Burst: burst}, nil
}
