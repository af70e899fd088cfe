// Command majlis is the live-audio rooms server. It only parses flags and
// wires internal packages together; see internal/config and internal/server.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
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
  serve    run the server (majlis serve -h for its settings)
  config   print the effective serve settings as a config file (same flags as serve)
  loadgen  simulate and verify many listeners of a live room (majlis loadgen -h)
  attack   flood a loopback audience port with junk, bounded (majlis attack -h)
  audit    verify the audit log's hash chain (majlis audit verify [--data DIR])
  export   print the statements of reasons as Transparency Database JSON (majlis export statements -h)
`

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return errors.New("no command")
	}
	switch args[0] {
	case "serve":
		return serve(ctx, args[1:], getenv, stdout, stderr)
	case "config":
		return configCmd(args[1:], getenv, stdout)
	case "loadgen":
		return loadgenCmd(ctx, args[1:], os.Stdin, stdout, stderr)
	case "attack":
		return attackCmd(ctx, args[1:], stdout, stderr)
	case "audit":
		return auditCmd(ctx, args[1:], getenv, stdout, stderr)
	case "export":
		return exportCmd(ctx, args[1:], getenv, stdout, stderr)
	case "-h", "--help", "help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return fmt.Errorf("unknown command %q", args[0])
}
