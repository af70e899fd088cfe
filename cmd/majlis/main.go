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
`

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return errors.New("no command")
	}
	switch args[0] {
	case "serve":
		return serve(ctx, args[1:], getenv, stdout, stderr)
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
	chunk := str("chunk-frames", "2", "program frames (20 ms each) per listener chunk")
	ttl := str("ticket-ttl", "5m", "join ticket lifetime")
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
	tt, err := time.ParseDuration(*ttl)
	if err != nil || tt < 10*time.Second {
		return fmt.Errorf("--ticket-ttl %q: want a duration of at least 10s", *ttl)
	}
	var ips []string
	if *publicIP != "" {
		ips = strings.Split(*publicIP, ",")
	}
	srv, err := server.New(server.Config{
		DataDir: *data, HTTPAddr: *httpAddr, AdminAddr: *adminAddr, WebRTCUDP: *udp, PublicIPs: ips,
		AdminToken: getenv("MAJLIS_ADMIN_TOKEN"), TicketTTL: tt,
		Logger: slog.New(slog.NewTextHandler(stderr, nil)), Out: stdout,
		Channels: ch, Bitrate: br, ChunkFrames: cf,
	})
	if err != nil {
		return err
	}
	return srv.Serve(ctx)
}
