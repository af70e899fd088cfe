package main

import (
	"errors"
	"flag"
	"io"

	"majlis/internal/config"
)

// configCmd runs `majlis config`: the settings serve would run with (same
// flags, env and file), printed as a config file, secrets redacted.
func configCmd(args []string, getenv func(string) string, stdout io.Writer) error {
	cfg, err := config.Load(args, getenv)
	if errors.Is(err, flag.ErrHelp) {
		config.Usage(stdout, "config")
		return nil
	}
	if err != nil {
		return err
	}
	return cfg.WriteTOML(stdout)
}
