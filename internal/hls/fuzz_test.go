package hls

import (
	"net/url"
	"testing"
)

// FuzzParseRequest: the delivery directives and media names come from the
// network; parsing them never panics and what parses renders back.
func FuzzParseRequest(f *testing.F) {
	for _, s := range []string{"", "_HLS_msn=1", "_HLS_msn=1&_HLS_part=2", "_HLS_msn=3&_HLS_part=0&_HLS_skip=YES", "_HLS_skip=v2", "_HLS_part=1", "_HLS_msn=%00"} {
		f.Add(s, "part-0a1b2c3d-12-3.m4s")
	}
	f.Add("_HLS_msn=99999999999999999999", "seg-0a1b2c3d-7.m4s")
	f.Add("", "init-0a1b2c3d.mp4")
	f.Fuzz(func(t *testing.T, query, name string) {
		q, err := url.ParseQuery(query)
		if err != nil {
			return
		}
		r, err := ParseRequest(q)
		if err == nil && r.HasPart && !r.HasMSN {
			t.Fatalf("%q: part without msn", query)
		}
		n, ok := parseName(name)
		if !ok {
			return
		}
		var back string
		switch n.kind {
		case kindInit:
			back = initName(n.serial)
		case kindSegment:
			back = segName(n.serial, n.msn)
		case kindPart:
			back = partName(n.serial, n.msn, n.part)
		}
		if back != name {
			t.Fatalf("%q parses as %+v, renders %q", name, n, back)
		}
	})
}

// FuzzTokenValid: a token from the path is checked without panicking, and
// only the room's own current token passes.
func FuzzTokenValid(f *testing.F) {
	tk, err := NewTokens([][]byte{make([]byte, 32)}, 0, nil)
	if err != nil {
		f.Fatal(err)
	}
	good := tk.Mint("room")
	f.Add("room", good)
	f.Add("room", good[:len(good)-1])
	f.Add("other", good)
	f.Add("room", "")
	f.Fuzz(func(t *testing.T, room, tok string) {
		if tk.Valid(room, tok) && (room != "room" || tok != good) {
			t.Fatalf("token %q valid for room %q", tok, room)
		}
	})
}
