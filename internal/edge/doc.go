// Package edge serves listeners of rooms whose program is made elsewhere.
//
// Data flow: an edge process has no store, stage or mixer. It serves the
// same listen path as the origin (httpapi.Listen behind the audience guard,
// with the same connection caps, one connection per ticket and shedding);
// Edge is that path's program.Source. When a listener with a valid ticket
// (verified with the ticket key shared with the origin) asks for a room,
// the edge starts one relay for that room: a single
// long-lived WebSocket connection to the origin's listen.ws, authorized by a
// ticket the edge mints itself with the shared key. Every Opus packet it
// receives is written into a local program.Program, which frames chunks
// once (Ogg pages, WS messages) for the edge's own fan-out hub. So an
// origin serves one connection per edge and room, however large the
// audience, and one box can run several edges to use all its cores and
// pass the per-process file limit.
//
// A relay ends when the origin ends the room (its program closes, so edge
// listeners see the same clean end as origin listeners), when the origin
// connection fails (listeners are disconnected and reconnect, starting a
// new relay), or when it has had no listener for IdleTimeout.
package edge
