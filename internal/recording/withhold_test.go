package recording

import (
	"errors"
	"testing"
	"time"
)

// TestWithholdAndRestore: a withheld replay or clip is out of reach (not
// played, clipped or changed) but kept past the
// retention and its own expiry; Restore brings back the same bytes; once
// its withholding has run out the retention job deletes it, and a late
// Restore says so.
func TestWithholdAndRestore(t *testing.T) {
	m := newManager(t, Dir{Root: t.TempDir()})
	record(t, m, "room3")
	rp, err := m.OpenReplay("room3")
	if err != nil {
		t.Fatal(err)
	}
	before := readAll(t, rp)
	rp.Close()
	c, err := m.MakeClip("room3", "user", time.Second, 2*time.Second, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	until := now.Add(48 * time.Hour)
	if err := m.Withhold("room3", "safety decision d1", until); err != nil {
		t.Fatal(err)
	}
	if err := m.WithholdClip(c.ID, "safety decision d2", until); err != nil {
		t.Fatal(err)
	}
	pub := true
	for what, err := range map[string]error{
		"open":   func() error { _, err := m.OpenReplay("room3"); return err }(),
		"meta":   func() error { _, err := m.Meta("room3"); return err }(),
		"update": func() error { _, err := m.Update("room3", Settings{Public: &pub}); return err }(),
		"clip":   func() error { _, _, err := m.OpenClip(c.ID); return err }(),
	} {
		if !errors.Is(err, ErrWithheld) {
			t.Errorf("%s of a withheld recording: %v, want ErrWithheld", what, err)
		}
	}
	// Past the retention (1 h) and the clip's expiry, but within the
	// withholding: both are kept.
	m.Sweep(now.Add(24*time.Hour), time.Hour)
	if err := m.Restore("room3"); err != nil {
		t.Fatal(err)
	}
	rp, err = m.OpenReplay("room3")
	if err != nil {
		t.Fatalf("restored replay: %v", err)
	}
	if after := readAll(t, rp); string(after) != string(before) {
		t.Fatalf("restored replay: %d bytes, want the %d it had", len(after), len(before))
	}
	rp.Close()
	if err := m.RestoreClip(c.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := m.ClipInfo(c.ID); err != nil {
		t.Fatalf("restored clip, within its own time: %v", err)
	}

	// Withheld again, and the withholding runs out: deleted.
	if err := m.Withhold("room3", "safety decision d3", until); err != nil {
		t.Fatal(err)
	}
	if err := m.WithholdClip(c.ID, "safety decision d4", until); err != nil {
		t.Fatal(err)
	}
	m.Sweep(until.Add(time.Minute), 0)
	if _, err := m.OpenReplay("room3"); !errors.Is(err, ErrDeleted) {
		t.Fatalf("replay after its withholding ran out: %v, want ErrDeleted", err)
	}
	if err := m.Restore("room3"); !errors.Is(err, ErrDeleted) {
		t.Fatalf("late restore: %v, want ErrDeleted", err)
	}
	if err := m.RestoreClip(c.ID); !errors.Is(err, ErrClipNotFound) {
		t.Fatalf("late clip restore: %v, want ErrClipNotFound", err)
	}
	if err := m.Withhold("nope", "x", until); !errors.Is(err, ErrNotFound) {
		t.Fatalf("withhold of no recording: %v", err)
	}
}
