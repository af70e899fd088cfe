package stage

import (
	"context"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"majlis/internal/metrics"
)

// testTimeout bounds every test that negotiates with real sockets.
const testTimeout = 20 * time.Second

// pushed is one packet an Ingest received.
type pushed struct {
	seq     uint16
	ts      uint32
	payload []byte
}

// fakeIngest records what a session pushes.
type fakeIngest struct {
	mu     sync.Mutex
	pkts   []pushed
	closes atomic.Int32
	closed chan struct{}
}

func newFakeIngest() *fakeIngest { return &fakeIngest{closed: make(chan struct{})} }

func (f *fakeIngest) Push(seq uint16, ts uint32, payload []byte) {
	if f.closes.Load() > 0 {
		panic("Push after Close")
	}
	f.mu.Lock()
	f.pkts = append(f.pkts, pushed{seq, ts, append([]byte(nil), payload...)})
	f.mu.Unlock()
}

func (f *fakeIngest) Close() {
	if f.closes.Add(1) == 1 {
		close(f.closed)
	}
}

func (f *fakeIngest) packets() []pushed {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]pushed(nil), f.pkts...)
}

func newTestStage(t *testing.T) *Stage {
	t.Helper()
	st, err := New(Config{UDPAddr: "127.0.0.1:0", Metrics: metrics.New(nil)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return st
}

// client is a Pion peer playing a WHIP client on loopback. It sends Opus
// packets whose payload ends with its marker byte, so receivers can tell
// speakers apart.
type client struct {
	t      *testing.T
	marker byte
	pc     *webrtc.PeerConnection
	track  *webrtc.TrackLocalStaticRTP // nil for a listen-only client

	mu   sync.Mutex
	recv map[uint32][]rtp.Packet // by SSRC: one stream per slot

	wg   sync.WaitGroup
	stop chan struct{}
	once sync.Once
}

// newClient makes a client with `send` sendrecv transceivers (0 or 1)
// and `recvonly` recvonly ones.
func newClient(t *testing.T, marker byte, send, recvonly int) *client {
	t.Helper()
	me := &webrtc.MediaEngine{}
	codec := webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2, SDPFmtpLine: "minptime=10;useinbandfec=1"}
	if err := me.RegisterCodec(webrtc.RTPCodecParameters{RTPCodecCapability: codec, PayloadType: 109}, webrtc.RTPCodecTypeAudio); err != nil {
		t.Fatal(err)
	}
	ir := &interceptor.Registry{}
	if err := webrtc.RegisterDefaultInterceptors(me, ir); err != nil {
		t.Fatal(err)
	}
	var se webrtc.SettingEngine
	se.SetIncludeLoopbackCandidate(true)
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	se.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	api := webrtc.NewAPI(webrtc.WithMediaEngine(me), webrtc.WithInterceptorRegistry(ir), webrtc.WithSettingEngine(se))
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	c := &client{t: t, marker: marker, pc: pc, recv: make(map[uint32][]rtp.Packet), stop: make(chan struct{})}
	t.Cleanup(c.close)
	if send > 0 {
		c.track, err = webrtc.NewTrackLocalStaticRTP(codec, "mic", "client")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := pc.AddTransceiverFromTrack(c.track, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendrecv}); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < recvonly; i++ {
		if _, err := pc.AddTransceiverFromKind(webrtc.RTPCodecTypeAudio, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
			t.Fatal(err)
		}
	}
	pc.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		for {
			p, _, err := tr.ReadRTP()
			if err != nil {
				return
			}
			c.mu.Lock()
			c.recv[uint32(tr.SSRC())] = append(c.recv[uint32(tr.SSRC())], *p)
			c.mu.Unlock()
		}
	})
	return c
}

// offer returns the client's complete (non-trickle) offer.
func (c *client) offer() string {
	c.t.Helper()
	o, err := c.pc.CreateOffer(nil)
	if err != nil {
		c.t.Fatal(err)
	}
	done := webrtc.GatheringCompletePromise(c.pc)
	if err := c.pc.SetLocalDescription(o); err != nil {
		c.t.Fatal(err)
	}
	<-done
	return c.pc.LocalDescription().SDP
}

// publish does the WHIP exchange with st and starts sending.
func (c *client) publish(ctx context.Context, st *Stage, room, member string, in Ingest) *Session {
	c.t.Helper()
	return c.publishReq(ctx, st, PublishRequest{Room: room, Member: member, Ingest: in})
}

// publishReq is publish with the request's other fields (its offer is the client's).
func (c *client) publishReq(ctx context.Context, st *Stage, req PublishRequest) *Session {
	c.t.Helper()
	member := req.Member
	req.Offer = c.offer()
	sess, answer, err := st.Publish(ctx, req)
	if err != nil {
		c.t.Fatalf("publish %s: %v", member, err)
	}
	if err := c.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: answer}); err != nil {
		c.t.Fatalf("client %s: set answer: %v", member, err)
	}
	if c.track != nil {
		c.wg.Add(1)
		go c.sendLoop()
	}
	return sess
}

// sendLoop writes one 20 ms Opus packet (a silence frame plus the marker)
// per tick, as a real encoder would.
func (c *client) sendLoop() {
	defer c.wg.Done()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	seq, ts := uint16(65500), uint32(4294960000) // wrap early: rewriting must survive it
	for {
		select {
		case <-c.stop:
			return
		case <-tick.C:
		}
		p := &rtp.Packet{
			Header:  rtp.Header{Version: 2, SequenceNumber: seq, Timestamp: ts, Marker: seq == 65500},
			Payload: []byte{0xF8, 0xFF, 0xFE, c.marker},
		}
		_ = c.track.WriteRTP(p)
		seq++
		ts += 960
	}
}

func (c *client) close() {
	c.once.Do(func() {
		close(c.stop)
		c.wg.Wait()
		_ = c.pc.Close()
	})
}

// streams returns a copy of the packets received, per SSRC.
func (c *client) streams() map[uint32][]rtp.Packet {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[uint32][]rtp.Packet, len(c.recv))
	for k, v := range c.recv {
		out[k] = append([]rtp.Packet(nil), v...)
	}
	return out
}

// markers returns the set of speaker markers heard, per SSRC.
func (c *client) markers() map[uint32]map[byte]int {
	out := map[uint32]map[byte]int{}
	for ssrc, pkts := range c.streams() {
		m := map[byte]int{}
		for _, p := range pkts {
			if n := len(p.Payload); n > 0 {
				m[p.Payload[n-1]]++
			}
		}
		out[ssrc] = m
	}
	return out
}

// waitFor polls cond until it holds or ctx ends.
func waitFor(ctx context.Context, t *testing.T, what string, cond func() bool) {
	t.Helper()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("timed out waiting for %s", what)
		case <-time.After(20 * time.Millisecond):
		}
	}
}
