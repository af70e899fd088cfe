package config

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"

	"github.com/BurntSushi/toml"
)

// EnvConfig names the config file when --config is not given.
const EnvConfig = "MAJLIS_CONFIG"

// Load returns the configuration a command line asks for (args are the
// subcommand's flags): Default, then the config file (--config or
// MAJLIS_CONFIG), then MAJLIS_* from getenv (an empty variable counts as
// unset), then the flags; then Validate. It returns flag.ErrHelp for -h or
// --help (print Usage then).
func Load(args []string, getenv func(string) string) (Config, error) {
	// The flags are parsed twice: first into a scratch Config, for their
	// syntax, --help and --config; then over the file and env.
	var scratch Config
	file, err := parseFlags(&scratch, args)
	if err != nil {
		return Config{}, err
	}
	if file == "" {
		file = getenv(EnvConfig)
	}
	c := Default()
	if file != "" {
		if err := c.ReadFile(file); err != nil {
			return Config{}, err
		}
	}
	if err := c.readEnv(getenv); err != nil {
		return Config{}, err
	}
	if _, err := parseFlags(&c, args); err != nil {
		return Config{}, err
	}
	if err := c.Validate(); err != nil {
		return Config{}, err
	}
	return c, nil
}

// parseFlags sets c's fields from args and returns --config.
func parseFlags(c *Config, args []string) (file string, err error) {
	fs := flag.NewFlagSet("majlis", flag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors are returned; Usage is the caller's to print
	fs.Usage = func() {}
	var first error // the flag package hides a Value's error in its own text
	fs.StringVar(&file, "config", "", "")
	for _, s := range settings() {
		if !s.secret {
			fs.Var(flagValue{s: s, v: s.bind(c), err: &first}, s.name, s.help)
		}
	}
	err = fs.Parse(args)
	if first != nil {
		return "", first
	}
	if err != nil {
		return "", err
	}
	if fs.NArg() > 0 {
		return "", fmt.Errorf("unexpected argument %q (settings are --name value)", fs.Arg(0))
	}
	return file, nil
}

// flagValue turns a value's parse error into the setting's own message.
type flagValue struct {
	s   setting
	v   value
	err *error
}

func (f flagValue) String() string {
	if f.v == nil { // the flag package's zero-value probe
		return ""
	}
	return f.v.String()
}

func (f flagValue) Set(x string) error {
	if err := f.v.Set(x); err != nil {
		err = f.s.bad(x)
		if *f.err == nil {
			*f.err = err
		}
		return err
	}
	return nil
}

// bad is the error for text x that does not parse as s.
func (s setting) bad(x string) error {
	if s.secret {
		x = redacted
	}
	return fmt.Errorf("--%s %q: want %s", s.name, x, s.want)
}

// readEnv sets each setting whose MAJLIS_<NAME> is not empty.
func (c *Config) readEnv(getenv func(string) string) error {
	for _, s := range settings() {
		x := getenv(envName(s.name))
		if x == "" {
			continue
		}
		if err := s.bind(c).Set(x); err != nil {
			return fmt.Errorf("%s (from %s)", s.bad(x), envName(s.name))
		}
	}
	return nil
}

// ReadFile sets the settings a TOML config file holds, over c. Keys are
// the flag names; an unknown key, a value of the wrong type or out of
// syntax is an error naming the file and line. A secret written as
// "<redacted>" (WriteTOML's output) leaves c's value as it is.
func (c *Config) ReadFile(path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("config file: %w", err)
	}
	return c.decodeTOML(path, string(data))
}

func (c *Config) decodeTOML(name, data string) error {
	var top map[string]toml.Primitive
	md, err := toml.Decode(data, &top)
	if err != nil {
		return fileError(name, err)
	}
	known := make(map[string]setting)
	for _, s := range settings() {
		known[s.name] = s
	}
	for _, key := range md.Keys() { // in file order, so the first bad line is reported
		if len(key) != 1 {
			continue // inside a table: its top key is reported
		}
		s, ok := known[key[0]]
		if err := md.PrimitiveDecode(top[key[0]], &fileValue{key: key[0], s: s, known: ok, c: c}); err != nil {
			return fileError(name, err)
		}
	}
	return nil
}

// fileError puts the file name and line in front of a decode error.
func fileError(name string, err error) error {
	var pe toml.ParseError
	if errors.As(err, &pe) && pe.Position.Line > 0 {
		return fmt.Errorf("%s:%d: %s", name, pe.Position.Line, pe.Message)
	}
	return fmt.Errorf("%s: %w", name, err)
}

// fileValue sets one setting from its decoded TOML value (toml.Unmarshaler,
// so the decoder adds the key's line to an error).
type fileValue struct {
	key   string
	s     setting
	known bool
	c     *Config
}

func (f *fileValue) UnmarshalTOML(data any) error {
	if !f.known {
		return fmt.Errorf("unknown setting %q (the keys are the flag names: majlis serve --help)", f.key)
	}
	s, v := f.s, f.s.bind(f.c)
	var x string // the value as text, for Set
	match := false
	switch d := data.(type) {
	case string:
		if s.secret && d == redacted {
			return nil
		}
		x, match = d, v.tomlKind() == "string"
	case int64:
		x, match = strconv.FormatInt(d, 10), v.tomlKind() == "integer" || v.tomlKind() == "float"
	case float64:
		x, match = strconv.FormatFloat(d, 'g', -1, 64), v.tomlKind() == "float"
	case bool:
		x, match = strconv.FormatBool(d), v.tomlKind() == "boolean"
	case []any:
		if l, ok := v.(*listValue); ok {
			return setList(s, l, d)
		}
	}
	if !match {
		return fmt.Errorf("--%s: want %s (a TOML %s), not %s", s.name, s.want, v.tomlKind(), tomlType(data))
	}
	if err := v.Set(x); err != nil {
		return s.bad(x)
	}
	return nil
}

func setList(s setting, l *listValue, d []any) error {
	out := make([]string, 0, len(d))
	for _, e := range d {
		str, ok := e.(string)
		if !ok {
			return fmt.Errorf("--%s: want an array of strings, not of %s", s.name, tomlType(e))
		}
		out = append(out, str)
	}
	l.setList(out)
	return nil
}

// tomlType names a decoded TOML value's type for an error.
func tomlType(v any) string {
	switch v.(type) {
	case string:
		return "a string"
	case int64:
		return "an integer"
	case float64:
		return "a float"
	case bool:
		return "a boolean"
	case []any, []map[string]any:
		return "an array"
	case map[string]any:
		return "a table"
	}
	return fmt.Sprintf("a %T", v) // dates and times
}
