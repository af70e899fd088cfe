package audio

import (
	"hash/fnv"
	"testing"
)

// TestSpeakerKey: the key is FNV-1a 32 of the id's UTF-8 bytes, as
// docs/listen-protocol.md says and the web player (levels.js) computes it.
func TestSpeakerKey(t *testing.T) {
	for _, tc := range []struct {
		id   string
		want uint32
	}{{"", 0x811c9dc5}, {"a", 0xe40c292c}, {"amal", 1551694382}, {"بدر", 4274731979}} {
		h := fnv.New32a()
		h.Write([]byte(tc.id))
		if got := SpeakerKey(tc.id); got != tc.want || got != h.Sum32() {
			t.Errorf("SpeakerKey(%q) = %d, want %d (hash/fnv %d)", tc.id, got, tc.want, h.Sum32())
		}
	}
}
