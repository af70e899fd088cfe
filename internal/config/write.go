package config

import (
	"bytes"
	"fmt"
	"io"
	"strings"

	"github.com/BurntSushi/toml"
)

// redacted stands for a secret's value in WriteTOML's output; ReadFile
// skips it, so the output loads back (with the secret from the env).
const redacted = "<redacted>"

// WriteTOML writes c as a config file ReadFile reads back: every setting
// in --help's order, each under a comment with its help and env var.
// Secrets that are set are written as "<redacted>".
func (c Config) WriteTOML(w io.Writer) error {
	var b bytes.Buffer
	b.WriteString("# majlis serve settings. Load with --config FILE (or MAJLIS_CONFIG=FILE);\n" +
		"# MAJLIS_<NAME> env vars override the file, flags override both.\n")
	for _, s := range settings() {
		v := s.bind(&c)
		val := v.toTOML()
		if s.secret && v.String() != "" {
			val = redacted
		}
		fmt.Fprintf(&b, "\n# %s (env %s)\n", s.help, envName(s.name))
		if err := toml.NewEncoder(&b).Encode(map[string]any{s.name: val}); err != nil {
			return fmt.Errorf("config: %s: %w", s.name, err)
		}
	}
	_, err := w.Write(b.Bytes())
	return err
}

// Usage writes the help of `majlis <cmd>`: every setting with its flag,
// default and env var.
func Usage(w io.Writer, cmd string) {
	def := Default()
	var b strings.Builder
	fmt.Fprintf(&b, "usage: majlis %s [flags]\n\n", cmd)
	b.WriteString("Each setting comes, in rising precedence, from its default, the config file\n" +
		"(TOML; keys are the flag names, see docs/majlis.example.toml), its MAJLIS_<NAME>\n" +
		"env var, and its flag. `majlis config [flags]` prints the effective settings as\n" +
		"a config file.\n\n")
	fmt.Fprintf(&b, "  --config FILE\n    \tconfig file (env %s)\n", EnvConfig)
	for _, s := range settings() {
		v := s.bind(&def)
		arg := s.arg
		if arg == "" {
			arg = v.placeholder()
		}
		d := "none"
		if x := v.String(); x != "" {
			d = show(x)
		}
		if s.secret {
			fmt.Fprintf(&b, "  %s %s (no flag: the command line is visible to every local user)\n    \t%s (default %s; env %s, or the config file)\n",
				s.name, arg, s.help, d, envName(s.name))
			continue
		}
		fmt.Fprintf(&b, "  --%s %s\n    \t%s (default %s; env %s)\n", s.name, arg, s.help, d, envName(s.name))
	}
	io.WriteString(w, b.String())
}
