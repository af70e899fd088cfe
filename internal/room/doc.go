// Package room is the domain of a room's life: lifecycle (scheduled → live →
// ended), who holds which room role (host, co-hosts, speakers, listeners),
// requests to speak, mutes, blocks, the pinned link, reactions and live
// counts. It knows nothing of HTTP or WebRTC: callers pass an Actor and get
// domain errors back; the media (stage sessions, mixer sources, programs) is
// reached through the small interfaces in media.go.
//
// Every stage change is written to the store before it is acknowledged, then
// published on the room's event stream (internal/events). Counts and reaction
// aggregates are published by one ticker per Service, at most once per
// interval per room, so the event rate does not grow with the audience.
//
// # Files
//
// service.go (Config, New, Close), registry.go (loaded rooms), roles.go
// (roles and ranks), lifecycle.go (create, start, end), requests.go
// (requests to speak, invitations), moderation.go (co-hosts, back to the
// audience, mutes, blocks, pin), handover.go (the host handing the room
// over, a co-host made a speaker), people.go (user search for a room's
// moderators, the signed-in listeners connected now), publish.go (the publish decision, leaving
// the stage), reactions.go, counts.go, views.go, preview.go (what a link
// to a room says about it, and its calendar entry), events.go (the event stream and subscriptions), tick.go (the periodic work), audit.go (the
// audit log's actions: every moderation action records its row through
// Config.Audit once it took effect, under the room's stage lock, and fails
// with audit.ErrUnavailable when the row cannot be written).
//
// # Planes and locks
//
// The stage (people who talk and those who manage them) and the audience
// (listeners, reactions, counts) never share a lock:
//
//   - Service.regMu guards inserting and removing loaded rooms only. Finding a
//     loaded room is lock-free (a sync.Map). It is never held across a store
//     read or write, nor while any other lock is taken.
//   - state.mu is a room's stage lock: roles, requests, mutes, blocks, the pin,
//     stage sessions, the room's record. Stage operations hold it across their
//     store write and their media call (Publish starts the stage session under
//     it, so a role cannot change in between). Each change publishes a new
//     immutable snapshot (state.snap) before its event.
//   - The audience path (ListenerJoined, ListenerConnected, React, Counts,
//     CanJoin, View, Room, Subscribe) never takes state.mu: it reads the snapshot and keeps its own
//     atomics and audience-only locks (the unique-listener, HLS-listener and
//     reaction-bucket shards, the signed-in listener set), which no stage
//     operation waits on: the counts
//     a view (and so every stage commit) reads are atomics, and the event
//     stream's readers take no lock (TestStageNotBlockedByAudience holds
//     every audience lock while stage calls complete).
//   - audience.flushMu orders the counts flushes (ticker, End, Close); End
//     takes it under state.mu, nothing takes state.mu under it.
//   - Service.namesMu guards the name cache for a map access only;
//     Service.searchMu the search buckets, likewise. Listeners and
//     Candidates take state.mu only for a role check, never across their
//     store read, and never together with the listener set's lock. The
//     signed-in HLS players' lock (audience.hlsPeople) is taken before the
//     listener set's, never after.
//
// Lock order: state.mu → audience.flushMu → (events.Stream's writers' lock). No
// lock of one room is held while another room's lock is taken. Stage
// sessions are closed, and media of an ended room stopped, after state.mu is
// released: closing a session calls back into LeftStage.
//
// A re-publish (Published.Pending) waits in state.pending, with its
// credential, until the media reports TookOver; until then pub keeps the
// older session. Mutes apply to both; moving off stage, block, suspension,
// a revoked credential of either and the room's end close both.
package room
