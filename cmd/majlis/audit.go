package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"

	"majlis/internal/audit"
	"majlis/internal/config"
	"majlis/internal/server"
)

const auditUsage = `usage: majlis audit verify [--data DIR] [--config FILE]

verify walks the audit log's hash chain (DIR/audit.db, the data dir serve
uses: the same flags, MAJLIS_* env and config file) and prints
"ok: N rows, head HASH", or the first bad row (edited, removed, moved) and
exits 1. It does not write to the log; the server may be running.
`

// auditCmd runs `majlis audit`.
func auditCmd(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "verify" {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
			fmt.Fprint(stdout, auditUsage)
			return nil
		}
		fmt.Fprint(stderr, auditUsage)
		return errors.New("audit: want a subcommand: verify")
	}
	cfg, err := config.Load(args[1:], getenv)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprint(stdout, auditUsage)
		return nil
	}
	if err != nil {
		return err
	}
	v, err := audit.VerifyFile(ctx, server.AuditPath(cfg.DataDir))
	var ce *audit.ChainError
	if errors.As(err, &ce) {
		fmt.Fprintf(stdout, "bad: row %d: %s\n", ce.Seq, ce.Reason)
		if ce.Row != nil {
			b, _ := json.Marshal(ce.Row)
			fmt.Fprintf(stdout, "row: %s\n", b)
		}
		fmt.Fprintf(stdout, "the %d rows before it verify\n", v.Rows)
		return fmt.Errorf("audit log %s does not verify", server.AuditPath(cfg.DataDir))
	}
	if err != nil {
		return err
	}
	head := v.Head
	if head == "" {
		head = "(empty)"
	}
	fmt.Fprintf(stdout, "ok: %d rows, head %s\n", v.Rows, head)
	return nil
}
