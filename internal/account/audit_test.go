package account

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"testing"

	"majlis/internal/audit"
)

func TestAuditAccounts(t *testing.T) {
	l, err := audit.Open(filepath.Join(t.TempDir(), "audit.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	f := newFixture(t, func(c *Config) { c.Audit = l })
	ctx := context.Background()
	u, _, err := f.svc.CreateUser(ctx, admin, "sara", RoleModerator, "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.SetSuspended(ctx, admin, u.ID, true); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.SetSuspended(ctx, admin, u.ID, false); err != nil {
		t.Fatal(err)
	}
	p := Principal{ID: u.ID, Role: u.Role}
	tk, _, err := f.svc.CreateToken(ctx, p, "laptop") // creating a token is no admin action: no row
	if err != nil {
		t.Fatal(err)
	}
	if err := f.svc.DeleteToken(ctx, p, tk.ID); err != nil {
		t.Fatal(err)
	}
	rows, err := l.Query(ctx, audit.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range rows {
		got = append(got, fmt.Sprintf("%s %s %s", r.Actor, r.Action, r.Target))
	}
	want := fmt.Sprint([]string{
		"admin account.create_user user:" + u.ID,
		"admin account.suspend user:" + u.ID,
		"admin account.unsuspend user:" + u.ID,
		u.ID + " account.token_revoke token:" + tk.ID,
	})
	if fmt.Sprint(got) != want {
		t.Fatalf("rows %q, want %s", got, want)
	}
	if rows[0].Detail["role"] != RoleModerator || rows[0].Detail["name"] != "sara" {
		t.Errorf("create_user detail: %v", rows[0].Detail)
	}

	// With the log down the suspension takes effect and the call says it
	// was not recorded.
	l.Close()
	if _, err := f.svc.SetSuspended(ctx, admin, u.ID, true); !errors.Is(err, audit.ErrUnavailable) {
		t.Fatalf("suspend with the log closed: %v", err)
	}
	if got, err := f.svc.User(ctx, u.ID); err != nil || !got.Suspended {
		t.Fatalf("user after an unrecorded suspension: %+v %v", got, err)
	}
}
