package fanout

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"majlis/internal/program"
)

// TestStop: a Stop ends its stream only, on the engine (plain HTTP/1.1) and
// over TLS: a WebSocket listener gets close 4403 "removed", a listen.ogg
// one the connection closed before the end of the body; a stream stopped
// before it was served ends as soon as it starts (over TLS, listen.ogg's
// connection closes before an answer); the others go on; each
// stream's onEnd runs once.
func TestStop(t *testing.T) {
	for _, tlsOn := range []bool{false, true} {
		for _, kind := range []string{"ws", "ogg"} {
			name := map[bool]string{false: "engine", true: "tls"}[tlsOn] + "/" + kind
			t.Run(name, func(t *testing.T) {
				stops := make(chan *Stop, 4)
				var ends atomic.Int32
				var stopFirst atomic.Bool
				start := (*httptest.Server).Start
				if tlsOn {
					start = (*httptest.Server).StartTLS
				}
				var hh *harness
				hh = newHarnessStart(t, Config{}, program.Config{}, 0, func(s *httptest.Server) {
					s.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
						st := NewStop()
						if stopFirst.Load() {
							st.Stop()
						}
						stops <- st
						end := func() { ends.Add(1) }
						if strings.HasSuffix(r.URL.Path, ".ws") {
							hh.hub.ServeWSDetached(w, r, hh.prog, end, st)
						} else {
							hh.hub.ServeOggDetached(w, r, hh.prog, end, st)
						}
					})
					start(s)
				})
				ctx := t.Context()
				client := streamHTTP
				if tlsOn {
					client = tlsStreamClient(hh)
				}
				listen := func() *collector {
					if kind == "ws" {
						return wsClientWith(t, ctx, &websocket.DialOptions{HTTPClient: client}, hh.srv.URL+"/listen.ws", 1)
					}
					return oggClientWith(t, ctx, client, hh.srv.URL+"/listen.ogg")
				}
				pubCtx, stopPub := context.WithCancel(ctx)
				pubDone := make(chan struct{})
				go func() { // the program goes on meanwhile
					defer close(pubDone)
					for pubCtx.Err() == nil {
						hh.publish(1, 100, 20*time.Millisecond)
					}
				}()
				defer func() { stopPub(); <-pubDone }()

				removed, other := listen(), listen()
				st := <-stops
				<-stops
				waitFor(t, "both hear the program", func() bool { return removed.count() > 0 && other.count() > 0 })
				st.Stop()
				select {
				case <-removed.done:
				case <-time.After(2 * time.Second):
					t.Fatal("the stopped stream still runs 2 s after Stop")
				}
				checkRemoved(t, kind, removed.err)
				st.Stop() // again, after the end: nothing happens

				stopFirst.Store(true)
				if kind == "ogg" && tlsOn {
					// Served by its own goroutine, cancelled before the head
					// is written: the connection closes without an answer.
					rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
					req, _ := http.NewRequestWithContext(rctx, http.MethodGet, hh.srv.URL+"/listen.ogg", nil)
					resp, err := client.Do(req)
					if err == nil {
						_, err = io.Copy(io.Discard, resp.Body)
						resp.Body.Close()
					}
					late := rctx.Err()
					cancel()
					<-stops
					if late != nil || err == nil {
						t.Fatalf("a stream stopped before it was served: %v (context %v), want the connection closed at once", err, late)
					}
				} else {
					early := listen()
					<-stops
					select {
					case <-early.done:
					case <-time.After(2 * time.Second):
						t.Fatal("a stream stopped before it was served still runs 2 s later")
					}
					checkRemoved(t, kind, early.err)
				}

				n := other.count()
				waitFor(t, "the other stream goes on", func() bool { return other.count() > n+5 })
				select {
				case <-other.done:
					t.Fatalf("the other stream ended: %v", other.err)
				default:
				}
				waitFor(t, "onEnd of both stopped streams", func() bool { return ends.Load() == 2 })
			})
		}
	}
}

// checkRemoved checks how a stopped stream ended for its client.
func checkRemoved(t *testing.T, kind string, err error) {
	t.Helper()
	if kind == "ws" {
		if websocket.CloseStatus(err) != WSCloseRemoved {
			t.Fatalf("ws ended with %v, want close %d", err, WSCloseRemoved)
		}
		return
	}
	if err == nil || err == io.EOF {
		t.Fatalf("ogg ended with %v, want the connection closed before the end of the body", err)
	}
}
