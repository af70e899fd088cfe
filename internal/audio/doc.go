// Package audio turns speakers' Opus packets into one Opus program stream.
//
// Data flows one way:
//
//	network goroutine          mixer tick (one per room, a frame per 20 ms; see Clock)
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
// What costs nothing is not done. A muted source's packets are drained on
// time but not decoded; neither is a packet too small to carry sound
// (libopus's digital-silence and DTX frames). A source whose level is under
// the voice gate (about -66 dBFS: an open microphone's noise floor) is not
// mixed, so a room of quiet speakers is silent, and a silent mix is not
// encoded: the kept silence frame goes out again. And a speaker alone (the
// only unmuted source) is forwarded: its 20 ms packets of the program's
// channel count become the program frames as they came, neither decoded
// nor encoded, and a packet lost meanwhile goes out as its TOC byte alone,
// which tells every listener's decoder to conceal it (RFC 6716 3.2.1). The
// undecoded packets are kept (the last three) and decoded before the
// source's next decode or concealment, so its decoder picks up the stream.
// A listener's decoder comes over between the speaker's stream and the mix
// in two or three frames when voices join or leave (one frame at -7 dB
// mid-speech, measured in TestSoloSpeakerForwarded).
//
// Run drives the ticks on an absolute 20 ms schedule. With
// MixerConfig.Batch it wakes only when the last frame of a batch (a
// program chunk, at most MaxBatchFrames) is due and makes the batch back to
// back: a goroutine wake-up costs more than encoding a frame. Tick does not
// allocate in steady state except for the encoded frame handed to Out,
// which the callee owns.
//
// RMS is the level of a frame (the source's voice activity); the tests'
// tone detector, Goertzel, is testkit's. Every tick the mixer hands
// MixerConfig.OnLevels the sources at or above the voice gate, each under
// its SpeakerKey, which the program writes into its chunks for listeners'
// speaking rings. A forwarded speaker is measured too, by decoding one
// packet in ten (forwardLevel); Voiced lists who talks for the room's
// speaking events.
package audio
