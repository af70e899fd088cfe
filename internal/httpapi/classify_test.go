package httpapi

import (
	"net/http/httptest"
	"testing"
)

// TestClassifyReplays: replays and clips are files a player may hold open
// for long, classified apart from the in-flight request budget.
func TestClassifyReplays(t *testing.T) {
	for _, c := range []struct {
		method, path string
		want         audienceRoute
	}{
		{"GET", "/api/v1/rooms/r1/recording.ogg", routeReplay},
		{"GET", "/api/v1/clips/abc.ogg", routeReplay},
		{"GET", "/api/v1/clips/abc", routeOther},
		{"GET", "/api/v1/rooms/r1/recording", routeOther},
		{"POST", "/api/v1/rooms/r1/recording", routeOther},
		{"GET", "/api/v1/rooms/r1/listen.ogg", routeListen},
	} {
		if got, _ := classify(httptest.NewRequest(c.method, c.path, nil)); got != c.want {
			t.Errorf("%s %s: route %d, want %d", c.method, c.path, got, c.want)
		}
	}
}
