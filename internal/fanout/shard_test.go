package fanout

import (
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"majlis/internal/program"
)

// TestDetachedOgg: ServeOggDetached returns while the listener keeps
// streaming from its shard, and onEnd runs exactly once when the listener
// ends, whether the program ends (clean end of the body) or the hub closes.
func TestDetachedOgg(t *testing.T) {
	for _, tc := range []struct {
		name     string
		end      func(h *Hub, p *program.Program)
		cleanEnd bool
	}{
		{"program ends", func(h *Hub, p *program.Program) { p.Close() }, true},
		{"hub closes", func(h *Hub, p *program.Program) { h.Close() }, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := NewHub(Config{})
			p := program.New(program.Config{})
			var ends, returned atomic.Int32
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				h.ServeOggDetached(w, r, p, func() { ends.Add(1) })
				returned.Add(1)
			}))
			defer srv.Close()
			defer h.Close()
			c := oggClient(t, t.Context(), srv.URL)
			waitFor(t, "1 listener", func() bool { return h.Listeners() == 1 })
			waitFor(t, "handler returned", func() bool { return returned.Load() == 1 })
			for i := range 20 {
				p.WriteFrame(packet(uint64(i), 50))
			}
			waitFor(t, "10 chunks", func() bool { return c.count() == 20 })
			if ends.Load() != 0 {
				t.Fatalf("onEnd ran while streaming")
			}
			tc.end(h, p)
			c.wait(t)
			if tc.cleanEnd && c.err != io.EOF {
				t.Fatalf("stream ended with %v, want a clean end", c.err)
			}
			waitFor(t, "onEnd", func() bool { return ends.Load() == 1 })
			waitFor(t, "no listeners", func() bool { return h.Listeners() == 0 })
			c.checkConsecutive(t, tc.name, 0, 20)
		})
	}
}
