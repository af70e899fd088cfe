package attack

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
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

// TestMoreKinds: the login, slow-body and rooms kinds send what they say:
// JSON login guesses, POSTs whose body trickles on held sockets, and
// anonymous live-room lists and reads of well-formed ids nobody made.
func TestMoreKinds(t *testing.T) {
	var logins, bodies, lists, reads atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.Method == "GET" && r.URL.Path == "/api/v1/rooms" && r.URL.Query().Get("state") == "live" && r.Header.Get("Authorization") == "":
			lists.Add(1)
			w.Write([]byte(`{"rooms":[]}`))
		case r.Method == "GET" && roomIDPath.MatchString(r.URL.Path) && r.Header.Get("Authorization") == "":
			reads.Add(1)
			http.Error(w, "no such room", http.StatusNotFound)
		case r.URL.Path == "/api/v1/login" && r.Header.Get("Content-Type") == "application/json":
			var in struct{ Name, Password string }
			if json.NewDecoder(r.Body).Decode(&in) == nil && in.Name != "" && in.Password != "" {
				logins.Add(1)
			}
			http.Error(w, "no", http.StatusUnauthorized)
		case strings.HasSuffix(r.URL.Path, "/reactions") && r.ContentLength == 60000:
			bodies.Add(1)
			r.Body.Read(make([]byte, 1)) // the body trickles: take a byte and give up
		}
	}))
	defer srv.Close()
	rep, err := Run(context.Background(), Config{Target: srv.URL, Room: "r", Kinds: MoreKinds, Duration: time.Second, Workers: 2, Sockets: 4})
	if err != nil {
		t.Fatal(err)
	}
	if kr := rep.Kinds["login"]; kr == nil || kr.Status["401"] == 0 || logins.Load() == 0 {
		t.Errorf("login: %+v, %d guesses decoded by the server", kr, logins.Load())
	}
	if kr := rep.Kinds["slowbody"]; kr == nil || kr.Requests < 4 || bodies.Load() < 1 {
		t.Errorf("slowbody: %+v, %d slow POSTs seen by the server", kr, bodies.Load())
	}
	if kr := rep.Kinds["rooms"]; kr == nil || kr.Status["200"] == 0 || kr.Status["404"] == 0 || lists.Load() == 0 || reads.Load() == 0 {
		t.Errorf("rooms: %+v, %d lists and %d reads of unknown ids seen by the server", kr, lists.Load(), reads.Load())
	}
}

// roomIDPath is a room read with an id as store.NewID makes them.
var roomIDPath = regexp.MustCompile(`^/api/v1/rooms/[a-z2-7]{16}$`)

// TestListenPath: wsflood opens a join's listen path at its target, whether
// the join answered with a path or (over a cluster) an edge's absolute URL.
func TestListenPath(t *testing.T) {
	for u, want := range map[string]string{
		"/api/v1/rooms/r/listen.ws?t=a.b":                          "/api/v1/rooms/r/listen.ws?t=a.b",
		"http://127.0.0.1:8081/api/v1/rooms/r/listen.ws?t=a.b":     "/api/v1/rooms/r/listen.ws?t=a.b",
		"https://edge.example:443/api/v1/rooms/r/listen.ws?t=a%2B": "/api/v1/rooms/r/listen.ws?t=a%2B",
	} {
		if got := listenPath(u); got != want {
			t.Errorf("listenPath(%q) = %q, want %q", u, got, want)
		}
	}
}
