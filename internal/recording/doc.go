// Package recording keeps what a room said: the recording of its program
// (the replay), clips cut from it, and the retention job that deletes them
// when they expire.
//
// Data flow: a room's program (package program) frames every chunk once as
// an Ogg page. When recording is on, a writer follows the program's ring
// like any listener (live.Config.OnStart is the tap) and appends the
// chunks' pages to the room's file, with this file's granule positions,
// serial and sequence numbers patched in and the checksum recomputed (no
// decoding, no re-encoding). The writers of all rooms share one pump (see
// pump.go; the evidence store has its own): a pull goroutine takes every
// writer's new chunks into its bounded queue every FlushEvery (250 ms),
// then a pass of the disk goroutine writes them, one write per file, and
// every SyncEvery (1 s) syncs the files in one more pass; a side index maps
// about every second of audio to its page's byte offset. A disk that
// stalls fills the queues and costs the recordings audio, never the mixer
// or the listeners; a write error stops the recording and is reported
// (metric, log, the room's state).
//
// Each room's recording has a meta object (meta.json) with its state:
// recording → paused (complete, end-of-stream written; resumes if the room
// goes on) → finished (the room ended: the replay) → deleted (a tombstone,
// so the replay answers "gone"). A meta that still says "recording" at
// start-up was left by a crash: New repairs the file (cut at the last whole
// page, end of stream, index rebuilt from the pages).
//
// Clips and trims are cuts: the pages covering a time range copied into a
// new stream whose granule positions start at 0. Everything is stored
// through the Storage interface (Dir: the data dir's file system).
package recording
