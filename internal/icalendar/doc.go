// Package icalendar writes iCalendar files (RFC 5545): a VCALENDAR of
// VEVENTs, as a calendar application imports them (the web app's "Add to
// calendar" for a scheduled room).
//
// Data flows one way: an Event (plain Go values) is written as content
// lines (§3.1), each property's value escaped as TEXT (§3.3.11) or written
// as a URI or a UTC DATE-TIME (§3.3.5, form #2), every line ended by CRLF
// and folded at 75 octets, never inside a UTF-8 sequence. The package
// parses nothing.
package icalendar
