package hls

import (
	"fmt"
	"strconv"
)

// The HLS VOD rendition of a replay (a complete recording): a media
// playlist of PLAYLIST-TYPE VOD with EXT-X-ENDLIST, an init section and
// numbered fMP4 segments holding the recording's own Opus packets, in the
// same CMAF layout as the live rendition. The recording package cuts the
// packets (recording.Manager.ReplaySpan); these functions frame them.

// VODInit is the init section (ftyp + moov) of a replay's Opus track.
func VODInit(channels int, preSkip uint16) []byte { return initSection(channels, preSkip) }

// VODFragment is segment seq (0, 1, …) of a replay: one moof + mdat of
// packets, the first decoded at start (48 kHz samples from the start).
// Every packet must last 20 ms (a program frame); durations holds each
// packet's length in samples.
func VODFragment(seq uint32, start int64, packets [][]byte, durations []int64) ([]byte, error) {
	if len(packets) == 0 || len(durations) != len(packets) || start < 0 {
		return nil, fmt.Errorf("hls: bad VOD fragment (%d packets, %d durations, start %d)", len(packets), len(durations), start)
	}
	for i, d := range durations {
		if d != frameSamples {
			return nil, fmt.Errorf("hls: VOD packet %d lasts %d samples, not %d", i, d, frameSamples)
		}
	}
	return appendFragment(make([]byte, 0, fragmentLen(packets)), seq+1, uint64(start), packets), nil
}

// VODPlaylist is the media playlist of a replay of total samples in
// segments of segment samples: init names the init section, seg(i) the
// i-th segment.
func VODPlaylist(total, segment int64, init string, seg func(i int) string) []byte {
	if segment <= 0 {
		segment = 1
	}
	n := int((total + segment - 1) / segment)
	target := (segment + 48000 - 1) / 48000
	b := make([]byte, 0, 256+n*32)
	b = append(b, "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-TARGETDURATION:"...)
	b = strconv.AppendInt(b, target, 10)
	b = append(b, "\n#EXT-X-PLAYLIST-TYPE:VOD\n#EXT-X-INDEPENDENT-SEGMENTS\n#EXT-X-MEDIA-SEQUENCE:0\n#EXT-X-MAP:URI=\""...)
	b = append(b, init...)
	b = append(b, "\"\n"...)
	for i := range n {
		d := min(segment, total-int64(i)*segment)
		b = append(b, "#EXTINF:"...)
		b = strconv.AppendFloat(b, float64(d)/48000, 'f', 3, 64)
		b = append(b, ",\n"...)
		b = append(b, seg(i)...)
		b = append(b, '\n')
	}
	return append(b, "#EXT-X-ENDLIST\n"...)
}
