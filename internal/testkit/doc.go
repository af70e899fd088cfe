// Package testkit is test-support code shared between packages: readers
// and clients that act as the other end of the server in tests and
// benchmarks, never used by the product.
//
//   - OggReader reads the packets of a listen.ogg stream (or any Ogg/Opus
//     stream) from an io.Reader, blocking: package ogg's incremental Parser
//     checks each page, OggReader reassembles packets across pages and
//     checks the Opus headers. Data flows r → Parser → page lacing and
//     body → NextPacket.
//   - WHIPClient publishes an Opus track to a WHIP endpoint the way OBS and
//     GStreamer do (PublishWHIP), and hands what the server forwards back to
//     a callback: a stage member in tests.
//   - ReadCalendar reads an iCalendar stream strictly (CRLF, 75-octet
//     folds on character boundaries, one VCALENDAR) and Unescape its TEXT
//     values: a calendar application's view of a .ics download.
//   - WriteCert writes a self-signed certificate for 127.0.0.1 and its
//     key, as an operator's files for --tls-cert and --tls-key.
//
// It imports no package of the server (only ogg), so any package's own
// tests can use it.
package testkit
