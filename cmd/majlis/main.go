// Command majlis is the live-audio rooms server. It only parses flags and
// wires internal packages together; see internal/server.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"majlis/internal/server"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "majlis:", err)
		os.Exit(1)
	}
}

const usage = `usage: majlis <command> [flags]

commands:
  serve    run the server (majlis serve -h for flags)
  loadgen  simulate and verify many listeners of a live room (majlis loadgen -h)
  attack   flood a loopback audience port with junk, bounded (majlis attack -h)
`

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return errors.New("no command")
	}
	switch args[0] {
	case "serve":
		return serve(ctx, args[1:], getenv, stdout, stderr)
	case "loadgen":
		return loadgenCmd(ctx, args[1:], os.Stdin, stdout, stderr)
	case "attack":
		return attackCmd(ctx, args[1:], stdout, stderr)
	case "-h", "--help", "help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return fmt.Errorf("unknown command %q", args[0])
}

// envDefault returns MAJLIS_<NAME> when set, else def.
func envDefault(getenv func(string) string, name, def string) string {
	if v := getenv("MAJLIS_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))); v != "" {
		return v
	}
	return def
}

func serve(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	str := func(name, def, help string) *string {
		return fs.String(name, envDefault(getenv, name, def), help+" (env MAJLIS_"+strings.ToUpper(strings.ReplaceAll(name, "-", "_"))+")")
	}
	data := str("data", "./majlis-data", "data directory")
	httpAddr := str("http", "127.0.0.1:8080", "public address: API, listeners, web app")
	adminAddr := str("admin", "127.0.0.1:9090", "admin address: /metrics, /healthz, /readyz, /debug/pprof")
	udp := str("webrtc-udp", "8189", "UDP PORT (or HOST:PORT) for all WebRTC ICE traffic")
	publicIP := str("public-ip", "", "comma-separated public IPs announced as ICE host candidates (NAT 1:1)")
	bitrate := str("bitrate", "32000", "program Opus bitrate, bit/s")
	channels := str("channels", "1", "program channels, 1 or 2")
	chunk := str("chunk-frames", "2", "program frames (20 ms each) per listener chunk in small rooms")
	chunkMax := str("chunk-max-frames", "50", "cap of the chunk length as the audience grows (set to --chunk-frames for a fixed length)")
	ttl := str("ticket-ttl", "5m", "join ticket lifetime")
	signup := str("signup", "false", "let anyone create an account (true/false)")
	maxCohosts := str("max-cohosts", "2", "co-hosts per room besides the host")
	maxSpeakers := str("max-speakers", "10", "speakers per room besides host and co-hosts")
	autoEnd := str("auto-end", "0", "end a live room when its host has been off stage this long (0: never)")
	admissionCfg := admissionFlags(str)
	role := str("role", "origin", "origin (everything) or edge (serves listeners of an origin's rooms)")
	origin := str("origin", "", "edge role: origin base URL, e.g. http://127.0.0.1:8080")
	keyFile := str("ticket-key-file", "", "edge role: the origin's ticket key (default <data>/ticket.key)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	br, err := strconv.Atoi(*bitrate)
	if err != nil || br < 6000 || br > 510000 {
		return fmt.Errorf("--bitrate %q: want 6000..510000", *bitrate)
	}
	ch, err := strconv.Atoi(*channels)
	if err != nil || (ch != 1 && ch != 2) {
		return fmt.Errorf("--channels %q: want 1 or 2", *channels)
	}
	cf, err := strconv.Atoi(*chunk)
	if err != nil || cf < 1 || cf > 50 {
		return fmt.Errorf("--chunk-frames %q: want 1..50", *chunk)
	}
	cmf, err := strconv.Atoi(*chunkMax)
	if err != nil || cmf < 1 || cmf > 50 {
		return fmt.Errorf("--chunk-max-frames %q: want 1..50", *chunkMax)
	}
	tt, err := time.ParseDuration(*ttl)
	if err != nil || tt < 10*time.Second {
		return fmt.Errorf("--ticket-ttl %q: want a duration of at least 10s", *ttl)
	}
	adm, err := admissionCfg()
	if err != nil {
		return err
	}
	if *role == "edge" {
		return serveEdge(ctx, server.EdgeConfig{Origin: *origin, DataDir: *data, TicketKeyFile: *keyFile, HTTPAddr: *httpAddr,
			AdminAddr: *adminAddr, ChunkFrames: cf, ChunkMaxFrames: cmf, Channels: ch, Logger: slog.New(slog.NewTextHandler(stderr, nil))})
	} else if *role != "origin" {
		return fmt.Errorf("--role %q: want origin or edge", *role)
	}
	su, err := strconv.ParseBool(*signup)
	if err != nil {
		return fmt.Errorf("--signup %q: want true or false", *signup)
	}
	mc, err := strconv.Atoi(*maxCohosts)
	if err != nil || mc < 1 || mc > 20 {
		return fmt.Errorf("--max-cohosts %q: want 1..20", *maxCohosts)
	}
	ms, err := strconv.Atoi(*maxSpeakers)
	if err != nil || ms < 1 || ms > 100 {
		return fmt.Errorf("--max-speakers %q: want 1..100", *maxSpeakers)
	}
	ae, err := time.ParseDuration(*autoEnd)
	if err != nil || ae < 0 {
		return fmt.Errorf("--auto-end %q: want a duration, 0 for never", *autoEnd)
	}
	var ips []string
	if *publicIP != "" {
		ips = strings.Split(*publicIP, ",")
	}
	srv, err := server.New(server.Config{
		DataDir: *data, HTTPAddr: *httpAddr, AdminAddr: *adminAddr, WebRTCUDP: *udp, PublicIPs: ips,
		AdminToken: getenv("MAJLIS_ADMIN_TOKEN"), TicketTTL: tt,
		Logger: slog.New(slog.NewTextHandler(stderr, nil)), Out: stdout,
		Channels: ch, Bitrate: br, ChunkFrames: cf, Admission: adm, ChunkMaxFrames: cmf,
		Signup: su, MaxCohosts: mc, MaxSpeakers: ms, AutoEnd: ae,
	})
	if err != nil {
		return err
	}
	return srv.Serve(ctx)
}
