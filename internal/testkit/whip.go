package testkit

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media"
)

// WHIPOptions tune a WHIP client.
type WHIPOptions struct {
	// LoopbackOnly restricts ICE to 127.0.0.0/8 (tests).
	LoopbackOnly bool
	// OnPacket receives the RTP packets the server forwards to this member.
	OnPacket func(seq uint16, ts uint32, payload []byte)
	// HTTPClient defaults to a client with a defaultWHIPTimeout timeout.
	HTTPClient *http.Client
	// Header is sent with the offer and the hang-up besides the bearer
	// token (a web session's Cookie and Origin, with token "").
	Header http.Header
}

// defaultWHIPTimeout bounds each WHIP request (the offer, the hang-up) of a
// client given no HTTPClient: a server that never answers fails the caller
// instead of hanging it.
const defaultWHIPTimeout = 30 * time.Second

// WHIPClient is one published WHIP session: a WHIP (RFC 9725) publisher
// built on Pion, as OBS and GStreamer build theirs: one offer with all
// candidates gathered (no trickle), one Opus track sent, and whatever the
// server sends back on the same transceiver delivered to a callback.
type WHIPClient struct {
	pc       *webrtc.PeerConnection
	track    *webrtc.TrackLocalStaticSample
	Location string // absolute URL of the WHIP session resource
	token    string
	header   http.Header
	hc       *http.Client
	wg       sync.WaitGroup
	once     sync.Once
}

// PublishWHIP offers an Opus track to the WHIP endpoint and waits for the answer.
func PublishWHIP(ctx context.Context, endpoint, token string, opt WHIPOptions) (*WHIPClient, error) {
	se := webrtc.SettingEngine{}
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	if opt.LoopbackOnly {
		se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
		se.SetIncludeLoopbackCandidate(true)
		se.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
	}
	me := &webrtc.MediaEngine{}
	if err := me.RegisterCodec(webrtc.RTPCodecParameters{
		RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2, SDPFmtpLine: "minptime=10;useinbandfec=1"},
		PayloadType:        111,
	}, webrtc.RTPCodecTypeAudio); err != nil {
		return nil, err
	}
	api := webrtc.NewAPI(webrtc.WithMediaEngine(me), webrtc.WithSettingEngine(se))
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return nil, fmt.Errorf("whip client: %w", err)
	}
	c := &WHIPClient{pc: pc, token: token, header: opt.Header, hc: opt.HTTPClient}
	if c.hc == nil {
		c.hc = &http.Client{Timeout: defaultWHIPTimeout}
	}
	c.track, err = webrtc.NewTrackLocalStaticSample(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}, "audio", "majlis")
	if err != nil {
		pc.Close()
		return nil, err
	}
	tr, err := pc.AddTransceiverFromTrack(c.track, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendrecv})
	if err != nil {
		pc.Close()
		return nil, err
	}
	// Drain RTCP from the sender so interceptors (NACK, reports) work.
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		buf := make([]byte, 1500)
		for {
			if _, _, err := tr.Sender().Read(buf); err != nil {
				return
			}
		}
	}()
	// OnTrack runs on its own Pion goroutine, which ends when pc.Close makes
	// ReadRTP fail; OnPacket must therefore tolerate a call racing Close.
	pc.OnTrack(func(remote *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		for {
			p, _, err := remote.ReadRTP()
			if err != nil {
				return
			}
			if opt.OnPacket != nil {
				opt.OnPacket(p.SequenceNumber, p.Timestamp, p.Payload)
			}
		}
	})
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		pc.Close()
		return nil, err
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(offer); err != nil {
		pc.Close()
		return nil, err
	}
	select {
	case <-gathered:
	case <-ctx.Done():
		pc.Close()
		return nil, ctx.Err()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, bytes.NewBufferString(pc.LocalDescription().SDP))
	if err != nil {
		pc.Close()
		return nil, err
	}
	req.Header.Set("Content-Type", "application/sdp")
	c.authorize(req)
	resp, err := c.hc.Do(req)
	if err != nil {
		pc.Close()
		return nil, fmt.Errorf("whip post: %w", err)
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	if resp.StatusCode != http.StatusCreated {
		pc.Close()
		return nil, fmt.Errorf("whip post: %s: %s", resp.Status, answer)
	}
	loc, err := url.Parse(endpoint)
	if err == nil {
		if rel, perr := url.Parse(resp.Header.Get("Location")); perr == nil {
			c.Location = loc.ResolveReference(rel).String()
		}
	}
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: string(answer)}); err != nil {
		pc.Close()
		return nil, fmt.Errorf("whip answer: %w", err)
	}
	connected := make(chan struct{})
	var co sync.Once
	pc.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
		if s == webrtc.PeerConnectionStateConnected {
			co.Do(func() { close(connected) })
		}
	})
	if pc.ConnectionState() == webrtc.PeerConnectionStateConnected {
		co.Do(func() { close(connected) })
	}
	select {
	case <-connected:
	case <-ctx.Done():
		c.Close(context.Background())
		return nil, fmt.Errorf("whip connect: %w", ctx.Err())
	}
	return c, nil
}

// authorize puts the client's credentials on req.
func (c *WHIPClient) authorize(req *http.Request) {
	for k, v := range c.header {
		req.Header[k] = v
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
}

// WriteOpus sends one Opus packet lasting d.
func (c *WHIPClient) WriteOpus(pkt []byte, d time.Duration) error {
	return c.track.WriteSample(media.Sample{Data: pkt, Duration: d})
}

// Close deletes the WHIP session and closes the peer connection.
func (c *WHIPClient) Close(ctx context.Context) error {
	var err error
	c.once.Do(func() {
		if c.Location != "" {
			req, rerr := http.NewRequestWithContext(ctx, http.MethodDelete, c.Location, nil)
			if rerr == nil {
				c.authorize(req)
				if resp, derr := c.hc.Do(req); derr == nil {
					resp.Body.Close()
				} else {
					err = derr
				}
			}
		}
		if cerr := c.pc.Close(); cerr != nil && err == nil {
			err = cerr
		}
		c.wg.Wait()
	})
	return err
}
