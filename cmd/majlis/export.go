package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"time"

	"majlis/internal/config"
	"majlis/internal/safety"
)

const exportUsage = `usage: majlis export statements [--data-dir DIR] [--since RFC3339]

Prints the statements of reasons decided since the time (default: all) as
Transparency Database API v2 JSON: {"statements":[…]}, oldest first.
`

// exportCmd runs `majlis export statements`: it reads safety.db in the data
// dir (the serve settings' --data-dir, MAJLIS_DATA_DIR or the config file's,
// unless --data-dir is given here) and changes nothing.
func exportCmd(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "statements" {
		fmt.Fprint(stderr, exportUsage)
		return errors.New("export what? (statements)")
	}
	fs := flag.NewFlagSet("export statements", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dataDir := fs.String("data-dir", "", "the server's data dir (default: the serve settings')")
	sinceS := fs.String("since", "", "only statements decided at or after this RFC 3339 time")
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(stdout, exportUsage)
			return nil
		}
		return err
	}
	if *dataDir == "" {
		cfg, err := config.Load(nil, getenv)
		if err != nil {
			return err
		}
		*dataDir = cfg.DataDir
	}
	var since time.Time
	if *sinceS != "" {
		var err error
		if since, err = time.Parse(time.RFC3339, *sinceS); err != nil {
			return fmt.Errorf("--since: %w", err)
		}
	}
	all := []safety.TDBStatement{}
	path := filepath.Join(*dataDir, "safety.db")
	for {
		page, last, err := safety.ReadStatements(ctx, path, since, safety.MaxStatements)
		if err != nil {
			return err
		}
		all = append(all, page...)
		if len(page) < safety.MaxStatements {
			break
		}
		since = last.Add(time.Millisecond)
	}
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(map[string]any{"statements": all})
}
