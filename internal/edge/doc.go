// Package edge serves listeners of rooms whose program is made elsewhere.
//
// Data flow: an edge process has no store, stage or mixer. It serves the
// same listen path as the origin (httpapi.Listen behind the audience guard,
// with the same connection caps, one connection per ticket and shedding);
// Edge is that path's program.Source. When a listener with a valid ticket
// (verified with the ticket key shared with the origin) asks for a room,
// the edge starts one feed for that room and writes every Opus frame it
// receives into a local program.Program, which frames chunks once (Ogg
// pages, WS messages) for the edge's own fan-out hub.
//
// The feed comes from the cluster (Config.Cluster, required; cluster.go):
// it subscribes to the room's program and events subjects on NATS and asks
// the origin whether the room is live. Frames are written in order (lost ones are a gap); when
// the program stops coming the room is held with silence at the program's
// pace, so listeners stay connected through an origin restart or a NATS
// node restart; the room's end (an event, or the origin saying it is not
// live) closes the program. A reporter sends the edge's load every second
// and each room's HyperLogLog of ticket nonces (Joined) when it changed:
// the origin sums them into the room's counts and places new listeners by
// them.
//
// A feed ends when it has had no listener for IdleTimeout (the
// subscription is dropped), and Close ends them all.
//
// Removals (removed.go): a block or suspension at the origin ends the
// user's streams here whose tickets were issued before it, and refuses
// those tickets; both times are the origin's. The edge hears removals on
// the cluster and, at start and after each reconnect, asks the origin for
// the ones it missed (one goroutine, syncRemovals, owned by the Edge).
//
// Keys (keys.go) follows the origin's ticket keys on the cluster: a set
// sealed under a key the edge holds replaces the signer's keys (and the
// key file's, when it can be written), so a rotation at the origin needs
// no restart here.
package edge
