// Package program holds the one mixed Opus stream of a room and frames it
// once for every delivery protocol.
//
// Data flow: the room's mixer calls WriteFrame with one 20 ms Opus packet per
// tick. Every ChunkFrames packets become one immutable Chunk, carrying the
// packets both as one complete Ogg page (Chunk.Ogg) and as one WebSocket
// message payload (Chunk.WS). Before each frame the mixer notes the level
// of every speaker heard (NoteLevel); the WebSocket message of a chunk ends
// with the loudest level of each (Chunk.LevelList, nothing when nobody
// talked), in the chunk's one buffer. The chunk is stored in a fixed ring of recent
// history and published by advancing Head and closing the Wait channel.
//
// Readers (fanout listeners, recorders, packagers) keep their own position,
// poll Chunk(i) without locks and sleep on Wait when they have caught up.
// Every reader of a protocol writes the same shared bytes, so the cost of
// framing is paid once per chunk, not once per listener. A reader that falls
// so far behind that its chunk was overwritten gets nil from Chunk and must
// skip forward; the program never waits for readers.
//
// ParseWS reads a WebSocket chunk message back (tests, the load generator
// and Go clients); Ogg pages are read back with package ogg (incremental)
// or testkit.OggReader (blocking, tests). The WebSocket frame headers come
// from package wsframe. docs/listen-protocol.md describes the wire formats.
package program
