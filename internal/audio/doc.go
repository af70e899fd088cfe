// Package audio turns speakers' Opus packets into one Opus program stream.
//
// Data flows one way:
//
//	network goroutine          mixer goroutine (one per room, a frame per 20 ms)
//	Source.Push(seq, ts, p) ─▶ jitter ring ─▶ Opus decode / PLC ─▶ PCM FIFO
//	                                                       │ one 20 ms frame per Source
//	                                       sum (int32) ◀───┘
//	                                       limiter ─▶ Opus encode ─▶ MixerConfig.Out
//
// Each Source owns a small jitter buffer keyed by RTP sequence number and
// timestamp. Push copies the payload into the ring under a per-source mutex
// held only for that copy, so the network side never waits on the mixer and
// the mixer never waits on the network. The Mixer holds playout back until a
// source has JitterDelay of audio buffered, then takes exactly one 20 ms frame
// from every source on every tick, whatever arrived: a missing packet becomes
// libopus packet-loss concealment for a few frames and then silence, and a
// buffer that has grown far beyond its target (sender clock drift, a burst
// after a stall) drops its oldest audio. A late or lost packet therefore
// never stalls the program, and the program timeline is continuous (encoded
// silence when nobody speaks) across sources joining and leaving.
//
// Run drives the ticks on an absolute 20 ms schedule. With
// MixerConfig.Batch it wakes only when the last frame of a batch (a
// program chunk, at most MaxBatchFrames) is due and makes the batch back to
// back: a goroutine wake-up costs more than encoding a frame. Tick does not
// allocate in steady state except for the encoded frame handed to Out,
// which the callee owns.
//
// RMS is the level of a frame (the source's voice activity); the tests'
// tone detector, Goertzel, is testkit's.
package audio
