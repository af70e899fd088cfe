package stage

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func readOffer(t testing.TB, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestValidateOffer(t *testing.T) {
	browser := readOffer(t, "offer_browser.sdp")
	obs := readOffer(t, "offer_obs.sdp")
	gst := readOffer(t, "offer_gstreamer.sdp")
	videoOnly := strings.Replace(obs[:strings.Index(obs, "m=audio")]+obs[strings.Index(obs, "m=video"):], "a=group:BUNDLE 0 1", "a=group:BUNDLE 1", 1)
	cases := []struct {
		name  string
		offer string
		want  error
	}{
		{"empty", "", ErrBadOffer},
		{"too many m-lines", browser + strings.Repeat(browser[strings.Index(browser, "m=audio"):], MaxMediaSections), ErrBadOffer},
		{"blank", " \r\n", ErrBadOffer},
		{"garbage", "hello world", ErrBadOffer},
		{"binary", "\x00\x01\x02v=0", ErrBadOffer},
		{"1 MB", "v=0\r\n" + strings.Repeat("a=x:y\r\n", 150000), ErrBadOffer},
		{"no media", "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n", ErrNoOpus},
		{"no audio", videoOnly, ErrNoOpus},
		{"audio without opus", strings.ReplaceAll(browser, "opus/48000/2", "foo/48000/2"), ErrNoOpus},
		{"opus at 16 kHz", strings.ReplaceAll(browser, "opus/48000/2", "opus/16000/2"), ErrNoOpus},
		{"opus rtpmap for a format not offered", strings.Replace(browser, "SAVPF 111 63", "SAVPF 63", 1), ErrNoOpus},
		{"no fingerprint", strings.Replace(browser, "a=fingerprint:", "a=xfingerprint:", 1), ErrBadOffer},
		{"no ice-ufrag", strings.Replace(browser, "a=ice-ufrag:", "a=xice-ufrag:", 1), ErrBadOffer},
		{"browser", browser, nil},
		{"obs audio+video", obs, nil},
		{"gstreamer", gst, nil},
		{"gstreamer sendrecv", readOffer(t, "offer_gstreamer_sendrecv.sdp"), nil},
		{"LF line ends", strings.ReplaceAll(browser, "\r\n", "\n"), nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := ValidateOffer(tc.offer)
			if tc.want == nil {
				if err != nil {
					t.Fatalf("rejected: %v", err)
				}
				return
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestOfferInfo(t *testing.T) {
	cases := []struct {
		file      string
		stereo    bool
		fec       bool
		recvSlots int
	}{
		{"offer_browser.sdp", false, true, 1},
		{"offer_obs.sdp", true, true, 0},
		{"offer_gstreamer.sdp", false, false, 0},
		{"offer_gstreamer_sendrecv.sdp", false, false, 1},
	}
	for _, tc := range cases {
		info, err := parseOffer(readOffer(t, tc.file))
		if err != nil {
			t.Fatalf("%s: %v", tc.file, err)
		}
		if info.opus.stereo != tc.stereo || info.opus.fec != tc.fec || info.recvSlots != tc.recvSlots {
			t.Errorf("%s: info = %+v", tc.file, info)
		}
	}
}

func TestParseFragment(t *testing.T) {
	f, err := parseFragment("a=ice-ufrag:u\r\na=ice-pwd:p\r\nm=audio 9 RTP/AVP 0\r\na=mid:0\r\n" +
		"a=candidate:1 1 udp 2122260223 192.0.2.1 61764 typ host\r\nm=audio 9 RTP/AVP 0\r\na=mid:1\r\n" +
		"a=candidate:2 1 udp 2122260223 192.0.2.1 61765 typ host\r\na=end-of-candidates\r\n")
	if err != nil {
		t.Fatal(err)
	}
	if f.ufrag != "u" || f.pwd != "p" || !f.end || len(f.candidates) != 2 ||
		f.candidates[1].mid != "1" || f.candidates[1].mline != 1 ||
		f.candidates[0].candidate != "candidate:1 1 udp 2122260223 192.0.2.1 61764 typ host" {
		t.Fatalf("fragment = %+v", f)
	}
}

// FuzzValidateOffer: ValidateOffer never panics, and what it accepts has Opus.
// The committed test runs the seeds in testdata/fuzz/FuzzValidateOffer and the
// client offers; run `go test -fuzz FuzzValidateOffer` to explore.
func FuzzValidateOffer(f *testing.F) {
	for _, name := range []string{"offer_browser.sdp", "offer_obs.sdp", "offer_gstreamer.sdp"} {
		f.Add(readOffer(f, name))
	}
	f.Fuzz(func(t *testing.T, offer string) {
		err := ValidateOffer(offer)
		if err == nil && !strings.Contains(strings.ToLower(offer), "opus/48000") {
			t.Fatalf("accepted an offer without opus/48000")
		}
		if err != nil && !errors.Is(err, ErrBadOffer) && !errors.Is(err, ErrNoOpus) {
			t.Fatalf("error %v is neither ErrBadOffer nor ErrNoOpus", err)
		}
		_, _ = parseFragment(offer)
	})
}
