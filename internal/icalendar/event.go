package icalendar

import (
	"bytes"
	"strings"
	"time"
	"unicode/utf8"
)

// Event is one VEVENT (RFC 5545 §3.6.1).
type Event struct {
	UID         string    // globally unique and stable: importing it again updates the entry
	Stamp       time.Time // DTSTAMP: when this file was made
	Start       time.Time // DTSTART, written in UTC
	Summary     string    // the title
	Description string
	URL         string // a URI (§3.8.4.6)
}

// maxLine is the longest content line in octets, CRLF excluded (§3.1).
const maxLine = 75

// utcLayout is a DATE-TIME in UTC, form #2 (§3.3.5).
const utcLayout = "20060102T150405Z"

// Calendar is a VCALENDAR holding events, from the product prodID (§3.7.3,
// e.g. "-//majlis//majlis//EN").
func Calendar(prodID string, events ...Event) []byte {
	var b bytes.Buffer
	line := func(name, value string) { writeLine(&b, name+":"+value) }
	line("BEGIN", "VCALENDAR")
	line("VERSION", "2.0")
	line("PRODID", Text(prodID))
	line("CALSCALE", "GREGORIAN")
	line("METHOD", "PUBLISH")
	for _, e := range events {
		line("BEGIN", "VEVENT")
		line("UID", Text(e.UID))
		line("DTSTAMP", e.Stamp.UTC().Format(utcLayout))
		line("DTSTART", e.Start.UTC().Format(utcLayout))
		line("SUMMARY", Text(e.Summary))
		if e.Description != "" {
			line("DESCRIPTION", Text(e.Description))
		}
		if e.URL != "" {
			line("URL", stripControls(e.URL))
		}
		line("END", "VEVENT")
	}
	line("END", "VCALENDAR")
	return b.Bytes()
}

// Text escapes s as a TEXT value (§3.3.11): backslash, semicolon and comma
// get a backslash, a line break (CRLF, LF or CR) becomes \n, and other
// control characters, which TEXT cannot hold, are left out (a tab stays).
func Text(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		i += n
		switch {
		case r == '\\' || r == ';' || r == ',':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r == '\r':
			if i < len(s) && s[i] == '\n' {
				i++
			}
			b.WriteString(`\n`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\t':
			b.WriteRune(r)
		case r < 0x20 || r == 0x7f || r == utf8.RuneError && n == 1:
			// not TEXT (and not UTF-8): dropped
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// stripControls leaves out what a URI value cannot hold unescaped and a
// content line must not: control characters and invalid UTF-8.
func stripControls(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || r == utf8.RuneError {
			return -1
		}
		return r
	}, s)
}

// writeLine writes one content line ended by CRLF, folded (§3.1) so that
// no line is longer than maxLine octets: each continuation starts with a
// space, which counts, and no UTF-8 sequence is split.
func writeLine(b *bytes.Buffer, s string) {
	limit := maxLine
	for len(s) > limit {
		cut := limit
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		b.WriteString(s[:cut])
		b.WriteString("\r\n ")
		s = s[cut:]
		limit = maxLine - 1
	}
	b.WriteString(s)
	b.WriteString("\r\n")
}
