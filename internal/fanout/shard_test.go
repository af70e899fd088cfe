package fanout

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

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
		for _, wp := range writePaths {
			t.Run(tc.name+"/"+wp.name, func(t *testing.T) {
				h := NewHub(wp.cfg(Config{}))
				p := program.New(program.Config{})
				var ends, returned atomic.Int32
				srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					h.ServeOggDetached(w, r, p, func() { ends.Add(1) }, nil)
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
}

// TestManyListeners: a crowd of Ogg and WebSocket listeners on one shard
// gets every chunk, in order, and a clean end, through either write path;
// the io_uring path really carried the sends.
func TestManyListeners(t *testing.T) {
	const nOgg, nWS, frames = 120, 40, 60
	for _, wp := range writePaths {
		t.Run(wp.name, func(t *testing.T) {
			needRing(t, wp.name)
			hh := newHarness(t, wp.cfg(Config{Shards: 1}), program.Config{}, 0)
			ctx := t.Context()
			var cs []*collector
			for range nOgg {
				cs = append(cs, oggClient(t, ctx, hh.srv.URL+"/listen.ogg"))
			}
			for range nWS {
				cs = append(cs, wsClient(t, ctx, hh.srv.URL+"/listen.ws", 1))
			}
			waitFor(t, "all listeners", func() bool { return hh.hub.Listeners() == nOgg+nWS })
			for i := range frames {
				hh.prog.WriteFrame(packet(uint64(i), 120))
				if i%2 == 1 {
					time.Sleep(5 * time.Millisecond)
				}
			}
			hh.prog.Close()
			for i, c := range cs {
				c.wait(t)
				c.checkConsecutive(t, fmt.Sprintf("listener %d", i), 0, frames)
				if i < nOgg && c.err != io.EOF {
					t.Fatalf("ogg listener %d ended with %v", i, c.err)
				}
			}
			sends := hh.hub.engine.RingSends()
			if wp.name == "uring" && sends < (nOgg+nWS)*frames/2 {
				t.Fatalf("io_uring carried %d sends, want every chunk (%d)", sends, (nOgg+nWS)*frames/2)
			}
			if wp.name == "write" && sends != 0 {
				t.Fatalf("write path used io_uring for %d sends", sends)
			}
		})
	}
}
