// Package audit is the platform's append-only audit log: every moderator,
// host-moderation and admin action, and every evidence access, as a row
// that says who did what to what, when and why. Rows are hash-chained
// (each row's hash covers the previous row's), so an edited, removed or
// reordered row is detected by Verify (`majlis audit verify`).
//
// A domain (room, account, the evidence hook) calls Recorder.Record once
// its action took effect. Log.Record takes the one writer lock, numbers
// the row after the last, hashes it over the previous row's hash (chain.go
// has the encoding; docs/audit.md the same recipe), inserts it and commits
// (WAL, synchronous=FULL) before it returns; a failure is ErrUnavailable,
// which the domain returns to its caller. Readers (Query, Verify) use a
// pool of read-only connections and never wait for the writer.
//
// # Files
//
// entry.go (Entry, Row, Recorder), log.go (Open, Record, Close: the file
// and the writer), chain.go (the hash, Verify, VerifyFile), query.go
// (Query, Filter).
package audit
