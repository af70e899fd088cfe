package config

import (
	"errors"
	"flag"
	"strconv"
	"strings"
	"time"

	"majlis/internal/overload"
	"majlis/internal/ratelimit"
)

// value binds a setting to its Config field. Set parses the text form
// (flags, env), String prints it; the file and WriteTOML use the TOML form.
// Set only parses: ranges are Validate's.
type value interface {
	flag.Value
	// tomlKind is the TOML type the file must hold: "integer", "float"
	// (an integer also reads), "boolean", "string" or "array".
	tomlKind() string
	// toTOML is the value as WriteTOML writes it.
	toTOML() any
	// placeholder names the value in --help.
	placeholder() string
}

type stringValue string

func (v *stringValue) Set(s string) error { *v = stringValue(s); return nil }
func (v *stringValue) String() string     { return string(*v) }
func (*stringValue) tomlKind() string     { return "string" }
func (v *stringValue) toTOML() any        { return string(*v) }
func (*stringValue) placeholder() string  { return "STRING" }

type intValue int

func (v *intValue) Set(s string) error {
	n, err := strconv.Atoi(s)
	if err != nil {
		return err
	}
	*v = intValue(n)
	return nil
}
func (v *intValue) String() string    { return strconv.Itoa(int(*v)) }
func (*intValue) tomlKind() string    { return "integer" }
func (v *intValue) toTOML() any       { return int64(*v) }
func (*intValue) placeholder() string { return "N" }

type floatValue float64

func (v *floatValue) Set(s string) error {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return err
	}
	*v = floatValue(f)
	return nil
}
func (v *floatValue) String() string    { return strconv.FormatFloat(float64(*v), 'g', -1, 64) }
func (*floatValue) tomlKind() string    { return "float" }
func (v *floatValue) toTOML() any       { return float64(*v) }
func (*floatValue) placeholder() string { return "N" }

// boolValue needs its argument (--signup true): as a flag.Value without
// IsBoolFlag, `--signup true` keeps working as before.
type boolValue bool

func (v *boolValue) Set(s string) error {
	b, err := strconv.ParseBool(s)
	if err != nil {
		return err
	}
	*v = boolValue(b)
	return nil
}
func (v *boolValue) String() string    { return strconv.FormatBool(bool(*v)) }
func (*boolValue) tomlKind() string    { return "boolean" }
func (v *boolValue) toTOML() any       { return bool(*v) }
func (*boolValue) placeholder() string { return "BOOL" }

type durationValue time.Duration

func (v *durationValue) Set(s string) error {
	d, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	*v = durationValue(d)
	return nil
}

// String is time.Duration's, without zero trailing units: "5m", not "5m0s".
func (v *durationValue) String() string {
	s := time.Duration(*v).String()
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2]
	}
	return s
}
func (*durationValue) tomlKind() string    { return "string" }
func (v *durationValue) toTOML() any       { return v.String() }
func (*durationValue) placeholder() string { return "DURATION" }

// rateValue is a token bucket as "RATE/BURST" (per second).
type rateValue ratelimit.Rate

func (v *rateValue) Set(s string) error {
	r, err := parseRate(s)
	if err != nil {
		return err
	}
	*v = rateValue(r)
	return nil
}
func (v *rateValue) String() string {
	return strconv.FormatFloat(v.PerSecond, 'g', -1, 64) + "/" + strconv.FormatFloat(v.Burst, 'g', -1, 64)
}
func (*rateValue) tomlKind() string    { return "string" }
func (v *rateValue) toTOML() any       { return v.String() }
func (*rateValue) placeholder() string { return "RATE/BURST" }

// parseRate reads "RATE/BURST"; Validate checks the numbers.
func parseRate(s string) (ratelimit.Rate, error) {
	r, b, ok := strings.Cut(s, "/")
	if !ok {
		return ratelimit.Rate{}, errors.New("no /")
	}
	rate, err := strconv.ParseFloat(r, 64)
	if err != nil {
		return ratelimit.Rate{}, err
	}
	burst, err := strconv.ParseFloat(b, 64)
	if err != nil {
		return ratelimit.Rate{}, err
	}
	return ratelimit.Rate{PerSecond: rate, Burst: burst}, nil
}

// listValue is comma-separated in flags and env, an array of strings in
// the file. Empty is nil.
type listValue []string

func (v *listValue) Set(s string) error {
	*v = nil
	if s != "" {
		*v = strings.Split(s, ",")
	}
	return nil
}
func (v *listValue) String() string { return strings.Join(*v, ",") }
func (*listValue) tomlKind() string { return "array" }
func (v *listValue) toTOML() any {
	if *v == nil {
		return []string{} // written as [], not left out
	}
	return []string(*v)
}
func (*listValue) placeholder() string { return "LIST" }

// setList sets the list from the file's array.
func (v *listValue) setList(l []string) {
	*v = nil
	if len(l) > 0 {
		*v = l
	}
}

type roleValue Role

func (v *roleValue) Set(s string) error {
	if r := Role(s); r != RoleOrigin && r != RoleEdge {
		return errors.New("unknown role")
	}
	*v = roleValue(s)
	return nil
}
func (v *roleValue) String() string    { return string(*v) }
func (*roleValue) tomlKind() string    { return "string" }
func (v *roleValue) toTOML() any       { return string(*v) }
func (*roleValue) placeholder() string { return "ROLE" }

// levelValue is the pinned overload level; "auto" (overload.Normal) is
// measured.
type levelValue overload.Level

func (v *levelValue) Set(s string) error {
	switch s {
	case "auto", "":
		*v = levelValue(overload.Normal)
	case "elevated":
		*v = levelValue(overload.Elevated)
	case "high":
		*v = levelValue(overload.High)
	case "critical":
		*v = levelValue(overload.Critical)
	default:
		return errors.New("unknown level")
	}
	return nil
}
func (v *levelValue) String() string {
	switch l := overload.Level(*v); {
	case l == overload.Normal:
		return "auto"
	case l > overload.Normal && l <= overload.Critical:
		return l.String()
	default: // not a level (a Config built in code); Validate says so
		return strconv.Itoa(int(l))
	}
}
func (*levelValue) tomlKind() string    { return "string" }
func (v *levelValue) toTOML() any       { return v.String() }
func (*levelValue) placeholder() string { return "LEVEL" }
