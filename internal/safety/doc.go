// Package safety is the platform's trust and safety chain under the EU
// Digital Services Act: notices (Art. 16), the moderators' queue and their
// decisions, statements of reasons (Art. 17), complaints (Art. 20), trusted
// flaggers (Art. 22) and the Transparency Database export (Art. 24(5)).
//
// Data flows one way through it:
//
//	Report (anyone) ─► notice row ─► Queue (moderators: trusted flagger >
//	category severity > age) ─► Claim ─► Decide ─► the restriction acts at
//	once through the domains (Rooms: mute, move to the audience, end;
//	Accounts: suspend, terminate; Recordings: delete a replay or a clip)
//	─► decision row + statement of reasons ─► the room's event stream tells
//	the member ─► Complain (affected user, or the notifier of "no action")
//	─► a second moderator upholds, reverses (the restriction is undone) or
//	modifies it ─► Statements exports each statement as Transparency
//	Database API v2 JSON.
//
// The package knows nothing of HTTP: internal/httpapi translates. It keeps
// its own SQLite file (safety.db in the data dir; WAL, synchronous=FULL):
// a notice, decision or complaint acknowledged to a client is on disk. Every
// decision, claim, complaint, complaint outcome and trusted-flagger change
// is recorded through an audit.Recorder, before it is acknowledged.
package safety
