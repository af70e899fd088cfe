// Package stage is the WebRTC side of a room's stage: WHIP ingest sessions
// (RFC 9725) with Pion, SFU forwarding between the stage members of a room,
// and each speaker's audio handed to the room's mixer.
//
// It knows nothing of HTTP or authorisation: the HTTP layer calls Publish
// with the offer of a WHIP POST, Session.Trickle with a PATCH body and
// Session.Close on DELETE, and maps ErrBadOffer, ErrNoOpus and
// ErrICERestartUnsupported to API errors.
//
// # Data flow
//
//	client ──RTP/Opus──► session reader ──► Ingest.Push (the mixer)
//	                           │
//	                           └──► slots of the other members ──RTP──► their clients
//
// All ICE traffic shares one UDP socket (Config.UDPAddr, a Pion ICE UDP mux).
// Answers are returned after ICE gathering completes, with the candidates in
// them, so clients that do not trickle (OBS, GStreamer whipclientsink,
// ffmpeg) work; trickled candidates are accepted too.
//
// A member's first incoming audio track is its voice; further incoming
// tracks are read and dropped. Publish owns the request's Ingest only when it
// succeeds.
//
// Only Opus is negotiated (48 kHz; mono unless the offer asks for stereo,
// in-band FEC when the offer supports it). Video m-lines are answered
// rejected, so audio+video offers (OBS) publish their audio.
//
// # Speakers hear each other
//
// No transcoding: every audio m-line of a member's offer that can receive
// (sendrecv or recvonly) becomes one outgoing slot, and each slot carries
// one other member's packets. A browser offering one sendrecv transceiver
// therefore hears one other speaker; a client offering N recvonly audio
// transceivers hears N. Clients that want to hear the whole stage mixed
// listen to the program instead.
//
// When a room has more members than a listener has slots, slots go to the
// members who joined the stage earliest (typically the host first); a slot
// freed by a leaving member goes to the earliest-joined member the listener
// does not hear yet. Assignments never move while their source stays, so a
// listener hears stable voices rather than voice-activity switching (which
// would need the RFC 6464 audio level extension; not done yet).
//
// When a slot changes source, sequence numbers and timestamps are rewritten
// so the outgoing stream stays one continuous stream: the sequence number
// continues by one, the timestamp advances by the wall time since the last
// packet (at least one 20 ms frame), and the marker bit flags a new talk spurt.
//
// # Lifetime
//
// A session's goroutines (one reader per incoming track, one RTCP reader per
// slot, one supervisor) stop when it ends: on Close, when a newer session of
// the same member takes over, CloseRoom, Stage.Close, ICE failure or close,
// after Config.DisconnectedTimeout disconnected, or when it is not connected
// within Config.ConnectTimeout. The Ingest is closed exactly once, after the
// last Push. Stage.Close waits for every session.
//
// # Re-publishing
//
// A member's new offer while they are on stage makes a pending session: it
// is answered, but it is not on stage (no slots given, nothing forwarded,
// nothing pushed) and the older session goes on. When its peer connection is
// connected, its supervisor takes over: under Stage.mu it takes the older
// session's place and runs PublishRequest.OnCurrent (the mixer switches
// sources there), then closes the older session as replaced (no OnLeave) and
// runs the OnTakeOver callback. A pending session that ends first (connect
// timeout, ICE failure, Close, or a still newer offer taking its place) is no
// leave either; CloseRoom and Stage.Close end pending sessions too.
package stage
