package account

import "testing"

func TestHashCheck(t *testing.T) {
	h := &Hasher{Time: 1, MemoryKiB: 64}
	enc := h.Hash("correct horse")
	for _, c := range []struct {
		pw   string
		want bool
	}{{"correct horse", true}, {"correct hors", false}, {"", false}} {
		ok, err := Check(enc, c.pw)
		if err != nil || ok != c.want {
			t.Errorf("Check(%q) = %v, %v; want %v", c.pw, ok, err, c.want)
		}
	}
	if h.Hash("correct horse") == enc {
		t.Error("two hashes of one password are equal: no salt")
	}
	for _, bad := range []string{"", "$argon2id$", "$bcrypt$v=19$m=64,t=1,p=1$AAAA$AAAA", "$argon2id$v=19$m=99999999,t=1,p=1$AAAA$AAAA", "$argon2id$v=19$m=64,t=1,p=1$!!$AAAA"} {
		if _, err := Check(bad, "x"); err == nil {
			t.Errorf("Check accepted hash %q", bad)
		}
	}
	h.CheckDummy("anything")
}

func FuzzCheck(f *testing.F) {
	f.Add("$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$a2V5a2V5", "pw")
	f.Fuzz(func(t *testing.T, enc, pw string) {
		Check(enc, pw) // must not panic on any stored string
	})
}
