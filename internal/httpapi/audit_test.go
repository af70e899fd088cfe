package httpapi

import (
	"errors"
	"net/url"
	"testing"

	"majlis/internal/audit"
)

func TestParseAuditFilter(t *testing.T) {
	for _, c := range []struct {
		q    string
		want audit.Filter
		bad  bool
	}{
		{q: "", want: audit.Filter{}},
		{q: "room=r1&actor=u1&action=room.mute&target=user%3Ax&after=7&limit=50",
			want: audit.Filter{Room: "r1", Actor: "u1", Action: "room.mute", Target: "user:x", AfterSeq: 7, Limit: 50}},
		{q: "limit=1000", want: audit.Filter{Limit: 1000}},
		{q: "unknown=1", want: audit.Filter{}},
		{q: "limit=0", bad: true},
		{q: "limit=1001", bad: true},
		{q: "limit=-1", bad: true},
		{q: "limit=ten", bad: true},
		{q: "after=-1", bad: true},
		{q: "after=1e3", bad: true},
		{q: "after=9223372036854775808", bad: true},
		{q: "room=a&room=b", bad: true},
		{q: "actor=" + string(make([]byte, audit.MaxField+1)), bad: true},
	} {
		v, err := url.ParseQuery(c.q)
		if err != nil {
			t.Fatal(err)
		}
		f, err := parseAuditFilter(v)
		if c.bad {
			var ae *apiError
			if !errors.As(err, &ae) || ae.Status != 400 || ae.Code != "bad_query" {
				t.Errorf("%q: %v, want 400 bad_query", c.q, err)
			}
			continue
		}
		if err != nil || f != c.want {
			t.Errorf("%q: %+v %v, want %+v", c.q, f, err, c.want)
		}
	}
}

func FuzzParseAuditFilter(f *testing.F) {
	for _, s := range []string{"", "room=r1&after=3&limit=10", "limit=0", "after=18446744073709551615", "actor=a&actor=b", "%zz"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		v, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		fl, err := parseAuditFilter(v)
		if err != nil {
			return
		}
		if fl.Limit < 0 || fl.Limit > audit.MaxLimit || fl.AfterSeq > 1<<63-1 || len(fl.Room) > audit.MaxField {
			t.Fatalf("%q: accepted %+v", raw, fl)
		}
	})
}
