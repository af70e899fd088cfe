package testkit

import (
	"bytes"
	"fmt"
	"strings"
	"unicode/utf8"
)

// Calendar is an iCalendar stream as ReadCalendar read it: the VCALENDAR's
// own properties and each VEVENT's, by name, values as written (TEXT
// still escaped: Unescape reads it).
type Calendar struct {
	Props  map[string]string
	Events []map[string]string
	// Folded counts the folded physical lines.
	Folded int
}

// ReadCalendar reads an iCalendar stream (RFC 5545) strictly: every line
// ends with CRLF, holds no other CR or LF, is at most 75 octets and valid
// UTF-8 (no sequence split by a fold); continuations are unfolded (§3.1);
// the stream is one VCALENDAR with VERSION and PRODID; a property appears
// once per component. Parameters (NAME;PARAM=…:value) are not expected.
func ReadCalendar(raw []byte) (Calendar, error) {
	c := Calendar{Props: map[string]string{}}
	if !bytes.HasSuffix(raw, []byte("\r\n")) {
		return c, fmt.Errorf("the stream does not end with CRLF")
	}
	var lines []string
	for i, l := range strings.Split(strings.TrimSuffix(string(raw), "\r\n"), "\r\n") {
		switch {
		case strings.ContainsAny(l, "\r\n"):
			return c, fmt.Errorf("line %d %q holds a bare CR or LF", i, l)
		case len(l) > 75:
			return c, fmt.Errorf("line %d is %d octets, over 75: %q", i, len(l), l)
		case !utf8.ValidString(l):
			return c, fmt.Errorf("line %d is not UTF-8 (a fold split a sequence?): %q", i, l)
		}
		if strings.HasPrefix(l, " ") || strings.HasPrefix(l, "\t") {
			if len(lines) == 0 {
				return c, fmt.Errorf("the stream starts with a continuation")
			}
			lines[len(lines)-1] += l[1:]
			c.Folded++
			continue
		}
		lines = append(lines, l)
	}
	if len(lines) < 2 || lines[0] != "BEGIN:VCALENDAR" || lines[len(lines)-1] != "END:VCALENDAR" {
		return c, fmt.Errorf("not one VCALENDAR")
	}
	var ev map[string]string
	for _, l := range lines[1 : len(lines)-1] {
		name, value, ok := strings.Cut(l, ":")
		if !ok || name == "" || strings.Contains(name, ";") {
			return c, fmt.Errorf("content line %q: want NAME:value", l)
		}
		switch {
		case l == "BEGIN:VEVENT" && ev == nil:
			ev = map[string]string{}
			continue
		case l == "END:VEVENT" && ev != nil:
			c.Events = append(c.Events, ev)
			ev = nil
			continue
		case name == "BEGIN" || name == "END":
			return c, fmt.Errorf("unexpected %q", l)
		}
		cur := c.Props
		if ev != nil {
			cur = ev
		}
		if _, dup := cur[name]; dup {
			return c, fmt.Errorf("%s twice", name)
		}
		cur[name] = value
	}
	if ev != nil {
		return c, fmt.Errorf("VEVENT not ended")
	}
	if c.Props["VERSION"] != "2.0" || c.Props["PRODID"] == "" {
		return c, fmt.Errorf("VERSION %q, PRODID %q", c.Props["VERSION"], c.Props["PRODID"])
	}
	return c, nil
}

// Unescape reads a TEXT value (RFC 5545 §3.3.11); an unescaped comma or
// semicolon, or an unknown escape, is an error.
func Unescape(s string) (string, error) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		ch := s[i]
		if ch == ';' || ch == ',' {
			return "", fmt.Errorf("unescaped %q in %q", ch, s)
		}
		if ch != '\\' {
			b.WriteByte(ch)
			continue
		}
		if i++; i == len(s) {
			return "", fmt.Errorf("%q ends in a lone backslash", s)
		}
		switch s[i] {
		case 'n', 'N':
			b.WriteByte('\n')
		case '\\', ';', ',':
			b.WriteByte(s[i])
		default:
			return "", fmt.Errorf("bad escape \\%c in %q", s[i], s)
		}
	}
	return b.String(), nil
}
