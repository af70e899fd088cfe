package live

import (
	"context"

	"majlis/internal/audio"
	"majlis/internal/program"
	"majlis/internal/room"
	"majlis/internal/stage"
)

// Media is the running media of rooms as the room domain uses it
// (room.Media): the live rooms' programs and the stage's sessions.
type Media struct {
	live  *Manager
	stage *stage.Stage
}

// NewMedia returns the media of the live rooms m and the stage s.
func NewMedia(m *Manager, s *stage.Stage) *Media { return &Media{live: m, stage: s} }

var _ room.Media = (*Media)(nil)

// Start starts a room's program.
func (m *Media) Start(id string) error {
	_, err := m.live.Start(id)
	return err
}

// End closes a room's stage sessions, then stops its program.
func (m *Media) End(id string) {
	m.stage.CloseRoom(id)
	m.live.End(id)
}

// Listeners is the number of listeners of a live room in this process.
func (m *Media) Listeners(id string) int64 {
	if lr := m.live.Get(id); lr != nil {
		return lr.Listeners()
	}
	return 0
}

// Speaking lists the stage members of a live room who are talking now
// (room.Speakers): their mixer level is at or above program.SpeakingLevel,
// as the listener page reads it from the chunks.
func (m *Media) Speaking(id string) []string {
	lr := m.live.Get(id)
	if lr == nil {
		return nil
	}
	return lr.mixer.Voiced(nil, program.RMSOfLevel(program.SpeakingLevel))
}

var _ room.Speakers = (*Media)(nil)

// Publish connects a member's stage session to the room's mixer: the offer
// is checked first (stage.ValidateOffer), then the member gets a mixer
// source and a WHIP session feeding it.
func (m *Media) Publish(ctx context.Context, id, member, offer string) (room.Published, string, error) {
	lr := m.live.Get(id)
	if lr == nil {
		return nil, "", room.ErrNotLive
	}
	if err := stage.ValidateOffer(offer); err != nil {
		return nil, "", err
	}
	// The new source joins the mix, in place of the member's current one,
	// only when the stage makes the session current (OnCurrent: at once for
	// a first session, when connected for a re-publish), so a refused or
	// never-connected re-publish leaves the member's working session heard,
	// and the mixer never has two sources of one member.
	src := lr.NewSpeaker(member)
	var in stage.Ingest = src
	if tap := m.live.speakerTap(id, member); tap != nil {
		in = tee{src, tap}
	}
	sess, answer, err := m.stage.Publish(ctx, stage.PublishRequest{Room: id, Member: member, Offer: offer, Ingest: in, OnCurrent: src.Attach})
	if err != nil {
		in.Close()
		return nil, "", err
	}
	return published{sess, src}, answer, nil
}

// published is a member's stage session and mixer source.
type published struct {
	sess *stage.Session
	src  *audio.Source
}

func (p published) ID() string            { return p.sess.ID() }
func (p published) SetMuted(m bool)       { p.src.SetMuted(m) }
func (p published) Close()                { p.sess.Close() }
func (p published) Done() <-chan struct{} { return p.sess.Done() }
func (p published) Pending() bool         { return p.sess.Pending() }

// tee hands a member's packets to the mixer and to a tap.
type tee struct {
	mix stage.Ingest
	tap Tap
}

func (t tee) Push(seq uint16, ts uint32, payload []byte) {
	t.mix.Push(seq, ts, payload)
	t.tap.Push(seq, ts, payload)
}

func (t tee) Close() {
	t.mix.Close()
	t.tap.Close()
}
