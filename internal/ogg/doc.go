// Package ogg reads Ogg pages (RFC 3533) incrementally: one Parser per
// stream, fed the stream's bytes in whatever pieces they arrive, keeping
// only the page header and a running checksum between pieces.
//
// Data flow: Parser.Next takes bytes and says what they were: a complete
// page header (Page describes it: flags, granule position, serial and
// sequence number, whether pages were lost before it), lacing values, body
// bytes (passed through, not copied), and, once the last body byte is in
// and the page's CRC matches, the end of the page. The load generator uses
// it to time the pages of thousands of listen.ogg streams; the blocking
// packet reader of the tests (testkit.OggReader) keeps the lacing and body
// it is shown to reassemble packets. Check runs the Parser over one whole
// page a random-access reader read itself (a recording's pages, read by
// offset). CRC is the Ogg checksum, also used by package program to build
// pages.
package ogg
