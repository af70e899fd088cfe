package main

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"

	"majlis/internal/audit"
	"majlis/internal/server"
)

// TestAuditVerifyCmd: `majlis audit verify` finds the log in the data dir
// given by --data or MAJLIS_DATA, as serve does, and says what it checked.
// (The real binary on a killed server's log and a tampered one:
// internal/server's TestAuditSurvivesKill9.)
func TestAuditVerifyCmd(t *testing.T) {
	dir := t.TempDir()
	l, err := audit.Open(server.AuditPath(dir))
	if err != nil {
		t.Fatal(err)
	}
	var head string
	for range 3 {
		r, err := l.Record(context.Background(), audit.Entry{Actor: "admin", Action: "account.suspend", Target: "user:x"})
		if err != nil {
			t.Fatal(err)
		}
		head = r.Hash
	}
	l.Close()
	for _, c := range []struct {
		args []string
		env  map[string]string
	}{
		{[]string{"audit", "verify", "--data", dir}, nil},
		{[]string{"audit", "verify"}, map[string]string{"MAJLIS_DATA": dir}},
	} {
		var out, errOut bytes.Buffer
		if err := run(context.Background(), c.args, env(c.env), &out, &errOut); err != nil {
			t.Fatalf("%v: %v %s", c.args, err, errOut.String())
		}
		if want := "ok: 3 rows, head " + head + "\n"; out.String() != want {
			t.Fatalf("%v printed %q, want %q", c.args, out.String(), want)
		}
	}
	var out, errOut bytes.Buffer
	if err := run(context.Background(), []string{"audit", "verify", "--data", filepath.Join(dir, "none")}, env(nil), &out, &errOut); err == nil {
		t.Fatalf("a data dir without a log verified: %s", out.String())
	}
	if err := run(context.Background(), []string{"audit"}, env(nil), &out, &errOut); err == nil || !strings.Contains(errOut.String(), "majlis audit verify") {
		t.Fatalf("majlis audit without a subcommand: %v %q", err, errOut.String())
	}
}
