package stage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// Ingest receives one speaker's audio (the mixer's *audio.Source implements it).
type Ingest interface {
	// Push hands over one RTP packet: sequence number, timestamp and Opus
	// payload. The payload is reused after Push returns; the callee copies.
	// Push is called from one goroutine at a time and must not block.
	Push(seq uint16, ts uint32, payload []byte)
	// Close is called exactly once, after the last Push, when the session ends.
	Close()
}

// PublishRequest is one WHIP POST.
type PublishRequest struct {
	Room string
	// Member is the member's stable ID within the room. Publishing again
	// with the same ID while the member is on stage is a re-publish: the new
	// session waits (Session.Pending) and takes over from the older one only
	// once its peer connection is connected; the older one then ends as
	// replaced. A new session that never connects ends alone.
	Member string
	Offer  string // SDP offer (application/sdp body)
	// Ingest receives the member's audio, from the moment the session is the
	// member's current one. Publish owns it only on success; on error it is
	// neither used nor closed.
	Ingest Ingest
	// OnCurrent, when set, is called once when the session becomes the
	// member's current session: within Publish for a member not on stage,
	// at the take-over for a re-publish (before the older session is
	// closed), never if the session ends first. It runs under the Stage's
	// lock, so it must be quick and take only leaf locks (the mixer's
	// Attach); it orders the switch of mixer sources with the take-over.
	OnCurrent func()
}

// opusPayloadType is the payload type Pion answers with when the offer does
// not decide it (it always does: answers reuse the offer's payload type).
const opusPayloadType = 111

// rtpBufSize holds any RTP packet Pion hands over (its receive MTU is 1460).
const rtpBufSize = 1500

// Session is one member's WebRTC session on a room's stage (a WHIP resource).
type Session struct {
	id, room, member string
	stage            *Stage
	pc               *webrtc.PeerConnection
	ingest           Ingest
	info             offerInfo

	slots []*slot                 // outgoing audio: fixed once Publish returns
	feeds atomic.Pointer[[]*slot] // other members' slots this member's audio goes to

	closeReq  chan struct{} // closed to ask the supervisor to end the session
	closeOnce sync.Once
	done      chan struct{} // closed when teardown is complete

	// stateSig wakes the supervisor after a connection state change; it holds
	// one pending signal and a full channel means one is already pending, so
	// the callback never blocks and the supervisor reads the latest state.
	stateSig chan struct{}
	state    atomic.Int32 // webrtc.PeerConnectionState

	replaced atomic.Bool // a newer session of the member took over: not a leave
	// waiting is set while the session is a re-publish that has not taken
	// over yet: its audio goes nowhere and its end is no leave. Written
	// under Stage.mu; the reader loads it per packet.
	waiting   atomic.Bool
	onCurrent func()

	mu     sync.Mutex
	ending bool // no goroutine may start once set
	voice  bool // the reader for the member's audio has started
	wg     sync.WaitGroup
}

// ID is the unguessable ID used in the WHIP resource URL.
func (s *Session) ID() string { return s.id }

// Room is the room the session is on.
func (s *Session) Room() string { return s.room }

// Member is the member ID the session publishes for.
func (s *Session) Member() string { return s.member }

// Pending reports whether the session is a re-publish still waiting to take
// over from the member's older session (it takes over when connected).
func (s *Session) Pending() bool { return s.waiting.Load() }

// Done is closed once the session has ended and been torn down.
func (s *Session) Done() <-chan struct{} { return s.done }

// Close leaves the stage and waits until the session is torn down (its
// Ingest closed, its goroutines stopped). It must not be called from the
// session's own Ingest methods.
func (s *Session) Close() {
	s.requestClose()
	<-s.done
}

func (s *Session) requestClose() {
	s.closeOnce.Do(func() { close(s.closeReq) })
}

// Publish negotiates a WHIP session: it answers the offer (with every local
// candidate, for clients that do not trickle), and puts the member on the
// room's stage. For a member already on stage the session is pending: the
// older session goes on until this one connects (takeOver). A pending
// session that a still newer offer displaces ends.
func (st *Stage) Publish(ctx context.Context, req PublishRequest) (*Session, string, error) {
	if req.Room == "" || req.Member == "" || req.Ingest == nil {
		return nil, "", errors.New("stage: publish needs a room, a member and an ingest")
	}
	info, err := parseOffer(req.Offer)
	if err != nil {
		return nil, "", fmt.Errorf("whip offer: %w", err)
	}

	st.mu.Lock()
	if st.closed {
		st.mu.Unlock()
		return nil, "", ErrClosed
	}
	st.wg.Add(1) // released by the supervisor, or below on failure
	st.mu.Unlock()

	s := &Session{
		id:        newID(),
		room:      req.Room,
		member:    req.Member,
		stage:     st,
		ingest:    req.Ingest,
		onCurrent: req.OnCurrent,
		info:      info,
		closeReq:  make(chan struct{}),
		done:      make(chan struct{}),
		stateSig:  make(chan struct{}, 1),
	}
	answer, err := s.negotiate(ctx, req.Offer)
	if err != nil {
		s.abort()
		st.wg.Done()
		return nil, "", err
	}

	st.mu.Lock()
	if st.closed {
		st.mu.Unlock()
		s.abort()
		st.wg.Done()
		return nil, "", ErrClosed
	}
	r := st.rooms[req.Room]
	if r == nil {
		r = newRoom()
		st.rooms[req.Room] = r
	}
	st.sessions[s.id] = s
	displaced := r.pending[req.Member]
	if r.members[req.Member] == nil {
		r.add(s)
		r.rebalance()
		s.becomeCurrent()
		st.m.StageMembers.Inc()
	} else {
		s.waiting.Store(true)
		r.pending[req.Member] = s
	}
	st.mu.Unlock()
	if displaced != nil {
		// An older re-publish that had not connected yet: this one waits in
		// its place. Its end is no leave (it never was on stage).
		displaced.replaced.Store(true)
		displaced.requestClose()
	}
	st.m.WHIPSessions.Inc()
	st.log.Info("stage join", "room", s.room, "member", s.member, "session", s.id, "slots", len(s.slots), "pending", s.waiting.Load())
	go s.supervise()
	return s, answer, nil
}

// becomeCurrent ends the session's wait and tells its owner. Stage.mu is held.
func (s *Session) becomeCurrent() {
	s.waiting.Store(false)
	if s.onCurrent != nil {
		s.onCurrent()
	}
}

// takeOver makes a pending session, now connected, the member's current
// one: it takes the older session's place (its join order, so its slots),
// then the older one is closed as replaced, which is no leave.
func (st *Stage) takeOver(s *Session) {
	st.mu.Lock()
	r := st.rooms[s.room]
	if r == nil || r.pending[s.member] != s {
		st.mu.Unlock()
		return // displaced by a newer offer: it is being closed
	}
	delete(r.pending, s.member)
	old := r.members[s.member]
	if old != nil {
		old.replaced.Store(true)
		r.swap(old, s)
		empty := []*slot(nil)
		old.feeds.Store(&empty)
	} else {
		r.add(s) // the older session ended while this one connected
		st.m.StageMembers.Inc()
	}
	r.rebalance()
	s.becomeCurrent()
	onTakeOver := st.onTakeOver
	st.mu.Unlock()

	if old != nil {
		old.Close()
	}
	st.log.Info("stage take-over", "room", s.room, "member", s.member, "session", s.id)
	if onTakeOver != nil {
		onTakeOver(s.room, s.member, s.id)
	}
}

// negotiate builds the peer connection and returns the answer SDP.
func (s *Session) negotiate(ctx context.Context, offer string) (string, error) {
	st := s.stage
	codec := webrtc.RTPCodecCapability{
		MimeType:    webrtc.MimeTypeOpus,
		ClockRate:   48000,
		Channels:    s.info.opus.channels(),
		SDPFmtpLine: s.info.opus.fmtpLine(),
	}
	// One MediaEngine per session: its Opus fmtp mirrors this offer.
	me := &webrtc.MediaEngine{}
	if err := me.RegisterCodec(webrtc.RTPCodecParameters{RTPCodecCapability: codec, PayloadType: opusPayloadType},
		webrtc.RTPCodecTypeAudio); err != nil {
		return "", fmt.Errorf("stage: register opus: %w", err)
	}
	ir := &interceptor.Registry{}
	if err := webrtc.RegisterDefaultInterceptors(me, ir); err != nil {
		return "", fmt.Errorf("stage: interceptors: %w", err)
	}
	api := webrtc.NewAPI(webrtc.WithMediaEngine(me), webrtc.WithSettingEngine(st.se), webrtc.WithInterceptorRegistry(ir))
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return "", fmt.Errorf("stage: peer connection: %w", err)
	}
	s.pc = pc
	pc.OnTrack(s.onTrack)
	pc.OnConnectionStateChange(func(state webrtc.PeerConnectionState) {
		s.state.Store(int32(state))
		select {
		case s.stateSig <- struct{}{}:
		default:
		}
	})

	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: offer}); err != nil {
		return "", fmt.Errorf("whip offer: %w: %v", ErrBadOffer, err)
	}
	// One outgoing slot per audio m-line that can receive. AddTrack takes the
	// next such transceiver in m-line order; video m-lines have no codec in
	// the MediaEngine and are answered rejected.
	for i := 0; i < s.info.recvSlots; i++ {
		track, err := webrtc.NewTrackLocalStaticRTP(codec, "audio"+strconv.Itoa(i), "majlis-"+s.id[:8])
		if err != nil {
			return "", fmt.Errorf("stage: slot track: %w", err)
		}
		sender, err := pc.AddTrack(track)
		if err != nil {
			return "", fmt.Errorf("stage: slot %d: %w", i, err)
		}
		if !s.senderInOffer(sender) {
			// No offered m-line left to carry it (e.g. a non-Opus audio m-line
			// was counted by Pion): drop it rather than grow the answer.
			_ = pc.RemoveTrack(sender)
			break
		}
		s.slots = append(s.slots, &slot{owner: s, track: track})
		s.spawn(func() { drainRTCP(sender) })
	}

	answer, err := pc.CreateAnswer(nil)
	if err != nil {
		return "", fmt.Errorf("whip offer: %w: %v", ErrBadOffer, err)
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(answer); err != nil {
		return "", fmt.Errorf("whip offer: %w: %v", ErrBadOffer, err)
	}
	select {
	case <-gathered:
	case <-ctx.Done():
		return "", fmt.Errorf("stage: gathering: %w", ctx.Err())
	}
	return pc.LocalDescription().SDP, nil
}

func (s *Session) senderInOffer(sender *webrtc.RTPSender) bool {
	for _, t := range s.pc.GetTransceivers() {
		if t.Sender() == sender {
			return t.Mid() != ""
		}
	}
	return false
}

// spawn runs f on a goroutine of the session, unless the session is ending.
func (s *Session) spawn(f func()) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ending {
		return false
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		f()
	}()
	return true
}

// drainRTCP reads the RTCP of an outgoing slot so the interceptors (NACK
// responder, reports) see it; it ends when the peer connection closes.
func drainRTCP(sender *webrtc.RTPSender) {
	buf := make([]byte, rtpBufSize)
	for {
		if _, _, err := sender.Read(buf); err != nil {
			return
		}
	}
}

// onTrack runs on a Pion goroutine for each incoming track. The first audio
// track is the member's voice: pushed to the Ingest and forwarded to the
// other members. Further tracks are read and dropped.
func (s *Session) onTrack(track *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
	s.mu.Lock()
	voice := !s.voice && track.Kind() == webrtc.RTPCodecTypeAudio && !s.ending
	if voice {
		s.voice = true
	}
	s.mu.Unlock()
	s.spawn(func() { s.read(track, voice) })
}

func (s *Session) read(track *webrtc.TrackRemote, voice bool) {
	buf := make([]byte, rtpBufSize)
	var pkt rtp.Packet
	for {
		n, _, err := track.Read(buf)
		if err != nil {
			if errors.Is(err, io.ErrShortBuffer) {
				continue
			}
			return
		}
		if !voice {
			continue
		}
		if s.waiting.Load() {
			continue // a re-publish not taken over yet: the older session is heard
		}
		if err := pkt.Unmarshal(buf[:n]); err != nil || len(pkt.Payload) == 0 {
			continue // padding-only probes carry no audio
		}
		s.ingest.Push(pkt.SequenceNumber, pkt.Timestamp, pkt.Payload)
		s.forward(&pkt)
	}
}

// supervise owns the session's lifetime: it ends it on Close, on ICE failure
// or close, after DisconnectedTimeout disconnected, or when it never connects.
// A pending session takes over when it connects.
func (s *Session) supervise() {
	st := s.stage
	defer st.wg.Done()

	connect := time.NewTimer(st.cfg.ConnectTimeout)
	defer connect.Stop()
	connectC := connect.C
	var disc *time.Timer
	var discC <-chan time.Time
	stopDisc := func() {
		if disc != nil {
			disc.Stop()
			disc, discC = nil, nil
		}
	}
	defer stopDisc()

	reason := ""
	for reason == "" {
		select {
		case <-s.closeReq:
			reason = "closed"
		case <-connectC:
			reason = "connect timeout"
		case <-discC:
			reason = "disconnected timeout"
		case <-s.stateSig:
			switch webrtc.PeerConnectionState(s.state.Load()) {
			case webrtc.PeerConnectionStateConnected:
				connect.Stop()
				connectC = nil
				stopDisc()
				if s.waiting.Load() {
					st.takeOver(s)
				}
			case webrtc.PeerConnectionStateDisconnected:
				if disc == nil {
					disc = time.NewTimer(st.cfg.DisconnectedTimeout)
					discC = disc.C
				}
			case webrtc.PeerConnectionStateFailed:
				reason = "ice failed"
			case webrtc.PeerConnectionStateClosed:
				reason = "peer closed"
			}
		}
	}
	s.teardown()
	// A session that never took over was never on stage: its end is no
	// leave, and the member's older session goes on.
	pending := s.waiting.Load()
	if s.replaced.Load() {
		reason = "replaced"
	}
	st.log.Info("stage leave", "room", s.room, "member", s.member, "session", s.id, "reason", reason, "pending", pending)

	st.mu.Lock()
	onLeave := st.onLeave
	st.mu.Unlock()
	if onLeave != nil && !s.replaced.Load() && !pending {
		onLeave(s.room, s.member)
	}
}

// teardown takes the member off the stage, stops the session's goroutines
// and closes the Ingest after the last Push.
func (s *Session) teardown() {
	s.stage.leave(s)
	s.abort()
	s.ingest.Close()
	close(s.done)
}

// abort closes the peer connection and waits for the session's goroutines.
func (s *Session) abort() {
	s.mu.Lock()
	s.ending = true
	s.mu.Unlock()
	if s.pc != nil {
		if err := s.pc.Close(); err != nil {
			s.stage.log.Debug("stage: close peer connection", "session", s.id, "err", err)
		}
	}
	s.wg.Wait()
}

// Trickle adds the remote candidates of an RFC 9725 PATCH body
// (application/trickle-ice-sdpfrag). New ICE credentials mean an ICE
// restart, which is not supported: ErrICERestartUnsupported.
func (s *Session) Trickle(frag string) error {
	f, err := parseFragment(frag)
	if err != nil {
		return fmt.Errorf("whip patch: %w", err)
	}
	if (f.ufrag != "" && f.ufrag != s.info.ufrag) || (f.pwd != "" && f.pwd != s.info.pwd) {
		return ErrICERestartUnsupported
	}
	select {
	case <-s.closeReq:
		return ErrClosed
	case <-s.done:
		return ErrClosed
	default:
	}
	for _, c := range f.candidates {
		mid, idx := c.mid, uint16(c.mline)
		init := webrtc.ICECandidateInit{Candidate: c.candidate, SDPMLineIndex: &idx}
		if mid != "" {
			init.SDPMid = &mid
		}
		if err := s.pc.AddICECandidate(init); err != nil {
			return fmt.Errorf("whip patch: %w: %v", ErrBadFragment, err)
		}
	}
	if f.end {
		if err := s.pc.AddICECandidate(webrtc.ICECandidateInit{}); err != nil {
			return fmt.Errorf("whip patch: end of candidates: %w", err)
		}
	}
	return nil
}
