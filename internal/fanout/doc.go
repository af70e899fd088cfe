// Package fanout delivers a room's program to its listeners over HTTP
// (Ogg/Opus) and WebSocket.
//
// Data flow: the program (package program) publishes immutable chunks that
// are already framed for each protocol, down to the wire bytes (an HTTP/1.1
// chunked-encoding chunk of an Ogg page, a complete WebSocket frame).
//
// Listeners on HTTP/1.1 use the sharded writer (shard.go): the request is
// hijacked (for WebSocket after our own handshake, wsraw.go) and its socket
// handed to one of a few shard goroutines of the program, which write each
// chunk's shared bytes (Chunk.OggHTTP or Chunk.WSFrame) to all their
// sockets with one non-blocking write(2) each, and read WebSocket clients'
// input with one non-blocking read(2) each; ServeOggDetached and
// ServeWSDetached then keep no goroutine or buffer per listener. With
// Config.PerListener, or when the connection cannot be hijacked as a plain
// socket (TLS, HTTP/2), listeners use the per-listener path below.
//
// Per-listener path: every listener is one goroutine with
// its own position in the program's ring: it writes the shared bytes of each
// chunk (Chunk.Ogg or Chunk.WS) straight to its connection, and sleeps on
// Program.Wait when it has caught up. Nothing is encoded or copied per
// listener, and listeners share no lock or queue with each other or with the
// mixer.
//
// A new listener first gets the protocol's stream header and the newest
// PrerollChunks chunks, so playback starts at once. A listener that falls
// more than MaxBacklog chunks behind the head (or whose next chunk was
// overwritten in the ring) is skipped forward to the newest PrerollChunks
// chunks; after MaxSkips skips, or a write that does not complete within
// WriteTimeout, it is disconnected. A slow listener therefore only ever
// hurts itself.
//
// The Hub owns the listener goroutines (HTTP handler goroutines, plus one
// WebSocket reader each): Hub.Close ends them all and waits for them.
package fanout
