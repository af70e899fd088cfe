package attack

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"
)

func TestCheckLoopback(t *testing.T) {
	for _, c := range []struct {
		target string
		ok     bool
	}{
		{"http://127.0.0.1:8080", true},
		{"http://127.3.4.5:1", true},
		{"http://[::1]:8080", true},
		{"http://localhost:8080", true},
		{"http://10.0.0.1:8080", false},
		{"http://example.com", false},
		{"https://127.0.0.1", false},
		{"127.0.0.1:8080", false},
	} {
		if _, err := CheckLoopback(c.target); (err == nil) != c.ok {
			t.Errorf("CheckLoopback(%q) = %v, want ok %v", c.target, err, c.ok)
		}
	}
}

func TestRunBounded(t *testing.T) {
	if _, err := Run(context.Background(), Config{Target: "http://127.0.0.1:1", Room: "r", Duration: time.Hour}); err == nil {
		t.Fatal("an hour-long attack was accepted")
	}
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		http.Error(w, "no", http.StatusUnauthorized)
	}))
	defer srv.Close()
	start := time.Now()
	rep, err := Run(context.Background(), Config{Target: srv.URL, Room: "r", Kinds: []string{"listen", "join", "whip"}, Duration: 500 * time.Millisecond, Workers: 2})
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("a 500 ms attack ran %v", d)
	}
	for _, k := range []string{"listen", "join", "whip"} {
		if kr := rep.Kinds[k]; kr == nil || kr.Status["401"] == 0 {
			t.Errorf("%s: %+v", k, kr)
		}
	}
	if hits.Load() == 0 {
		t.Fatal("nothing reached the server")
	}
}
