package hls

import "encoding/binary"

// fMP4 (ISO/IEC 14496-12, CMAF) boxes for one Opus track, after "Encapsulation
// of Opus in ISO Base Media File Format" (opus-codec.org/docs/opus_in_isobmff):
// an init section (ftyp + moov with an Opus sample entry and its dOps) and
// fragments (moof + mdat) of whole 20 ms packets. The program's packets are
// copied in as they are: nothing is re-encoded.

const (
	trackID   = 1
	timescale = 48000 // Opus is timed at 48 kHz whatever the encoder's rate
)

// box starts a box of type typ at the end of b and returns b and the offset
// of its size field, which end fills in.
func box(b []byte, typ string) ([]byte, int) {
	at := len(b)
	b = append(b, 0, 0, 0, 0)
	return append(b, typ...), at
}

// fullBox is box with a version and flags.
func fullBox(b []byte, typ string, version byte, flags uint32) ([]byte, int) {
	b, at := box(b, typ)
	return binary.BigEndian.AppendUint32(b, uint32(version)<<24|flags&0xFFFFFF), at
}

func end(b []byte, at int) []byte {
	binary.BigEndian.PutUint32(b[at:], uint32(len(b)-at))
	return b
}

var unityMatrix = [9]uint32{0x00010000, 0, 0, 0, 0x00010000, 0, 0, 0, 0x40000000}

func appendMatrix(b []byte) []byte {
	for _, v := range unityMatrix {
		b = binary.BigEndian.AppendUint32(b, v)
	}
	return b
}

// initSection is ftyp + moov for an Opus track of channels channels whose
// decoder drops preSkip samples at its start.
func initSection(channels int, preSkip uint16) []byte {
	b := make([]byte, 0, 640)
	b, ftyp := box(b, "ftyp")
	b = append(b, "iso6"...)
	b = binary.BigEndian.AppendUint32(b, 0)
	b = append(b, "iso6cmfcmp41dash"...)
	b = end(b, ftyp)

	b, moov := box(b, "moov")
	b, mvhd := fullBox(b, "mvhd", 0, 0)
	b = append(b, make([]byte, 8)...)            // creation, modification
	b = binary.BigEndian.AppendUint32(b, 1000)   // movie timescale
	b = binary.BigEndian.AppendUint32(b, 0)      // duration: fragmented
	b = binary.BigEndian.AppendUint32(b, 1<<16)  // rate 1.0
	b = binary.BigEndian.AppendUint16(b, 0x0100) // volume 1.0
	b = append(b, make([]byte, 10)...)           // reserved
	b = appendMatrix(b)
	b = append(b, make([]byte, 24)...)              // pre_defined
	b = binary.BigEndian.AppendUint32(b, trackID+1) // next_track_ID
	b = end(b, mvhd)

	b, trak := box(b, "trak")
	b, tkhd := fullBox(b, "tkhd", 0, 3) // enabled, in movie
	b = append(b, make([]byte, 8)...)   // creation, modification
	b = binary.BigEndian.AppendUint32(b, trackID)
	b = append(b, make([]byte, 4)...)            // reserved
	b = binary.BigEndian.AppendUint32(b, 0)      // duration
	b = append(b, make([]byte, 8)...)            // reserved
	b = append(b, 0, 0, 0, 0)                    // layer, alternate_group
	b = binary.BigEndian.AppendUint16(b, 0x0100) // volume
	b = append(b, 0, 0)                          // reserved
	b = appendMatrix(b)
	b = append(b, make([]byte, 8)...) // width, height
	b = end(b, tkhd)

	b, mdia := box(b, "mdia")
	b, mdhd := fullBox(b, "mdhd", 0, 0)
	b = append(b, make([]byte, 8)...)
	b = binary.BigEndian.AppendUint32(b, timescale)
	b = binary.BigEndian.AppendUint32(b, 0)
	b = binary.BigEndian.AppendUint16(b, 0x55C4) // "und"
	b = append(b, 0, 0)
	b = end(b, mdhd)
	b, hdlr := fullBox(b, "hdlr", 0, 0)
	b = append(b, 0, 0, 0, 0)
	b = append(b, "soun"...)
	b = append(b, make([]byte, 12)...)
	b = append(b, "SoundHandler\x00"...)
	b = end(b, hdlr)

	b, minf := box(b, "minf")
	b, smhd := fullBox(b, "smhd", 0, 0)
	b = append(b, 0, 0, 0, 0)
	b = end(b, smhd)
	b, dinf := box(b, "dinf")
	b, dref := fullBox(b, "dref", 0, 0)
	b = binary.BigEndian.AppendUint32(b, 1)
	b, url := fullBox(b, "url ", 0, 1) // media in the same file
	b = end(b, url)
	b = end(b, dref)
	b = end(b, dinf)

	b, stbl := box(b, "stbl")
	b, stsd := fullBox(b, "stsd", 0, 0)
	b = binary.BigEndian.AppendUint32(b, 1)
	b, opus := box(b, "Opus")
	b = append(b, make([]byte, 6)...)       // reserved
	b = binary.BigEndian.AppendUint16(b, 1) // data_reference_index
	b = append(b, make([]byte, 8)...)       // reserved
	b = binary.BigEndian.AppendUint16(b, uint16(channels))
	b = binary.BigEndian.AppendUint16(b, 16) // samplesize
	b = append(b, 0, 0, 0, 0)                // pre_defined, reserved
	b = binary.BigEndian.AppendUint32(b, timescale<<16)
	b, dops := box(b, "dOps")
	b = append(b, 0, byte(channels)) // Version, OutputChannelCount
	b = binary.BigEndian.AppendUint16(b, preSkip)
	b = binary.BigEndian.AppendUint32(b, timescale) // InputSampleRate
	b = binary.BigEndian.AppendUint16(b, 0)         // OutputGain
	b = append(b, 0)                                // ChannelMappingFamily: mono or stereo
	b = end(b, dops)
	b = end(b, opus)
	b = end(b, stsd)
	for _, typ := range []string{"stts", "stsc", "stco"} {
		var at int
		b, at = fullBox(b, typ, 0, 0)
		b = binary.BigEndian.AppendUint32(b, 0)
		b = end(b, at)
	}
	b, stsz := fullBox(b, "stsz", 0, 0)
	b = append(b, make([]byte, 8)...) // sample_size, sample_count
	b = end(b, stsz)
	b = end(b, stbl)
	b = end(b, minf)
	b = end(b, mdia)
	b = end(b, trak)

	b, mvex := box(b, "mvex")
	b, trex := fullBox(b, "trex", 0, 0)
	b = binary.BigEndian.AppendUint32(b, trackID)
	b = binary.BigEndian.AppendUint32(b, 1)                      // sample description index
	b = binary.BigEndian.AppendUint32(b, frameSamples)           // default duration
	b = binary.BigEndian.AppendUint32(b, 0)                      // default size
	b = binary.BigEndian.AppendUint32(b, sampleFlagsIndependent) // every Opus packet decodes alone
	b = end(b, trex)
	b = end(b, mvex)
	return end(b, moov)
}

// sampleFlagsIndependent: sample_depends_on = 2 (depends on no other sample).
const sampleFlagsIndependent = 0x02000000

// fragmentLen is the size of the fragment appendFragment writes.
func fragmentLen(frames [][]byte) int {
	n := 96 + 4*len(frames) + 8
	for _, f := range frames {
		n += len(f)
	}
	return n
}

// appendFragment appends one moof + mdat holding frames (consecutive 20 ms
// Opus packets, the first decoded at baseTime in 48 kHz samples).
func appendFragment(b []byte, seq uint32, baseTime uint64, frames [][]byte) []byte {
	moofAt := len(b)
	b, moof := box(b, "moof")
	b, mfhd := fullBox(b, "mfhd", 0, 0)
	b = binary.BigEndian.AppendUint32(b, seq)
	b = end(b, mfhd)
	b, traf := box(b, "traf")
	// default-base-is-moof | default-sample-duration | default-sample-flags
	b, tfhd := fullBox(b, "tfhd", 0, 0x020000|0x08|0x20)
	b = binary.BigEndian.AppendUint32(b, trackID)
	b = binary.BigEndian.AppendUint32(b, frameSamples)
	b = binary.BigEndian.AppendUint32(b, sampleFlagsIndependent)
	b = end(b, tfhd)
	b, tfdt := fullBox(b, "tfdt", 1, 0)
	b = binary.BigEndian.AppendUint64(b, baseTime)
	b = end(b, tfdt)
	b, trun := fullBox(b, "trun", 0, 0x01|0x200) // data-offset, sample-size
	b = binary.BigEndian.AppendUint32(b, uint32(len(frames)))
	offAt := len(b)
	b = binary.BigEndian.AppendUint32(b, 0)
	for _, f := range frames {
		b = binary.BigEndian.AppendUint32(b, uint32(len(f)))
	}
	b = end(b, trun)
	b = end(b, traf)
	b = end(b, moof)
	binary.BigEndian.PutUint32(b[offAt:], uint32(len(b)-moofAt+8)) // the first sample, after mdat's header
	b, mdat := box(b, "mdat")
	for _, f := range frames {
		b = append(b, f...)
	}
	return end(b, mdat)
}
