package audit

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

func openLog(t *testing.T) (*Log, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "audit.db")
	l, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l, path
}

func record(t *testing.T, l *Log, n int) []Row {
	t.Helper()
	var out []Row
	for i := range n {
		r, err := l.Record(context.Background(), Entry{Actor: "u1", Action: "room.mute", Target: fmt.Sprintf("user:u%d", i+2),
			Room: "r1", Reason: "noise", Detail: map[string]any{"muted": true, "n": i}})
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	return out
}

// tamper runs SQL on the file as an intruder with write access would:
// with the append-only triggers dropped.
func tamper(t *testing.T, path string, stmts ...string) {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, s := range append([]string{`DROP TRIGGER audit_no_update`, `DROP TRIGGER audit_no_delete`}, stmts...) {
		if _, err := db.Exec(s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
}

// verifyFresh verifies with a Log opened anew (as `majlis audit verify`
// does): it knows only what the file holds.
func verifyFresh(t *testing.T, path string) (Verified, error) {
	t.Helper()
	l, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Verify(context.Background())
}

func TestChainVerifies(t *testing.T) {
	l, path := openLog(t)
	v, err := l.Verify(context.Background())
	if err != nil || v.Rows != 0 || v.Head != "" {
		t.Fatalf("empty log: %+v %v", v, err)
	}
	rows := record(t, l, 5)
	for i, r := range rows {
		if r.Seq != uint64(i+1) {
			t.Errorf("row %d: seq %d", i, r.Seq)
		}
		if i > 0 && r.Prev != rows[i-1].Hash {
			t.Errorf("row %d: prev %s, want %s", i, r.Prev, rows[i-1].Hash)
		}
		if i > 0 && r.At.Before(rows[i-1].At) {
			t.Errorf("row %d: time went back", i)
		}
	}
	v, err = l.Verify(context.Background())
	if err != nil || v.Rows != 5 || v.Head != rows[4].Hash {
		t.Fatalf("verify: %+v %v, want 5 rows head %s", v, err, rows[4].Hash)
	}
	// The chain goes on across a restart.
	l.Close()
	l2, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer l2.Close()
	more := record(t, l2, 1)
	if more[0].Seq != 6 || more[0].Prev != rows[4].Hash {
		t.Fatalf("after reopen: %+v", more[0])
	}
	if v, err := l2.Verify(context.Background()); err != nil || v.Rows != 6 {
		t.Fatalf("verify after reopen: %+v %v", v, err)
	}
	if v, err := VerifyFile(context.Background(), path); err != nil || v.Rows != 6 || v.Head != more[0].Hash {
		t.Fatalf("VerifyFile of a log in use: %+v %v", v, err)
	}
	if _, err := VerifyFile(context.Background(), filepath.Join(t.TempDir(), "none.db")); err == nil {
		t.Fatal("VerifyFile of no file: no error")
	}
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("audit.db mode: %v %v", st.Mode(), err)
	}
}

func TestAppendOnly(t *testing.T) {
	l, path := openLog(t)
	record(t, l, 2)
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, s := range []string{`UPDATE audit SET reason = 'x' WHERE seq = 1`, `DELETE FROM audit WHERE seq = 2`} {
		if _, err := db.Exec(s); err == nil || !strings.Contains(err.Error(), "append-only") {
			t.Errorf("%s: %v, want refused", s, err)
		}
	}
}

func TestVerifyFindsTampering(t *testing.T) {
	cases := []struct {
		name    string
		stmts   []string
		wantSeq uint64
	}{
		{"edited reason", []string{`UPDATE audit SET reason = 'nothing to see' WHERE seq = 3`}, 3},
		{"edited detail", []string{`UPDATE audit SET detail = '{"muted":false,"n":1}' WHERE seq = 2`}, 2},
		{"edited time", []string{`UPDATE audit SET at = at + 1 WHERE seq = 4`}, 4},
		{"middle row deleted", []string{`DELETE FROM audit WHERE seq = 3`}, 3},
		{"first row deleted", []string{`DELETE FROM audit WHERE seq = 1`}, 1},
		{"rows swapped", []string{`UPDATE audit SET seq = 100 WHERE seq = 2`, `UPDATE audit SET seq = 2 WHERE seq = 3`, `UPDATE audit SET seq = 3 WHERE seq = 100`}, 2},
		{"row deleted and later ones renumbered", []string{`DELETE FROM audit WHERE seq = 3`, `UPDATE audit SET seq = seq - 1 WHERE seq > 3`}, 3},
		{"row edited and its hash recomputed naively", []string{`UPDATE audit SET reason = 'x', hash = lower(hex(randomblob(32))) WHERE seq = 2`}, 2},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			l, path := openLog(t)
			record(t, l, 5)
			l.Close()
			if _, err := verifyFresh(t, path); err != nil {
				t.Fatalf("before tampering: %v", err)
			}
			tamper(t, path, c.stmts...)
			_, err := verifyFresh(t, path)
			var ce *ChainError
			if !errors.As(err, &ce) {
				t.Fatalf("verify: %v, want a ChainError", err)
			}
			if ce.Seq != c.wantSeq {
				t.Fatalf("verify names row %d (%v), want %d", ce.Seq, err, c.wantSeq)
			}
			// The read-only check of the file (majlis audit verify) finds the same row.
			_, ferr := VerifyFile(context.Background(), path)
			if !errors.As(ferr, &ce) || ce.Seq != c.wantSeq {
				t.Fatalf("VerifyFile: %v, want row %d", ferr, c.wantSeq)
			}
		})
	}
}

// TestVerifyFindsTruncation: the newest rows cut off are seen by the
// process that wrote them (the chain itself cannot show a missing tail).
func TestVerifyFindsTruncation(t *testing.T) {
	l, path := openLog(t)
	record(t, l, 4)
	tamper(t, path, `DELETE FROM audit WHERE seq >= 3`)
	_, err := l.Verify(context.Background())
	var ce *ChainError
	if !errors.As(err, &ce) || ce.Seq != 3 {
		t.Fatalf("verify: %v, want row 3 missing", err)
	}
}

func TestConcurrentRecordsChain(t *testing.T) {
	l, _ := openLog(t)
	const workers, each = 16, 25
	var wg sync.WaitGroup
	errc := make(chan error, workers*each)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				if _, err := l.Record(context.Background(), Entry{Actor: fmt.Sprintf("u%d", w), Action: "room.block",
					Target: fmt.Sprintf("user:t%d", i), Room: fmt.Sprintf("r%d", w%3)}); err != nil {
					errc <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Fatal(err)
	}
	v, err := l.Verify(context.Background())
	if err != nil || v.Rows != workers*each {
		t.Fatalf("verify: %+v %v, want %d rows", v, err, workers*each)
	}
}

func TestQuery(t *testing.T) {
	l, _ := openLog(t)
	ctx := context.Background()
	for _, e := range []Entry{
		{Actor: "h1", Action: "room.mute", Target: "user:a", Room: "r1", Detail: map[string]any{"forced": true}},
		{Actor: "h1", Action: "room.block", Target: "user:b", Room: "r1"},
		{Actor: "admin", Action: "account.suspend", Target: "user:b", Reason: "spam"},
		{Actor: "h2", Action: "room.mute", Target: "user:c", Room: "r2"},
		{Actor: "h1", Action: "room.end", Target: "room:r1", Room: "r1"},
	} {
		if _, err := l.Record(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	seqs := func(f Filter) []uint64 {
		rows, err := l.Query(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		var out []uint64
		for _, r := range rows {
			out = append(out, r.Seq)
		}
		return out
	}
	for _, c := range []struct {
		f    Filter
		want string
	}{
		{Filter{}, "[1 2 3 4 5]"},
		{Filter{Room: "r1"}, "[1 2 5]"},
		{Filter{Actor: "h1", Action: "room.mute"}, "[1]"},
		{Filter{Target: "user:b"}, "[2 3]"},
		{Filter{AfterSeq: 2, Limit: 2}, "[3 4]"},
		{Filter{Room: "r1", AfterSeq: 2}, "[5]"},
		{Filter{Room: "none"}, "[]"},
	} {
		if got := fmt.Sprint(seqs(c.f)); got != c.want {
			t.Errorf("%+v: %s, want %s", c.f, got, c.want)
		}
	}
	rows, err := l.Query(ctx, Filter{Action: "room.mute", Limit: 1})
	if err != nil || len(rows) != 1 || rows[0].Detail["forced"] != true || rows[0].Actor != "h1" || rows[0].Room != "r1" {
		t.Fatalf("row: %+v %v", rows, err)
	}
}

func TestRecordRefuses(t *testing.T) {
	l, path := openLog(t)
	ctx := context.Background()
	for _, e := range []Entry{
		{Action: "room.mute"},
		{Actor: "u"},
		{Actor: "u", Action: "x", Reason: strings.Repeat("r", MaxReason+1)},
		{Actor: "u", Action: "x", Detail: map[string]any{"f": func() {}}},
	} {
		if _, err := l.Record(ctx, e); !errors.Is(err, ErrUnavailable) {
			t.Errorf("%+v: %v, want ErrUnavailable", e, err)
		}
	}
	l.Close()
	if _, err := l.Record(ctx, Entry{Actor: "u", Action: "x"}); !errors.Is(err, ErrUnavailable) || !errors.Is(err, ErrClosed) {
		t.Fatalf("after close: %v", err)
	}
	if v, err := verifyFresh(t, path); err != nil || v.Rows != 0 {
		t.Fatalf("refused entries left rows: %+v %v", v, err)
	}
}
