package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"majlis/internal/loadgen"
	"majlis/internal/server"
)

// loadgenCmd runs `majlis loadgen`: many verified listeners of one room,
// spread over worker processes (the same binary with --worker).
func loadgenCmd(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("loadgen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	worker := fs.Bool("worker", false, "internal: run as a worker (Config JSON on stdin, results JSON on stdout)")
	origin := fs.String("origin", "http://"+server.DefaultHTTPAddr, "server base URL for joins (loopback only)")
	room := fs.String("room", "", "room id (must be live); several, comma-separated, spread the listeners over them (listener n: the (n mod count)-th)")
	listenAt := fs.String("listen-at", "", "comma-separated base URLs listeners connect to (edges); default --origin")
	n := fs.Int("listeners", 100, "listeners to simulate")
	proto := fs.String("proto", "ogg", "ogg, ws, mix or hls (LL-HLS players: blocking reloads, each part once; --listen-at a cache)")
	ramp := fs.Float64("ramp", 1000, "new listeners per second (0: all at once)")
	dur := fs.Duration("duration", time.Minute, "run length from the first connect")
	sources := fs.String("sources", "127.0.0.1", "local source IPs: comma-separated, or 127.0.0.A-B")
	ticket := fs.String("ticket", "", "reuse this ticket for every listener instead of joining per listener")
	keyFile := fs.String("ticket-key-file", "", "mint a ticket per listener with this key (the server's <data>/ticket.key) instead of joining")
	tol := fs.Duration("tolerance", loadgen.DefaultTolerance, "player buffer: arrivals later than this count as a stall")
	workers := fs.Int("workers", 1, "worker processes (each is limited to 20,000 open files)")
	pids := fs.String("server-pids", "", "comma-separated PIDs of the server processes to measure (CPU, RSS)")
	out := fs.String("out", "", "also write the JSON report to this file")
	reconnect := fs.Bool("reconnect", false, "a listener whose stream ends early joins again and reconnects (as a player does when its edge dies)")
	rooms := fs.Int("rooms", 0, "open this many live rooms for the run (with --token-file) and spread the listeners over them; they are ended afterwards. With --listeners 0: hold the rooms for --duration and measure the server (--server-pids)")
	tokenFile := fs.String("token-file", "", "file holding a bearer token that may create rooms, for --rooms (the server's <data>/admin.token)")
	keepRooms := fs.Bool("keep-rooms", false, "leave the --rooms rooms live after the run")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *worker {
		return loadgen.RunWorker(ctx, stdin, stdout)
	}
	var serverPIDs []int
	if *pids != "" {
		for _, s := range strings.Split(*pids, ",") {
			p, err := strconv.Atoi(s)
			if err != nil {
				return fmt.Errorf("--server-pids %q", *pids)
			}
			serverPIDs = append(serverPIDs, p)
		}
	}
	if *rooms != 0 {
		switch {
		case *room != "":
			return fmt.Errorf("--rooms and --room: give one of them")
		case *proto == "hls":
			return fmt.Errorf("--rooms: not with --proto hls (one room per run)")
		case *tokenFile == "":
			return fmt.Errorf("--rooms needs --token-file (a token that may create rooms: <data>/admin.token)")
		case *n == 0 && len(serverPIDs) == 0:
			return fmt.Errorf("--rooms with --listeners 0 measures the server: give --server-pids")
		}
		tb, err := os.ReadFile(*tokenFile)
		if err != nil {
			return err
		}
		token := strings.TrimSpace(string(tb))
		base := strings.TrimSuffix(*origin, "/")
		hc := &http.Client{Timeout: 20 * time.Second}
		ids, err := loadgen.CreateRooms(ctx, hc, base, token, *rooms)
		if err != nil {
			return err
		}
		fmt.Fprintf(stderr, "loadgen: %d live rooms opened\n", len(ids))
		if !*keepRooms {
			defer func() {
				// The run's context may be over (a signal): the rooms still end.
				if err := loadgen.EndRooms(context.WithoutCancel(ctx), hc, base, token, ids); err != nil {
					fmt.Fprintf(stderr, "loadgen: ending the rooms: %v\n", err)
				}
			}()
		}
		if *n == 0 {
			u, err := loadgen.Hold(ctx, *dur, serverPIDs)
			if err != nil {
				return err
			}
			return writeReport(map[string]any{"rooms": len(ids), "listeners": 0, "server": u}, *out, stdout)
		}
		*room = strings.Join(ids, ",")
	}
	if *proto == "hls" {
		return loadgenHLS(ctx, strings.TrimSuffix(*origin, "/"), strings.TrimSuffix(*listenAt, "/"), *room, *n, *ramp, *dur, *out, stdout)
	}
	srcs, err := parseSources(*sources)
	if err != nil {
		return err
	}
	c := loadgen.Config{Origin: strings.TrimSuffix(*origin, "/"), Room: *room, Listeners: *n, Proto: *proto, Ramp: *ramp,
		Duration: loadgen.Duration(*dur), Sources: srcs, Ticket: *ticket, Tolerance: loadgen.Duration(*tol), Reconnect: *reconnect}
	if *keyFile != "" {
		if c.TicketKey, err = os.ReadFile(*keyFile); err != nil {
			return err
		}
	}
	if *listenAt != "" {
		for _, s := range strings.Split(*listenAt, ",") {
			c.ListenAt = append(c.ListenAt, strings.TrimSuffix(s, "/"))
		}
	}
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	rep, err := loadgen.RunWorkers(ctx, c, *workers, exe, serverPIDs, stderr)
	if err != nil {
		return err
	}
	return writeReport(rep, *out, stdout)
}

// writeReport prints the JSON report, and writes it to out too if set.
func writeReport(rep any, out string, stdout io.Writer) error {
	b, _ := json.MarshalIndent(rep, "", "  ")
	b = append(b, '\n')
	if out != "" {
		if err := os.WriteFile(out, b, 0o644); err != nil {
			return err
		}
	}
	_, err := stdout.Write(b)
	return err
}

// parseSources reads "127.0.0.1,127.0.0.2" or "127.0.0.1-8".
func parseSources(s string) ([]string, error) {
	if a, b, ok := strings.Cut(s, "-"); ok {
		i := strings.LastIndexByte(a, '.')
		lo, err1 := strconv.Atoi(a[i+1:])
		hi, err2 := strconv.Atoi(b)
		if i < 0 || err1 != nil || err2 != nil || lo > hi || hi > 254 {
			return nil, fmt.Errorf("--sources %q: want 127.0.0.A-B", s)
		}
		var out []string
		for k := lo; k <= hi; k++ {
			out = append(out, a[:i+1]+strconv.Itoa(k))
		}
		return out, nil
	}
	return strings.Split(s, ","), nil
}

// loadgenHLS runs LL-HLS players in this process (they are cheap: HTTP
// requests on kept-alive connections, not streams) and prints the report.
func loadgenHLS(ctx context.Context, origin, listenAt, room string, n int, ramp float64, dur time.Duration, out string, stdout io.Writer) error {
	if strings.Contains(listenAt, ",") {
		return fmt.Errorf("--listen-at: one base URL with --proto hls (a cache)")
	}
	rep, err := loadgen.RunHLS(ctx, loadgen.HLSConfig{Origin: origin, ListenAt: listenAt, Room: room, Players: n, Ramp: ramp, Duration: dur})
	if err != nil {
		return err
	}
	return writeReport(rep, out, stdout)
}
