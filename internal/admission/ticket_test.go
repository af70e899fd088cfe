package admission

import (
	"bytes"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func testSigner(t testing.TB) *Signer {
	s, err := NewSigner(bytes.Repeat([]byte{7}, 32), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestTicketRoundTrip(t *testing.T) {
	s := testSigner(t)
	tok, issued, err := s.Issue("room1")
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.Verify(tok, "room1")
	if err != nil {
		t.Fatal(err)
	}
	if got != issued {
		t.Fatalf("verified %+v, issued %+v", got, issued)
	}
}

func TestTicketCarriesUser(t *testing.T) {
	s := testSigner(t)
	tok, issued, err := s.IssueFor("room1", "u1abcdefghijklmnop")
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.Verify(tok, "room1")
	if err != nil {
		t.Fatal(err)
	}
	if got != issued || got.User != "u1abcdefghijklmnop" {
		t.Fatalf("verified %+v, issued %+v", got, issued)
	}
	anon, _, _ := s.IssueFor("room1", "")
	if got, err := s.Verify(anon, "room1"); err != nil || got.User != "" {
		t.Fatalf("anonymous ticket: %+v, %v", got, err)
	}
	if _, _, err := s.IssueFor("room1", string(bytes.Repeat([]byte("u"), MaxUserLen+1))); err == nil {
		t.Fatal("issued a ticket for a user id longer than MaxUserLen")
	}
	long, _, err := s.IssueFor(string(bytes.Repeat([]byte("r"), maxRoomLen)), string(bytes.Repeat([]byte("u"), MaxUserLen)))
	if err != nil || len(long) > MaxTicketLen {
		t.Fatalf("longest ticket is %d characters (max %d): %v", len(long), MaxTicketLen, err)
	}
	// The user is signed: a ticket whose user was changed is refused.
	raw, _ := base64.RawURLEncoding.DecodeString(tok)
	raw[len(raw)-macLen-1] ^= 1
	if _, err := s.Verify(base64.RawURLEncoding.EncodeToString(raw), "room1"); !errors.Is(err, ErrBadTicket) {
		t.Fatalf("tampered user: %v", err)
	}
}

func TestTicketRejects(t *testing.T) {
	s := testSigner(t)
	tok, _, _ := s.Issue("room1")
	other, _ := NewSigner(bytes.Repeat([]byte{8}, 32), time.Minute)
	foreign, _, _ := other.Issue("room1")
	flipped := []byte(tok)
	flipped[5] ^= 1

	expiring := testSigner(t)
	old, _, _ := expiring.Issue("room1")
	expiring.now = func() time.Time { return time.Now().Add(2 * time.Minute) }

	cases := []struct {
		name, tok, room string
		signer          *Signer
		want            error
	}{
		{"empty", "", "room1", s, ErrBadTicket},
		{"garbage", "!!!", "room1", s, ErrBadTicket},
		{"other room", tok, "room2", s, ErrBadTicket},
		{"other key", foreign, "room1", s, ErrBadTicket},
		{"bit flipped", string(flipped), "room1", s, ErrBadTicket},
		{"truncated", tok[:len(tok)-3], "room1", s, ErrBadTicket},
		{"too long", string(bytes.Repeat([]byte("A"), MaxTicketLen+1)), "room1", s, ErrBadTicket},
		{"expired", old, "room1", expiring, ErrExpiredTicket},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if _, err := c.signer.Verify(c.tok, c.room); !errors.Is(err, c.want) {
				t.Fatalf("Verify = %v, want %v", err, c.want)
			}
		})
	}
}

func TestLoadOrCreateKeyStable(t *testing.T) {
	dir := t.TempDir()
	a, err := LoadOrCreateKey(dir)
	if err != nil {
		t.Fatal(err)
	}
	b, err := LoadOrCreateKey(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a, b) || len(a) != 32 {
		t.Fatalf("key changed between loads")
	}
}

func FuzzVerifyTicket(f *testing.F) {
	s := testSigner(f)
	tok, _, _ := s.Issue("room1")
	f.Add(tok, "room1")
	withUser, _, _ := s.IssueFor("room1", "alice")
	f.Add(withUser, "room1")
	f.Add("", "")
	f.Add("AQAAAAAAAAAAAAAAAAAAAAA", "x")
	f.Fuzz(func(t *testing.T, tok, room string) {
		got, err := s.Verify(tok, room)
		if err == nil && (got.Room != room || len(got.User) > MaxUserLen) {
			t.Fatalf("accepted ticket for %q (user %q) as %q", got.Room, got.User, room)
		}
		// A renewal's prev= is verified with a grace: never looser than
		// Verify on the signature and the room.
		lapsed, lerr := s.VerifyLapsed(tok, room, time.Hour)
		if lerr == nil && (lapsed.Room != room || errors.Is(err, ErrBadTicket)) {
			t.Fatalf("lapsed check took %q for %q (Verify: %v)", tok, room, err)
		}
		if err == nil && (lerr != nil || lapsed != got) {
			t.Fatalf("lapsed check refused a valid ticket: %v", lerr)
		}
	})
}

func BenchmarkVerifyTicket(b *testing.B) {
	s := testSigner(b)
	tok, _, _ := s.Issue("abcdefghijklmnop")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Verify(tok, "abcdefghijklmnop"); err != nil {
			b.Fatal(err)
		}
	}
}

func TestTicketKeyRotation(t *testing.T) {
	a, b := bytes.Repeat([]byte{1}, 32), bytes.Repeat([]byte{2}, 32)
	old, _ := NewSigner(a, time.Minute)
	tok, _, _ := old.Issue("room1")
	rotating, err := NewSignerKeys([][]byte{b, a}, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rotating.Verify(tok, "room1"); err != nil {
		t.Fatalf("ticket of the previous key during rotation: %v", err)
	}
	fresh, _, _ := rotating.Issue("room1")
	if _, err := old.Verify(fresh, "room1"); err == nil {
		t.Fatal("the old key verified a ticket of the new key")
	}
	done, _ := NewSignerKeys([][]byte{b}, time.Minute)
	if _, err := done.Verify(tok, "room1"); err == nil {
		t.Fatal("ticket of a retired key accepted")
	}
	if _, err := done.Verify(fresh, "room1"); err != nil {
		t.Fatalf("ticket of the current key: %v", err)
	}
	// A key file with two records: current first.
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "ticket.key"), append(append([]byte{}, b...), a...), 0o600); err != nil {
		t.Fatal(err)
	}
	keys, err := LoadKeys(dir)
	if err != nil || len(keys) != 2 || !bytes.Equal(keys[0], b) || !bytes.Equal(keys[1], a) {
		t.Fatalf("LoadKeys = %d keys, %v", len(keys), err)
	}
}

// TestVerifyLapsed: a renewed ticket is accepted for its grace past expiry,
// not beyond, and never for another room.
func TestVerifyLapsed(t *testing.T) {
	s := testSigner(t) // tickets live a minute
	tok, issued, _ := s.Issue("room1")
	s.now = func() time.Time { return time.Now().Add(90 * time.Second) }
	if got, err := s.VerifyLapsed(tok, "room1", 2*s.TTL()); err != nil || got != issued {
		t.Fatalf("30 s past expiry, 2 min grace: %+v %v", got, err)
	}
	if _, err := s.VerifyLapsed(tok, "room2", 2*s.TTL()); !errors.Is(err, ErrBadTicket) {
		t.Fatalf("other room: %v", err)
	}
	s.now = func() time.Time { return time.Now().Add(4 * time.Minute) }
	if _, err := s.VerifyLapsed(tok, "room1", 2*s.TTL()); !errors.Is(err, ErrExpiredTicket) {
		t.Fatalf("3 min past expiry, 2 min grace: %v", err)
	}
}
