package httpapi

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"majlis/internal/admission"
	"majlis/internal/overload"
)

// TestGuardLeasePerTicket: the guard lets one stream per ticket through:
// a second listen with a ticket whose stream is open is refused 409
// ticket_in_use with Retry-After; the handler sees the ticket the guard
// verified (it does not verify again); a stream whose handler detached the
// lease keeps it until the stream's end, and then the ticket listens again.
func TestGuardLeasePerTicket(t *testing.T) {
	tickets := testSigner(t)
	type seen struct {
		nonce uint64
		end   func()
	}
	got := make(chan seen, 4)
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tk, err := listenTicket(r, nil, "r") // nil signer: it must come from the guard
		if err != nil {
			t.Errorf("listen path without the guard's ticket: %v", err)
		}
		got <- seen{tk.Nonce, detachLease(r)} // the stream outlives the handler (the sharded writer)
		w.WriteHeader(http.StatusOK)
	})
	aud := NewAudience(AudienceConfig{Tickets: tickets, Leases: admission.NewLeases(), Overload: overload.New(overload.Config{})}, next)
	tok := ticketFor(t, tickets, "r")
	listen := func() *httptest.ResponseRecorder {
		rec := httptest.NewRecorder()
		aud.ServeHTTP(rec, httptest.NewRequest("GET", "/api/v1/rooms/r/listen.ogg?t="+tok, nil))
		return rec
	}
	if rec := listen(); rec.Code != http.StatusOK {
		t.Fatalf("first stream: %d %s", rec.Code, rec.Body)
	}
	var first seen
	select {
	case first = <-got:
	case <-time.After(5 * time.Second):
		t.Fatal("handler not reached")
	}
	want, err := tickets.Verify(tok, "r")
	if err != nil || first.nonce != want.Nonce {
		t.Fatalf("handler saw nonce %d, the ticket's is %d (%v)", first.nonce, want.Nonce, err)
	}
	rec := listen()
	var e struct{ Error struct{ Code string } }
	json.NewDecoder(rec.Body).Decode(&e)
	if rec.Code != http.StatusConflict || e.Error.Code != "ticket_in_use" || rec.Header().Get("Retry-After") == "" {
		t.Fatalf("second stream with one ticket while the first is open: %d %q Retry-After %q, want 409 ticket_in_use", rec.Code, e.Error.Code, rec.Header().Get("Retry-After"))
	}
	select {
	case <-got:
		t.Fatal("the second stream reached the handler")
	default:
	}
	first.end() // the first stream ends
	if rec := listen(); rec.Code != http.StatusOK {
		t.Fatalf("after the first stream ended: %d %s", rec.Code, rec.Body)
	}
	(<-got).end()
	// A forged ticket never reaches the handler.
	rec = httptest.NewRecorder()
	aud.ServeHTTP(rec, httptest.NewRequest("GET", "/api/v1/rooms/r/listen.ogg?t=forged", nil))
	if rec.Code != http.StatusUnauthorized {
		t.Fatalf("forged ticket: %d, want 401", rec.Code)
	}
	select {
	case <-got:
		t.Fatal("a forged ticket reached the handler")
	default:
	}
}
