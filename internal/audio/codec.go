package audio

import (
	"errors"
	"fmt"
	"time"

	"gopkg.in/hraban/opus.v2"
)

const (
	// SampleRate is the only rate this package works at (Opus' native rate).
	SampleRate = 48000
	// FrameSamples is one 20 ms frame, per channel.
	FrameSamples = 960
	// FrameDuration is the mixer tick and the encoder frame length.
	FrameDuration = 20 * time.Millisecond
	// MaxPacketBytes is the output buffer size libopus recommends for one
	// encoded packet; Encode's out needs no more than this.
	MaxPacketBytes = 4000
	// MaxPacketSamples is the longest Opus packet (120 ms), per channel.
	MaxPacketSamples = 6 * FrameSamples
	// DefaultBitrate is the program bitrate when MixerConfig.Bitrate is 0.
	DefaultBitrate = 32000
)

// Encoder encodes 20 ms frames of 48 kHz PCM to Opus.
type Encoder struct {
	enc      *opus.Encoder
	channels int
}

// NewEncoder returns an Opus encoder for 48 kHz PCM.
//
// It uses opus.AppAudio rather than AppVoIP: the program is a mix of several
// voices (and sometimes music), and the audio mode keeps it faithful (no
// speech-tuned high-pass or formant emphasis) at the same algorithmic delay.
// A bitrate <= 0 means DefaultBitrate.
func NewEncoder(channels, bitrate int) (*Encoder, error) {
	if channels != 1 && channels != 2 {
		return nil, fmt.Errorf("opus encoder: channels must be 1 or 2, got %d", channels)
	}
	if bitrate <= 0 {
		bitrate = DefaultBitrate
	}
	enc, err := opus.NewEncoder(SampleRate, channels, opus.AppAudio)
	if err != nil {
		return nil, fmt.Errorf("opus encoder: %w", err)
	}
	if err := enc.SetBitrate(bitrate); err != nil {
		return nil, fmt.Errorf("opus encoder: bitrate %d: %w", bitrate, err)
	}
	return &Encoder{enc: enc, channels: channels}, nil
}

// Encode encodes one frame of interleaved PCM into out and returns the number
// of bytes written. pcm is normally FrameSamples*channels long; any Opus frame
// size (2.5, 5, 10, 20, 40 or 60 ms) is accepted, which tests use to produce
// packets of other durations.
func (e *Encoder) Encode(pcm []int16, out []byte) (int, error) {
	n, err := e.enc.Encode(pcm, out)
	if err != nil {
		return 0, fmt.Errorf("opus encode: %w", err)
	}
	return n, nil
}

// Decoder decodes Opus packets to 48 kHz PCM.
type Decoder struct {
	dec      *opus.Decoder
	channels int
}

// NewDecoder returns a decoder producing 48 kHz interleaved PCM with the given
// number of channels. libopus downmixes a stereo stream decoded with
// channels=1 and upmixes a mono stream decoded with channels=2.
func NewDecoder(channels int) (*Decoder, error) {
	if channels != 1 && channels != 2 {
		return nil, fmt.Errorf("opus decoder: channels must be 1 or 2, got %d", channels)
	}
	dec, err := opus.NewDecoder(SampleRate, channels)
	if err != nil {
		return nil, fmt.Errorf("opus decoder: %w", err)
	}
	return &Decoder{dec: dec, channels: channels}, nil
}

// Decode decodes one packet into pcm and returns the samples per channel
// written. pcm must hold the whole packet (MaxPacketSamples*channels is
// always enough); libopus never writes beyond len(pcm).
func (d *Decoder) Decode(packet []byte, pcm []int16) (int, error) {
	// The binding sizes the output by cap, not len: clip cap so a sub-slice
	// of a larger buffer is never written past its end.
	n, err := d.dec.Decode(packet, pcm[:len(pcm):len(pcm)])
	if err != nil {
		return 0, fmt.Errorf("opus decode: %w", err)
	}
	return n, nil
}

// Conceal fills pcm with libopus packet-loss concealment for audio that did
// not arrive, continuing from the last decoded packet, and returns the
// samples per channel written (len(pcm)/channels). Use one 20 ms frame
// (FrameSamples*channels) per call; the length must be a multiple of 2.5 ms.
func (d *Decoder) Conceal(pcm []int16) (int, error) {
	n := len(pcm) / d.channels
	if n == 0 || n%(SampleRate/400) != 0 {
		return 0, fmt.Errorf("opus conceal: %d samples is not a multiple of 2.5 ms", n)
	}
	if err := d.dec.DecodePLC(pcm[:len(pcm):len(pcm)]); err != nil {
		return 0, fmt.Errorf("opus conceal: %w", err)
	}
	return n, nil
}

// ErrBadPacket reports an Opus packet whose table-of-contents is malformed.
var ErrBadPacket = errors.New("malformed opus packet")

// PacketSamples returns the duration of an Opus packet in samples per channel
// at 48 kHz, read from its table-of-contents byte (RFC 6716 section 3.1)
// without decoding it. It is safe on any input from the network.
func PacketSamples(packet []byte) (int, error) {
	if len(packet) == 0 {
		return 0, ErrBadPacket
	}
	toc := packet[0]
	config := int(toc >> 3)
	var frame int
	switch {
	case config < 12: // SILK-only: 10, 20, 40, 60 ms
		frame = [4]int{480, 960, 1920, 2880}[config&3]
	case config < 16: // hybrid: 10, 20 ms
		frame = [2]int{480, 960}[config&1]
	default: // CELT-only: 2.5, 5, 10, 20 ms
		frame = [4]int{120, 240, 480, 960}[config&3]
	}
	var frames int
	switch toc & 3 {
	case 0:
		frames = 1
	case 1, 2:
		frames = 2
	case 3:
		if len(packet) < 2 {
			return 0, ErrBadPacket
		}
		frames = int(packet[1] & 0x3f)
	}
	n := frames * frame
	if frames == 0 || n > MaxPacketSamples {
		return 0, ErrBadPacket
	}
	return n, nil
}
