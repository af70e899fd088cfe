package hls

import (
	"errors"
	"net/url"
	"strconv"
	"strings"
)

// Errors of the rendition; internal/httpapi maps them to statuses and codes.
var (
	// ErrBadRequest: a malformed _HLS_msn, _HLS_part or _HLS_skip (400).
	ErrBadRequest = errors.New("hls: bad delivery directive")
	// ErrTooFarAhead: a blocking request beyond the spec's limits (400).
	ErrTooFarAhead = errors.New("hls: msn or part too far ahead of the playlist")
	// ErrNotFound: no such part, segment or init section here (404).
	ErrNotFound = errors.New("hls: no such media")
	// ErrTimeout: the asked part did not appear within three target durations (503).
	ErrTimeout = errors.New("hls: the program did not reach the asked part in time")
)

// Request is a media playlist request's delivery directives (RFC 8216bis
// §6.2.5): _HLS_msn and _HLS_part for a blocking reload, _HLS_skip for a
// delta update. The directives are the whole cache key of a playlist
// beside its path; other query parameters are ignored.
type Request struct {
	MSN, Part       uint64
	HasMSN, HasPart bool
	Skip            bool
}

// maxDirective bounds a directive's digits: no sequence number of a
// program gets near 10^12 (20 ms frames for 600 years at one part each).
const maxDirective = 12

// ParseRequest reads the delivery directives of a playlist query. A
// directive given twice, empty, signed, too long or not a decimal number is
// ErrBadRequest, and so is _HLS_part without _HLS_msn.
func ParseRequest(q url.Values) (Request, error) {
	var r Request
	var err error
	if r.MSN, r.HasMSN, err = directive(q, "_HLS_msn"); err != nil {
		return Request{}, err
	}
	if r.Part, r.HasPart, err = directive(q, "_HLS_part"); err != nil {
		return Request{}, err
	}
	if r.HasPart && !r.HasMSN {
		return Request{}, ErrBadRequest
	}
	if v, ok := q["_HLS_skip"]; ok {
		if len(v) != 1 || (v[0] != "YES" && v[0] != "v2") {
			return Request{}, ErrBadRequest
		}
		r.Skip = true
	}
	return r, nil
}

func directive(q url.Values, name string) (uint64, bool, error) {
	v, ok := q[name]
	if !ok {
		return 0, false, nil
	}
	if len(v) != 1 || v[0] == "" || len(v[0]) > maxDirective {
		return 0, false, ErrBadRequest
	}
	for i := 0; i < len(v[0]); i++ {
		if c := v[0][i]; c < '0' || c > '9' {
			return 0, false, ErrBadRequest
		}
	}
	n, err := strconv.ParseUint(v[0], 10, 64)
	if err != nil {
		return 0, false, ErrBadRequest
	}
	return n, true, nil
}

// Media names, relative to the media playlist. Every name carries the
// program's serial, so a room restarted (a new program) never reuses a
// name a cache holds.
const (
	kindInit = iota + 1
	kindSegment
	kindPart
)

// mediaName is a parsed media file name.
type mediaName struct {
	kind      int
	serial    string
	msn, part uint64
}

// parseName reads init-SER.mp4, seg-SER-MSN.m4s and part-SER-MSN-I.m4s.
func parseName(name string) (mediaName, bool) {
	var n mediaName
	var rest string
	switch {
	case strings.HasPrefix(name, "init-") && strings.HasSuffix(name, ".mp4"):
		n.kind, rest = kindInit, name[5:len(name)-4]
	case strings.HasPrefix(name, "seg-") && strings.HasSuffix(name, ".m4s"):
		n.kind, rest = kindSegment, name[4:len(name)-4]
	case strings.HasPrefix(name, "part-") && strings.HasSuffix(name, ".m4s"):
		n.kind, rest = kindPart, name[5:len(name)-4]
	default:
		return mediaName{}, false
	}
	fields := strings.Split(rest, "-")
	if len(fields) != n.kind || len(fields[0]) != 8 {
		return mediaName{}, false
	}
	n.serial = fields[0]
	var ok bool
	if n.kind >= kindSegment {
		if n.msn, ok = number(fields[1]); !ok {
			return mediaName{}, false
		}
	}
	if n.kind == kindPart {
		if n.part, ok = number(fields[2]); !ok {
			return mediaName{}, false
		}
	}
	return n, true
}

func number(s string) (uint64, bool) {
	if s == "" || len(s) > maxDirective || (len(s) > 1 && s[0] == '0') {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseUint(s, 10, 64)
	return n, err == nil
}

func initName(serial string) string { return "init-" + serial + ".mp4" }

func segName(serial string, msn uint64) string {
	return "seg-" + serial + "-" + strconv.FormatUint(msn, 10) + ".m4s"
}

func partName(serial string, msn, i uint64) string {
	return "part-" + serial + "-" + strconv.FormatUint(msn, 10) + "-" + strconv.FormatUint(i, 10) + ".m4s"
}
