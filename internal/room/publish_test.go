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

	// A newer session replaces the first once it connects; the first one's
	// leave is stale.
	if _, _, err := s.Publish(ctx, sp, id, "o2"); err != nil {
		t.Fatal(err)
	}
	second := m.session(sp.ID)
	if first.closed() || !second.Pending() {
		t.Fatal("the re-publish replaced the older session before it connected")
	}
	m.connect(s, second)
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

// TestRepublishPending: a re-publish is pending until it connects: the
// member goes on publishing with the older session (its mute applied to
// both), a pending one that ends changes nothing, one that connects takes
// over with its own credential, and revoking either credential or blocking
// the member ends both sessions.
func TestRepublishPending(t *testing.T) {
	s, st, m := newService(t, nil)
	ctx := context.Background()
	id, host := liveRoom(t, s, st)
	u, _, _ := st.CreateUser(ctx, "sp", PlatformUser)
	sp := Actor{ID: u.ID, Platform: PlatformUser, Cred: "t1"}
	if err := s.Invite(ctx, host, id, sp.ID); err != nil {
		t.Fatal(err)
	}
	r := s.loaded(id)
	current := func() Published {
		r.mu.Lock()
		defer r.mu.Unlock()
		return r.pub[sp.ID]
	}
	publish := func(cred, offer string) *fakeSession {
		t.Helper()
		a := sp
		a.Cred = cred
		if _, _, err := s.Publish(ctx, a, id, offer); err != nil {
			t.Fatal(err)
		}
		return m.session(sp.ID)
	}

	first := publish("t1", "o1")
	never := publish("t2", "o2")
	if !never.Pending() || current() != first || !publishing(t, s, id, sp.ID) {
		t.Fatal("a pending re-publish took the older session's place")
	}
	if err := s.Mute(ctx, host, id, sp.ID, true); err != nil || !first.muted.Load() || !never.muted.Load() {
		t.Fatalf("mute: %v; muted %v, pending muted %v", err, first.muted.Load(), never.muted.Load())
	}
	never.Close() // it never connected: the stage calls nothing back
	s.LeftStage(id, sp.ID)
	if first.closed() || current() != first || !publishing(t, s, id, sp.ID) {
		t.Fatal("a re-publish that never connected took the member off stage")
	}

	second := publish("t2", "o3")
	if !second.muted.Load() {
		t.Fatal("the pending re-publish is not muted like the member")
	}
	m.connect(s, second)
	if !first.closed() || current() != second {
		t.Fatal("the connected re-publish did not take over")
	}
	s.LeftStage(id, sp.ID) // the first one's end: stale
	if !publishing(t, s, id, sp.ID) {
		t.Fatal("the replaced session's leave took the member off stage")
	}
	s.EndCredential(sp.ID, "t1") // the first one's credential: nothing of it runs
	if second.closed() {
		t.Fatal("revoking the replaced session's credential ended the new one")
	}

	// Revoking the pending one's credential ends both.
	third := publish("t3", "o4")
	s.EndCredential(sp.ID, "t3")
	if !second.closed() || !third.closed() || publishing(t, s, id, sp.ID) {
		t.Fatalf("revoke: current closed %v, pending closed %v", second.closed(), third.closed())
	}

	// Blocking ends both too.
	fourth, fifth := publish("t1", "o5"), publish("t1", "o6")
	if !fifth.Pending() {
		t.Fatal("second session not pending")
	}
	if err := s.Block(ctx, host, id, sp.ID, true); err != nil {
		t.Fatal(err)
	}
	if !fourth.closed() || !fifth.closed() || publishing(t, s, id, sp.ID) {
		t.Fatalf("block: current closed %v, pending closed %v", fourth.closed(), fifth.closed())
	}
}
