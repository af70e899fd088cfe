package stage

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/pion/sdp/v3"
)

// MaxOfferSize is the largest SDP offer accepted. Real offers are a few KiB
// (a browser with every codec is ~6 KiB); the limit bounds parsing work.
const MaxOfferSize = 64 << 10

// MaxMediaSections bounds the m-lines of an offer: each receivable audio
// m-line becomes a forwarding slot, so an offer must not be able to ask for
// thousands (a stage has at most a dozen other members to hear).
const MaxMediaSections = 32

// MaxFragmentSize is the largest trickle-ICE fragment (PATCH body) accepted.
const MaxFragmentSize = 16 << 10

// maxFragmentCandidates bounds the candidates one PATCH may add.
const maxFragmentCandidates = 64

var (
	// ErrBadOffer means the offer is not a usable SDP offer (HTTP 400 "bad_sdp").
	ErrBadOffer = errors.New("bad sdp offer")
	// ErrNoOpus means the offer has no audio m-line offering Opus/48000 (HTTP 400/406 "no_opus").
	ErrNoOpus = errors.New("offer has no opus audio")
	// ErrICERestartUnsupported means a trickle fragment carried new ICE credentials.
	ErrICERestartUnsupported = errors.New("ice restart not supported")
	// ErrBadFragment means a trickle-ICE fragment could not be used.
	ErrBadFragment = errors.New("bad trickle-ice fragment")
	// ErrClosed is returned by Publish after Stage.Close, and by Trickle on a closed session.
	ErrClosed = errors.New("stage closed")
)

// opusParams is what the offer says about Opus, so the answer can mirror it.
type opusParams struct {
	stereo bool // stereo=1 or sprop-stereo=1 on an offered Opus format
	fec    bool // useinbandfec=1 on an offered Opus format
}

// offerInfo is what Publish needs from the offer beyond what Pion does with it.
type offerInfo struct {
	opus      opusParams
	recvSlots int    // audio m-lines that can receive (sendrecv or recvonly): outgoing slots
	ufrag     string // ICE credentials, to tell trickle from ICE restart
	pwd       string
}

// ValidateOffer is a cheap structural check of an SDP offer before it reaches
// Pion: size, syntax, and at least one audio m-line offering Opus/48000.
// It returns an error wrapping ErrBadOffer or ErrNoOpus. It never panics.
func ValidateOffer(offer string) error {
	_, err := parseOffer(offer)
	return err
}

func parseOffer(offer string) (info offerInfo, err error) {
	// The SDP parser is third-party code fed by the network; a panic in it must
	// become a 400, not a crashed server.
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: unparsable sdp", ErrBadOffer)
		}
	}()
	switch {
	case strings.TrimSpace(offer) == "":
		return info, fmt.Errorf("%w: empty offer", ErrBadOffer)
	case len(offer) > MaxOfferSize:
		return info, fmt.Errorf("%w: offer is %d bytes, limit %d", ErrBadOffer, len(offer), MaxOfferSize)
	}
	var sd sdp.SessionDescription
	if err := sd.UnmarshalString(offer); err != nil {
		return info, fmt.Errorf("%w: %v", ErrBadOffer, err)
	}
	if len(sd.MediaDescriptions) == 0 {
		return info, fmt.Errorf("%w: offer has no m-line", ErrNoOpus)
	}
	if len(sd.MediaDescriptions) > MaxMediaSections {
		return info, fmt.Errorf("%w: offer has %d m-lines, limit %d", ErrBadOffer, len(sd.MediaDescriptions), MaxMediaSections)
	}

	info.ufrag, _ = sd.Attribute("ice-ufrag")
	info.pwd, _ = sd.Attribute("ice-pwd")
	_, sessFP := sd.Attribute("fingerprint")

	audio, opus := 0, 0
	for i, md := range sd.MediaDescriptions {
		if md == nil {
			continue
		}
		if info.ufrag == "" {
			info.ufrag, _ = md.Attribute("ice-ufrag")
		}
		if info.pwd == "" {
			info.pwd, _ = md.Attribute("ice-pwd")
		}
		if !strings.EqualFold(md.MediaName.Media, "audio") {
			continue
		}
		audio++
		if _, ok := md.Attribute("fingerprint"); !ok && !sessFP {
			return info, fmt.Errorf("%w: audio m-line %d has no a=fingerprint", ErrBadOffer, i)
		}
		p, ok := opusFormat(md)
		if !ok {
			continue
		}
		opus++
		info.opus.stereo = info.opus.stereo || p.stereo
		info.opus.fec = info.opus.fec || p.fec
		if dir := direction(md, &sd); dir == "sendrecv" || dir == "recvonly" {
			info.recvSlots++
		}
	}
	switch {
	case audio == 0:
		return info, fmt.Errorf("%w: no audio m-line", ErrNoOpus)
	case opus == 0:
		return info, fmt.Errorf("%w: %d audio m-line(s), none offers opus/48000", ErrNoOpus, audio)
	case info.ufrag == "" || info.pwd == "":
		return info, fmt.Errorf("%w: missing a=ice-ufrag or a=ice-pwd", ErrBadOffer)
	}
	return info, nil
}

// opusFormat reports whether md offers Opus/48000 on one of its formats, and
// the fmtp parameters of that format.
func opusFormat(md *sdp.MediaDescription) (opusParams, bool) {
	formats := make(map[string]bool, len(md.MediaName.Formats))
	for _, f := range md.MediaName.Formats {
		formats[f] = true
	}
	pt := ""
	for _, a := range md.Attributes {
		if a.Key != "rtpmap" {
			continue
		}
		num, codec, ok := strings.Cut(a.Value, " ")
		if !ok || !formats[num] {
			continue
		}
		name, rest, _ := strings.Cut(strings.TrimSpace(codec), "/")
		rate, _, _ := strings.Cut(rest, "/")
		if strings.EqualFold(name, "opus") && rate == "48000" {
			pt = num
			break
		}
	}
	if pt == "" {
		return opusParams{}, false
	}
	var p opusParams
	for _, a := range md.Attributes {
		if a.Key != "fmtp" {
			continue
		}
		num, params, ok := strings.Cut(a.Value, " ")
		if !ok || num != pt {
			continue
		}
		for _, kv := range strings.Split(params, ";") {
			k, v, _ := strings.Cut(strings.TrimSpace(kv), "=")
			on := strings.TrimSpace(v) == "1"
			switch strings.ToLower(k) {
			case "stereo", "sprop-stereo":
				p.stereo = p.stereo || on
			case "useinbandfec":
				p.fec = p.fec || on
			}
		}
	}
	return p, true
}

// direction is the offerer's direction for md (sendrecv when absent).
func direction(md *sdp.MediaDescription, sd *sdp.SessionDescription) string {
	for _, d := range []string{"sendrecv", "sendonly", "recvonly", "inactive"} {
		if _, ok := md.Attribute(d); ok {
			return d
		}
	}
	for _, d := range []string{"sendonly", "recvonly", "inactive"} {
		if _, ok := sd.Attribute(d); ok {
			return d
		}
	}
	return "sendrecv"
}

// fmtpLine is the Opus fmtp registered for a session and declared by its
// slot tracks: mono unless the offer asked for stereo, in-band FEC when the
// offer supports it. It mirrors the offer so Pion matches the codec exactly;
// Pion's answer then repeats the offer's own Opus fmtp, so the answer is
// mono by default and stereo only when the offer says stereo=1.
func (p opusParams) fmtpLine() string {
	parts := []string{"minptime=10"}
	if p.fec {
		parts = append(parts, "useinbandfec=1")
	}
	if p.stereo {
		parts = append(parts, "stereo=1", "sprop-stereo=1")
	}
	return strings.Join(parts, ";")
}

// channels is the Opus channel count of the rtpmap: always 2 (RFC 7587).
func (opusParams) channels() uint16 { return 2 }

// fragment is a parsed trickle-ICE fragment (RFC 8840 / RFC 9725 PATCH body).
type fragment struct {
	ufrag, pwd string
	candidates []fragCandidate
	end        bool // a=end-of-candidates
}

type fragCandidate struct {
	candidate string // without the "a=" prefix: "candidate:..."
	mid       string
	mline     int
}

// parseFragment reads an application/trickle-ice-sdpfrag body line by line:
// it is not a full SDP, so the SDP parser does not apply.
func parseFragment(body string) (fragment, error) {
	var f fragment
	if strings.TrimSpace(body) == "" {
		return f, fmt.Errorf("%w: empty", ErrBadFragment)
	}
	if len(body) > MaxFragmentSize {
		return f, fmt.Errorf("%w: %d bytes, limit %d", ErrBadFragment, len(body), MaxFragmentSize)
	}
	mline, mid := -1, ""
	for n, line := range strings.Split(body, "\n") {
		line = strings.TrimRight(line, "\r")
		if line == "" {
			continue
		}
		if len(line) < 2 || line[1] != '=' {
			return f, fmt.Errorf("%w: line %d is not an sdp line", ErrBadFragment, n+1)
		}
		switch line[0] {
		case 'm':
			mline++
			mid = ""
			continue
		case 'a':
		default:
			continue
		}
		key, val, _ := strings.Cut(line[2:], ":")
		switch key {
		case "ice-ufrag":
			f.ufrag = strings.TrimSpace(val)
		case "ice-pwd":
			f.pwd = strings.TrimSpace(val)
		case "mid":
			mid = strings.TrimSpace(val)
		case "end-of-candidates":
			f.end = true
		case "candidate":
			if len(f.candidates) >= maxFragmentCandidates {
				return f, fmt.Errorf("%w: more than %d candidates", ErrBadFragment, maxFragmentCandidates)
			}
			if len(strings.Fields(val)) < 8 {
				return f, fmt.Errorf("%w: line %d: short candidate", ErrBadFragment, n+1)
			}
			if _, err := strconv.ParseUint(strings.Fields(val)[1], 10, 8); err != nil {
				return f, fmt.Errorf("%w: line %d: bad component", ErrBadFragment, n+1)
			}
			f.candidates = append(f.candidates, fragCandidate{candidate: line[2:], mid: mid, mline: max(mline, 0)})
		}
	}
	if len(f.candidates) == 0 && !f.end && f.ufrag == "" {
		return f, fmt.Errorf("%w: no candidate", ErrBadFragment)
	}
	return f, nil
}
