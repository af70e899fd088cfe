// Package fanout delivers a room's program to its listeners over HTTP
// (Ogg/Opus) and WebSocket: it decides what each listener gets and when a
// slow one is skipped or dropped, answers the HTTP side, keeps the metrics,
// and has the raw-socket engine (package shard) do the writing.
//
// Data flow: the program (package program) publishes immutable chunks that
// are already framed for each protocol, down to the wire bytes (an HTTP/1.1
// chunked-encoding chunk of an Ogg page, a complete WebSocket frame).
// ServeOggDetached and ServeWSDetached check the request (method, the
// WebSocket handshake and origin), build the response head and the stream
// header (the Ogg header pages, or the 101 response and the hello message),
// pick the start (the newest PrerollChunks chunks, so playback starts at
// once) and hand the connection to the engine with one of the hub's three
// listener kinds: chunked Ogg (HTTP/1.1), plain Ogg (HTTP/1.0), WebSocket.
// They return at once: the engine's shards write each chunk's shared bytes
// to every socket, so no goroutine or buffer stays with a listener, and
// onEnd runs when the listener ends.
//
// Policy: a listener that falls more than MaxBacklog chunks behind the head
// (or whose next chunk was overwritten in the ring) is skipped forward to
// the newest PrerollChunks chunks; after MaxSkips skips, or when its socket
// takes nothing for WriteTimeout, it is disconnected (slowPolicy, and the
// close frame of wsFinal). A slow listener therefore only ever hurts itself.
// WebSocket clients may send pings and a close, within a budget of
// wsMsgBurst frames and wsMsgPerSecond after that; more ends them with 1008.
//
// A listener whose TLS this process terminates (HTTP/1.1 over TLS, or
// HTTP/2) cannot be handed to the engine, which writes raw sockets: it is
// served by a goroutine of its own that writes the same shared chunk bytes
// through crypto/tls under the same policy and metrics (tls.go; it costs
// more per listener). A connection that is neither (no socket) is
// answered 505 http1_required in the API's JSON error shape.
// Hub.Close ends every listener (the Ogg body cleanly, WebSocket with 1001)
// and waits for the engine.
package fanout
