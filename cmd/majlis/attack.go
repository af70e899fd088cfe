package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"majlis/internal/attack"
	"majlis/internal/server"
)

// attackCmd runs `majlis attack`: a bounded junk flood against a loopback
// audience port (internal/attack).
func attackCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("attack", flag.ContinueOnError)
	fs.SetOutput(stderr)
	target := fs.String("target", "http://"+server.DefaultHTTPAddr, "audience base URL (loopback only)")
	room := fs.String("room", "", "room id to aim at")
	joinTarget := fs.String("join-target", "", "where wsflood joins (an edge's origin; loopback only); empty: --target")
	kinds := fs.String("kinds", strings.Join(attack.Kinds, ","), "comma-separated: "+strings.Join(attack.Kinds, ",")+"; also "+strings.Join(attack.MoreKinds, ","))
	dur := fs.Duration("duration", 20*time.Second, "how long (at most 5m)")
	workers := fs.Int("workers", 16, "concurrent requesters per request kind (listen, join, whip, login, rooms)")
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
	rep, err := attack.Run(ctx, attack.Config{Target: *target, JoinTarget: *joinTarget, Room: *room, Kinds: strings.Split(*kinds, ","), Duration: *dur,
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
