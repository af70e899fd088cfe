// Package cluster carries programs, room events and edge load reports
// between processes over NATS: an external NATS cluster
// (--cluster nats://host:4222[,…]) or a NATS server embedded in the origin
// (--cluster embedded, nats-server/v2 in process). Without --cluster
// majlis stays one process and this package is not used.
//
// Data flow:
//
//	origin: live room's program ──Publisher (one follower per live room)──► majlis.room.<id>.program
//	        room ends (Media.End), a listener removed at a time ──────────────► majlis.room.<id>.events
//	        "the removals after T" (request/reply, ServeRemovals) ◄────────  majlis.removals
//	        "is this room live?" (request/reply) ◄─────────────────────────  majlis.room.<id>.state
//	        every loaded room's event stream (RoomEvent, room.Config.EventTap) ► majlis.room.<id>.stream
//	        "the room's state as one event" (request/reply, ServeSnapshots) ◄  majlis.room.<id>.snapshot
//	edge:   Conn.Follow(room) subscribes to the program and events subjects of
//	        a room it serves; Conn.FollowEvents(room) to the stream subject of
//	        a room whose events it serves (edge.Edge.Subscribe: one mirror per
//	        room, whatever the number of readers); FollowRemovals to every
//	        room's events subject, and Removals asks for those it missed at
//	        start and after a reconnect (OnReconnect); its reports ──►
//	        majlis.edges.load.<edge id> (every second),
//	        majlis.edges.sketch.<edge id> (a room's HyperLogLog of ticket nonces, when it changed)
//	origin: Fleet sums the fresh load reports (listener counts, placement)
//	        and merges the sketches (unique listeners); a report whose edge id
//	        is not its subject's is dropped as bad, so NATS permissions can
//	        pin each edge's credentials to its own id.
//	origin: KeyBroadcast (at a rotation, every 10 s) ──► majlis.keys: the ticket
//	        key set sealed under each of its keys (keys.go); edge: Conn.FollowKeys
//	origin: after its own reconnect, the removals it made since LostSince
//	        again (room.Service.Retell) ──► majlis.room.<id>.events
//
// NATS forwards a subject only to servers with a subscriber, so a room's
// program crosses the cluster only to the edges serving it. Every message
// is a compact binary encoding whose first byte is its version (wire.go);
// one that does not decode is dropped and counted (Conn.Stats), never a
// crash. Delivery is at most once: a lost program message is a gap for the
// edge's listeners, exactly as for a listener that fell behind.
//
// Goroutines: the NATS client's own (reader, flusher, one per
// subscription) are owned by Conn (Close drains and waits); the Publisher
// owns one follower per live room (End, Close); the Fleet owns its
// subscriptions (Close); a KeyBroadcast its ticker goroutine (Close). The embedded server is shut down by Conn.Close.
package cluster
