package stage

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/sdp/v3"
)

func TestPublishIngest(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	st := newTestStage(t)
	left := make(chan string, 4)
	st.SetOnLeave(func(room, member string) { left <- room + "/" + member })

	in := newFakeIngest()
	c := newClient(t, 'a', 1, 0)
	sess := c.publish(ctx, st, "r1", "alice", in)
	if sess.Room() != "r1" || sess.Member() != "alice" || len(sess.ID()) != 32 {
		t.Fatalf("session = %q %q %q", sess.Room(), sess.Member(), sess.ID())
	}
	if got := st.Session(sess.ID()); got != sess {
		t.Fatalf("Session(id) = %v", got)
	}
	if got := st.Members("r1"); !slices.Equal(got, []string{"alice"}) {
		t.Fatalf("Members = %v", got)
	}

	waitFor(ctx, t, "25 packets at the ingest", func() bool { return len(in.packets()) >= 25 })
	pkts := in.packets()
	for i, p := range pkts {
		if string(p.payload) != "\xF8\xFF\xFE"+"a" {
			t.Fatalf("packet %d payload %x", i, p.payload)
		}
		if i > 0 {
			if d := p.seq - pkts[i-1].seq; d != 1 {
				t.Fatalf("packet %d: seq %d after %d", i, p.seq, pkts[i-1].seq)
			}
			if d := p.ts - pkts[i-1].ts; d != 960 {
				t.Fatalf("packet %d: ts step %d", i, d)
			}
		}
	}

	sess.Close()
	if n := in.closes.Load(); n != 1 {
		t.Fatalf("Ingest.Close called %d times", n)
	}
	if got := st.Members("r1"); len(got) != 0 {
		t.Fatalf("Members after Close = %v", got)
	}
	if st.Session(sess.ID()) != nil {
		t.Fatal("Session(id) after Close is not nil")
	}
	select {
	case who := <-left:
		if who != "r1/alice" {
			t.Fatalf("OnLeave(%s)", who)
		}
	case <-ctx.Done():
		t.Fatal("OnLeave not called")
	}
	sess.Close() // idempotent
	if n := in.closes.Load(); n != 1 {
		t.Fatalf("Ingest.Close called %d times after second Close", n)
	}
}

// TestForwarding: two speakers hear each other; a third joins and waits; the
// second leaves and its slot at the first goes to the third, continuously.
func TestForwarding(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	st := newTestStage(t)

	a, b, c := newClient(t, 'A', 1, 0), newClient(t, 'B', 1, 0), newClient(t, 'C', 1, 0)
	a.publish(ctx, st, "r", "a", newFakeIngest())
	sb := b.publish(ctx, st, "r", "b", newFakeIngest())
	hears := func(cl *client, marker byte, n int) func() bool {
		return func() bool {
			for _, m := range cl.markers() {
				if m[marker] >= n {
					return true
				}
			}
			return false
		}
	}
	waitFor(ctx, t, "a hears b", hears(a, 'B', 10))
	waitFor(ctx, t, "b hears a", hears(b, 'A', 10))

	c.publish(ctx, st, "r", "c", newFakeIngest())
	// c's one slot gets the earliest member it does not hear: a.
	waitFor(ctx, t, "c hears a", hears(c, 'A', 10))
	if got := st.Members("r"); !slices.Equal(got, []string{"a", "b", "c"}) {
		t.Fatalf("Members = %v", got)
	}

	sb.Close()
	waitFor(ctx, t, "a hears c", hears(a, 'C', 10))

	streams := a.streams()
	if len(streams) != 1 {
		t.Fatalf("a received %d streams, want 1 (one slot)", len(streams))
	}
	for _, pkts := range streams {
		checkContinuous(t, pkts, 'B', 'C')
	}
	for _, m := range a.markers() {
		if m['A'] != 0 {
			t.Fatal("a hears itself")
		}
	}
	if v := testCounter(st); v < 30 {
		t.Fatalf("RTPForwarded = %v", v)
	}
}

// checkContinuous asserts that one received stream switched from speaker
// `from` to speaker `to` with strictly increasing sequence numbers and
// timestamps, and no sequence gap at the switch.
func checkContinuous(t *testing.T, pkts []rtp.Packet, from, to byte) {
	t.Helper()
	switched := false
	for i := 1; i < len(pkts); i++ {
		prev, p := pkts[i-1], pkts[i]
		dseq := p.SequenceNumber - prev.SequenceNumber
		dts := p.Timestamp - prev.Timestamp
		if int16(dseq) <= 0 || int32(dts) <= 0 {
			t.Fatalf("packet %d: seq %d→%d ts %d→%d: not increasing", i, prev.SequenceNumber, p.SequenceNumber, prev.Timestamp, p.Timestamp)
		}
		pm, m := prev.Payload[len(prev.Payload)-1], p.Payload[len(p.Payload)-1]
		if pm == from && m == to {
			switched = true
			if dseq != 1 {
				t.Fatalf("seq gap %d at the switch", dseq)
			}
			if dts < 960 {
				t.Fatalf("ts step %d at the switch, want ≥ 960", dts)
			}
			if !p.Marker {
				t.Fatal("no marker bit at the switch")
			}
		} else if pm != m {
			t.Fatalf("unexpected switch %c→%c", pm, m)
		}
	}
	if !switched {
		t.Fatalf("stream never switched %c→%c", from, to)
	}
}

func testCounter(st *Stage) float64 {
	mfs, err := st.m.Registry.Gather()
	if err != nil {
		return 0
	}
	for _, mf := range mfs {
		if mf.GetName() == "majlis_stage_rtp_forwarded_total" {
			return mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	return 0
}

// TestRecvOnlySlots: a client offering N recvonly transceivers hears N speakers.
func TestRecvOnlySlots(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	st := newTestStage(t)
	for _, m := range []byte{'A', 'B', 'C'} {
		newClient(t, m, 1, 0).publish(ctx, st, "r", string(m), newFakeIngest())
	}
	l := newClient(t, 'L', 0, 3)
	l.publish(ctx, st, "r", "listener", newFakeIngest())
	waitFor(ctx, t, "listener hears 3 speakers on 3 streams", func() bool {
		heard := map[byte]bool{}
		for _, m := range l.markers() {
			if len(m) != 1 {
				return false
			}
			for k, n := range m {
				if n >= 5 {
					heard[k] = true
				}
			}
		}
		return len(heard) == 3
	})
}

// TestReplaceMember: publishing again with the same member closes the old session.
func TestReplaceMember(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	st := newTestStage(t)
	left := make(chan string, 4)
	st.SetOnLeave(func(room, member string) { left <- room + "/" + member })
	in1, in2 := newFakeIngest(), newFakeIngest()
	s1 := newClient(t, '1', 1, 0).publish(ctx, st, "r", "m", in1)
	s2 := newClient(t, '2', 1, 0).publish(ctx, st, "r", "m", in2)
	select {
	case <-s1.Done():
	case <-ctx.Done():
		t.Fatal("old session not closed")
	}
	if in1.closes.Load() != 1 || in2.closes.Load() != 0 {
		t.Fatalf("closes = %d, %d", in1.closes.Load(), in2.closes.Load())
	}
	if got := st.Members("r"); !slices.Equal(got, []string{"m"}) || st.Session(s2.ID()) != s2 || st.Session(s1.ID()) != nil {
		t.Fatalf("Members = %v", got)
	}
	st.CloseRoom("r")
	if in2.closes.Load() != 1 || len(st.Members("r")) != 0 {
		t.Fatal("CloseRoom left the member")
	}
	// One leave: the replacement is not one, the room end is.
	select {
	case who := <-left:
		if who != "r/m" {
			t.Fatalf("OnLeave(%s)", who)
		}
	case <-ctx.Done():
		t.Fatal("OnLeave not called")
	}
	select {
	case who := <-left:
		t.Fatalf("second OnLeave(%s)", who)
	default:
	}
}

// TestConnectTimeout: a session whose client never connects is released.
func TestConnectTimeout(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	st, err := New(Config{UDPAddr: "127.0.0.1:0", ConnectTimeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	in := newFakeIngest()
	sess, _, err := st.Publish(ctx, PublishRequest{Room: "r", Member: "m", Offer: readOffer(t, "offer_obs.sdp"), Ingest: in})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-sess.Done():
	case <-ctx.Done():
		t.Fatal("session not released")
	}
	if in.closes.Load() != 1 || len(st.Members("r")) != 0 {
		t.Fatal("member not released")
	}
}

// TestPeerGone: the session ends when the client's connection closes.
func TestPeerGone(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	st := newTestStage(t)
	in := newFakeIngest()
	c := newClient(t, 'a', 1, 0)
	sess := c.publish(ctx, st, "r", "a", in)
	waitFor(ctx, t, "packets", func() bool { return len(in.packets()) > 3 })
	c.close() // DTLS close_notify: Pion reports the peer closed
	select {
	case <-sess.Done():
	case <-ctx.Done():
		t.Fatal("session did not end after the peer closed")
	}
	if in.closes.Load() != 1 || len(st.Members("r")) != 0 {
		t.Fatal("member not released")
	}
}

// TestClientOffers: offers shaped like real clients' yield valid answers.
func TestClientOffers(t *testing.T) {
	cases := []struct {
		file      string
		direction string // of the answer's audio m-line
		stereo    bool
		video     bool
	}{
		{"offer_browser.sdp", "sendrecv", false, false},
		{"offer_obs.sdp", "recvonly", true, true},
		{"offer_gstreamer.sdp", "recvonly", false, false},
		{"offer_gstreamer_sendrecv.sdp", "sendrecv", false, false},
	}
	st := newTestStage(t)
	for _, tc := range cases {
		t.Run(tc.file, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
			defer cancel()
			offer, err := os.ReadFile(filepath.Join("testdata", tc.file))
			if err != nil {
				t.Fatal(err)
			}
			if err := ValidateOffer(string(offer)); err != nil {
				t.Fatalf("ValidateOffer: %v", err)
			}
			in := newFakeIngest()
			sess, answer, err := st.Publish(ctx, PublishRequest{Room: "offers", Member: tc.file, Offer: string(offer), Ingest: in})
			if err != nil {
				t.Fatalf("Publish: %v", err)
			}
			defer sess.Close()

			var sd sdp.SessionDescription
			if err := sd.UnmarshalString(answer); err != nil {
				t.Fatalf("answer does not parse: %v\n%s", err, answer)
			}
			var audio, video *sdp.MediaDescription
			for _, md := range sd.MediaDescriptions {
				switch md.MediaName.Media {
				case "audio":
					audio = md
				case "video":
					video = md
				}
			}
			if audio == nil {
				t.Fatalf("no audio m-line in answer:\n%s", answer)
			}
			if _, ok := audio.Attribute(tc.direction); !ok {
				t.Errorf("audio m-line is not %s:\n%s", tc.direction, answer)
			}
			if !strings.Contains(strings.ToLower(answer), "opus/48000/2") {
				t.Errorf("answer lacks opus:\n%s", answer)
			}
			if !strings.Contains(answer, "a=candidate:") || !strings.Contains(answer, "127.0.0.1") {
				t.Errorf("answer lacks the loopback candidate:\n%s", answer)
			}
			if got := strings.Contains(answer, "stereo=1"); got != tc.stereo {
				t.Errorf("stereo in answer = %v, want %v:\n%s", got, tc.stereo, answer)
			}
			if tc.video {
				if video == nil {
					t.Fatalf("answer drops the video m-line (m-line count must match):\n%s", answer)
				}
				_, inactive := video.Attribute("inactive")
				if video.MediaName.Port.Value != 0 && !inactive {
					t.Errorf("video m-line neither rejected nor inactive:\n%s", answer)
				}
			}
		})
	}
}

func TestPublishErrors(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	st := newTestStage(t)
	offer, err := os.ReadFile(filepath.Join("testdata", "offer_browser.sdp"))
	if err != nil {
		t.Fatal(err)
	}
	in := newFakeIngest()
	if _, _, err := st.Publish(ctx, PublishRequest{Room: "r", Member: "m", Offer: "not sdp", Ingest: in}); !errors.Is(err, ErrBadOffer) {
		t.Fatalf("garbage offer: %v", err)
	}
	noOpus := strings.ReplaceAll(string(offer), "opus/48000/2", "foo/48000/2")
	if _, _, err := st.Publish(ctx, PublishRequest{Room: "r", Member: "m", Offer: noOpus, Ingest: in}); !errors.Is(err, ErrNoOpus) {
		t.Fatalf("no opus: %v", err)
	}
	badFP := strings.ReplaceAll(string(offer), "a=fingerprint:sha-256 ", "a=fingerprint:sha-256-")
	if _, _, err := st.Publish(ctx, PublishRequest{Room: "r", Member: "m", Offer: badFP, Ingest: in}); !errors.Is(err, ErrBadOffer) {
		t.Fatalf("bad fingerprint: %v", err)
	}
	if in.closes.Load() != 0 || len(st.Members("r")) != 0 {
		t.Fatal("failed publish touched the ingest or the stage")
	}
	_ = st.Close()
	if _, _, err := st.Publish(ctx, PublishRequest{Room: "r", Member: "m", Offer: string(offer), Ingest: in}); !errors.Is(err, ErrClosed) {
		t.Fatalf("after Close: %v", err)
	}
}

func TestTrickle(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	st := newTestStage(t)
	offer, err := os.ReadFile(filepath.Join("testdata", "offer_browser.sdp"))
	if err != nil {
		t.Fatal(err)
	}
	sess, _, err := st.Publish(ctx, PublishRequest{Room: "r", Member: "m", Offer: string(offer), Ingest: newFakeIngest()})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		frag string
		want error // nil: accepted
		any  bool  // any error will do
	}{
		{"candidate", "a=ice-ufrag:Vd6e\r\na=ice-pwd:TlxC3aKnDqf2FvN6SGpGUQdb\r\nm=audio 9 UDP/TLS/RTP/SAVPF 0\r\na=mid:0\r\n" +
			"a=candidate:1387637174 1 udp 2122260223 127.0.0.1 61764 typ host generation 0 ufrag Vd6e network-id 1\r\na=end-of-candidates\r\n", nil, false},
		{"bare candidate", "a=candidate:2 1 UDP 1694498815 192.0.2.7 40000 typ srflx raddr 10.0.0.2 rport 40000\r\n", nil, false},
		{"ice restart", "a=ice-ufrag:NEWU\r\na=ice-pwd:NewPasswordNewPasswordNew\r\nm=audio 9 UDP/TLS/RTP/SAVPF 0\r\na=mid:0\r\n" +
			"a=candidate:1 1 udp 2122260223 127.0.0.1 61765 typ host\r\n", ErrICERestartUnsupported, false},
		{"garbage", "\x00\xffhello", nil, true},
		{"empty", "", nil, true},
		{"bad candidate", "a=candidate:x y z w v u t s\r\n", nil, true},
		{"huge", strings.Repeat("a=candidate:1 1 udp 1 127.0.0.1 1 typ host\r\n", 1000), nil, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := sess.Trickle(tc.frag)
			switch {
			case tc.any:
				if err == nil {
					t.Fatal("accepted")
				}
			case tc.want != nil:
				if !errors.Is(err, tc.want) {
					t.Fatalf("err = %v, want %v", err, tc.want)
				}
			case err != nil:
				t.Fatalf("rejected: %v", err)
			}
		})
	}
	sess.Close()
	if err := sess.Trickle(cases[0].frag); !errors.Is(err, ErrClosed) {
		t.Fatalf("after Close: %v", err)
	}
}

// TestCloseStopsGoroutines: Stage.Close ends every session and leaks nothing.
func TestCloseStopsGoroutines(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	before := runtime.NumGoroutine()

	st, err := New(Config{UDPAddr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	ins := []*fakeIngest{newFakeIngest(), newFakeIngest()}
	a, b := newClient(t, 'A', 1, 0), newClient(t, 'B', 1, 0)
	a.publish(ctx, st, "r", "a", ins[0])
	b.publish(ctx, st, "r", "b", ins[1])
	waitFor(ctx, t, "forwarding", func() bool { return len(a.markers()) > 0 && len(b.markers()) > 0 })

	if err := st.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	for i, in := range ins {
		if in.closes.Load() != 1 {
			t.Fatalf("ingest %d closed %d times", i, in.closes.Load())
		}
	}
	if len(st.Members("r")) != 0 {
		t.Fatal("members left after Close")
	}
	a.close()
	b.close()

	const slack = 3
	waitFor(ctx, t, "goroutines to stop", func() bool { return runtime.NumGoroutine() <= before+slack })
}
