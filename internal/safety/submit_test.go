package safety

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"majlis/internal/backoff"
)

// fakeTDB is the Transparency Database's batch endpoint on loopback: it
// checks each request as the database would, keeps what it took, and
// misbehaves as scripted.
type fakeTDB struct {
	t  *testing.T
	mu sync.Mutex
	// has: the puids stored. script: per request number, what to do:
	// "503" answers 503 storing nothing; "lost" stores and answers 500 (the
	// answer lost); "" stores and answers 201, or 422 naming the existing.
	has      map[string]bool
	script   map[int]string
	requests int
	at       []time.Time
	bad      []string
}

func (f *fakeTDB) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := f.requests
	f.requests++
	f.at = append(f.at, time.Now())
	if r.Header.Get("Authorization") != "Bearer tdb-token" {
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	var in struct{ Statements []json.RawMessage }
	if r.Header.Get("Content-Type") != "application/json" || json.NewDecoder(r.Body).Decode(&in) != nil || len(in.Statements) < 1 || len(in.Statements) > MaxBatch {
		f.bad = append(f.bad, "batch shape")
		w.WriteHeader(http.StatusUnprocessableEntity)
		return
	}
	var puids, existing []string
	for _, raw := range in.Statements {
		if err := validTDB(raw); err != nil {
			f.bad = append(f.bad, err.Error())
		}
		var s struct{ PUID string }
		json.Unmarshal(raw, &s)
		puids = append(puids, s.PUID)
		if f.has[s.PUID] {
			existing = append(existing, s.PUID)
		}
	}
	switch f.script[n] {
	case "503":
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	case "lost":
		for _, p := range puids {
			f.has[p] = true
		}
		w.WriteHeader(http.StatusInternalServerError)
		return
	}
	if len(existing) > 0 { // the database takes nothing of a batch with a known puid
		w.WriteHeader(http.StatusUnprocessableEntity)
		json.NewEncoder(w).Encode(map[string]any{"message": "The platform identifier(s) are not all unique within this call.",
			"errors": map[string]any{"puid": []string{"not unique"}, "existing_puids": existing}})
		return
	}
	for _, p := range puids {
		f.has[p] = true
	}
	w.WriteHeader(http.StatusCreated)
}

// TestSubmitter: 230 statements go in batches of at most 100, each
// statement valid; a 503 is retried; an answer lost after the database
// stored the batch is retried and its 422 naming the existing puids counts
// them as done; statements the database had from elsewhere are skipped and
// the rest sent; a second pass sends nothing; the rate stays under its
// bound; a wrong token fails without marking anything.
func TestSubmitter(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	const total = 230
	var first string
	for i := range total {
		in := muteDecision()
		in.Action, in.User, in.Category = ActionTerminate, "spk", CategoryScams
		d, err := e.DecideOwn(ctx, mod1, in)
		if err != nil {
			t.Fatal(err)
		}
		if i == 150 {
			first = d.PUID
		}
		e.clk.Add(time.Millisecond)
	}
	// One more a moderator warned: no statement, never sent.
	in := muteDecision()
	in.Action, in.User, in.Category = ActionWarn, "spk", CategoryScams
	if _, err := e.DecideOwn(ctx, mod1, in); err != nil {
		t.Fatal(err)
	}
	f := &fakeTDB{t: t, has: map[string]bool{first: true}, script: map[int]string{1: "503", 2: "lost"}}
	srv := httptest.NewServer(f)
	defer srv.Close()
	client := &http.Client{Timeout: 10 * time.Second}
	fast := backoff.Policy{Base: time.Millisecond, Max: 5 * time.Millisecond}

	bad := e.NewSubmitter(SubmitterConfig{URL: srv.URL, Token: "wrong", Client: client, Retry: fast})
	if n, err := bad.Pass(ctx); err == nil || n != 0 {
		t.Fatalf("wrong token: %d %v", n, err)
	}
	sub := e.NewSubmitter(SubmitterConfig{URL: srv.URL, Token: "tdb-token", Rate: 50, Client: client, Retry: fast})
	n, err := sub.Pass(ctx)
	if err != nil || n != total {
		t.Fatalf("pass: %d %v", n, err)
	}
	f.mu.Lock()
	if len(f.bad) > 0 {
		t.Fatalf("the database refused: %v", f.bad)
	}
	if len(f.has) != total {
		t.Fatalf("the database has %d statements, want %d", len(f.has), total)
	}
	// The wrong token; 503, lost, its 422 (0-99); 422 naming the known one
	// (100-199); the 99 others and the 200th; the last 29.
	reqs := f.requests
	at := append([]time.Time(nil), f.at[1:]...)
	f.mu.Unlock()
	if reqs != 7 {
		t.Fatalf("%d requests", reqs)
	}
	for i := range at {
		k := 0
		for j := i; j < len(at) && at[j].Sub(at[i]) < time.Second; j++ {
			k++
		}
		if k > 51 {
			t.Fatalf("%d requests within a second at rate 50", k)
		}
	}
	if n, err := sub.Pass(ctx); err != nil || n != 0 {
		t.Fatalf("second pass: %d %v", n, err)
	}
	f.mu.Lock()
	if f.requests != reqs {
		t.Fatalf("second pass sent %d requests", f.requests-reqs)
	}
	f.mu.Unlock()
}
