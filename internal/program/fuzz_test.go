package program

import "testing"

// The seed corpora live in testdata/fuzz/<FuzzName>; go test runs them as
// regular tests, `go test -fuzz FuzzX` explores from them.

func FuzzParseWS(f *testing.F) {
	f.Fuzz(func(t *testing.T, msg []byte) {
		m, err := ParseWS(msg)
		if err != nil {
			return
		}
		// Anything accepted re-encodes to the same bytes.
		if len(m.Frames) == 0 || len(m.Frames) > 255 || m.FrameSamples == 0 {
			t.Fatalf("accepted invalid message %+v", m)
		}
		n := wsHeaderLen
		for _, fr := range m.Frames {
			n += 2 + len(fr)
		}
		if len(m.Levels) > 0 {
			if msg[0] != WSVersion {
				t.Fatalf("levels in a version %d message", msg[0])
			}
			n += 1 + wsLevelLen*len(m.Levels)
		}
		if n != len(msg) {
			t.Fatalf("frames cover %d of %d bytes", n, len(msg))
		}
	})
}
