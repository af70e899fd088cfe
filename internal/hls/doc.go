// Package hls is the LL-HLS rendition of a room's program, made to be
// cached: every listener of a room asks for the same URLs, media is
// immutable, and a blocking playlist answer is the same bytes for everyone.
//
// Data flow: Origin.Rendition starts one Packager per live room on its
// first HLS request. The packager is one more reader of the room's
// program.Program (like the fan-out's shards): its goroutine copies each
// 20 ms Opus frame, never re-encoded, into parts of Timing.Part
// (moof + mdat, CMAF fMP4 with an "Opus" sample entry and dOps, fmp4.go),
// numbered from the program's frame 0, and every Timing.PartsPerSegment
// parts into a segment. Parts and segments live in rings of atomics: HTTP
// requests read them without locks and, for a part not out yet, sleep on
// the packager's wait channel in their own goroutine, at most three target
// durations.
//
// Playlists (playlist.go) are rendered as they were when a given part was
// the newest (so a blocking request for msn/part gets the same bytes
// whenever it asks) and kept per (part, skip, final): the origin renders
// each once however many requests wait. The multivariant playlist never
// changes. Cache headers: media immutable, blocking answers a target
// duration, plain reloads at most half a part.
//
// Access (token.go): the URLs carry a room-scoped token, an HMAC of the
// room and a time window keyed by the ticket keys, the same for every
// listener of the window, handed out by the join answer. docs/api.md
// ("LL-HLS") and docs/operations.md ("LL-HLS behind a cache") describe the
// URLs, the cache key and a working nginx configuration.
package hls
