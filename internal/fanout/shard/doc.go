// Package shard is the fan-out's raw-socket engine: it writes a program's
// chunks to many listener sockets from a few goroutines, with no goroutine,
// buffer or lock per listener.
//
// Data flow: a handler (package fanout) decides what a listener gets and
// calls Engine.Take with a Handover: the program, the listener's Kind (how
// a chunk looks on its wire: Kind.Wire; what to write when it ends:
// Kind.Final; whether it may talk: Kind.Input), the response head and the
// first chunk. Take hijacks the HTTP/1.x connection, writes the head,
// duplicates the socket's descriptor out of the runtime's poller and hands
// it to a shard serving the program: first one of the engine's pool shards,
// which many small programs share (Config.Shards of them, for the engine's
// life), then, once the audience passes Config.ShardListeners, shards of
// the program's own (up to Config.Shards, each ended with its last
// listener).
//
// Each shard, woken (Program.Notify) when one of its programs publishes a
// chunk, brings each listener of the programs that moved up to the head with one non-blocking write(2) per piece (shard.go), or
// with batches of sends through io_uring once it has enough listeners
// (batch.go, package uring). A listener whose socket is full keeps its
// place and is continued next round; one more than Config.MaxBacklog chunks
// behind is handed to the Policy (which skips it forward or ends it), and
// one that takes no byte for Config.WriteTimeout ends with ErrWriteTimeout.
// WebSocket clients' input is watched with one epoll per shard (input.go)
// and parsed with package wsframe, without keeping payloads (wsinput.go):
// pings are answered between chunks, a close, a flood or an oversized frame
// ends the listener. Whenever a listener ends, its Kind.Final bytes are
// written if they fit, its socket closed and Handover.Ended called, once.
//
// The engine knows nothing of HTTP answers, metrics or slow-listener rules:
// those are fanout's, passed in as Kind and Policy. Engine.Close ends every
// listener (ErrShutdown) and waits for the shards.
package shard
