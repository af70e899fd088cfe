package room

import (
	"context"
	"errors"
	"testing"
)

func publishing(t *testing.T, s *Service, id, user string) bool {
	t.Helper()
	v, err := s.View(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range v.Stage {
		if m.ID == user {
			return m.Publishing
		}
	}
	return false
}

// TestPublish: Publish records the session and applies the member's mute;
// an offer the media refuses records nothing; leaving the stage role closes
// the session; an older session's end does not take a newer one off stage.
func TestPublish(t *testing.T) {
	s, st, m := newService(t, nil)
	ctx := context.Background()
	id, host := liveRoom(t, s, st)
	u, _, _ := st.CreateUser(ctx, "sp", PlatformUser)
	sp := Actor{ID: u.ID, Platform: PlatformUser}
	if err := s.Invite(ctx, host, id, sp.ID); err != nil {
		t.Fatal(err)
	}
	if err := s.Mute(ctx, host, id, sp.ID, true); err != nil {
		t.Fatal(err)
	}

	if _, _, err := s.Publish(ctx, sp, id, "bad"); !errors.Is(err, errFakeOffer) {
		t.Fatalf("bad offer: %v", err)
	}
	if publishing(t, s, id, sp.ID) {
		t.Fatal("a refused offer left the speaker publishing")
	}

	sid, answer, err := s.Publish(ctx, sp, id, "o1")
	if err != nil {
		t.Fatal(err)
	}
	first := m.session(sp.ID)
	if sid != first.ID() || answer != "answer:o1" {
		t.Fatalf("publish returned %q %q", sid, answer)
	}
	if !first.muted.Load() || !publishing(t, s, id, sp.ID) {
		t.Fatalf("after publishing: muted %v publishing %v, want both", first.muted.Load(), publishing(t, s, id, sp.ID))
	}
	if err := s.Mute(ctx, host, id, sp.ID, false); err != nil || first.muted.Load() {
		t.Fatalf("release: %v, muted %v", err, first.muted.Load())
	}

	// A newer session replaces the first; the first one's leave is stale.
	if _, _, err := s.Publish(ctx, sp, id, "o2"); err != nil {
		t.Fatal(err)
	}
	second := m.session(sp.ID)
	if !first.closed() || second.closed() {
		t.Fatal("the newer session did not replace the older one")
	}
	s.LeftStage(id, sp.ID)
	if !publishing(t, s, id, sp.ID) {
		t.Fatal("an older session's leave took the newer one off stage")
	}

	// Back to the audience: the session is closed and publishing refused.
	if err := s.ToAudience(ctx, host, id, sp.ID); err != nil {
		t.Fatal(err)
	}
	if !second.closed() || publishing(t, s, id, sp.ID) {
		t.Fatal("moving to the audience left the session running")
	}
	if _, _, err := s.Publish(ctx, sp, id, "o3"); !errors.Is(err, ErrForbidden) {
		t.Fatalf("publish after leaving the stage: %v", err)
	}

	// The host publishing stops the auto-end clock; leaving restarts it.
	r := s.loaded(id)
	if _, _, err := s.Publish(ctx, host, id, "h"); err != nil || r.hostGone.Load() != 0 {
		t.Fatalf("host publishes: %v, hostGone %d", err, r.hostGone.Load())
	}
	m.session(host.ID).Close()
	s.LeftStage(id, host.ID)
	if r.hostGone.Load() == 0 || publishing(t, s, id, host.ID) {
		t.Fatal("the host's leave was not recorded")
	}

	// Suspension closes the user's sessions.
	if _, _, err := s.Publish(ctx, host, id, "h2"); err != nil {
		t.Fatal(err)
	}
	s.Suspend(host.ID)
	if !m.session(host.ID).closed() || publishing(t, s, id, host.ID) {
		t.Fatal("suspension left the session running")
	}
}
