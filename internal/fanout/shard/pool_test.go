package shard

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"majlis/internal/program"
)

// TestPoolSharesWriters: the listeners of many small programs are served
// by the engine's pool shards alone (Shards of them, no goroutine per
// program); each listener gets exactly its own program's frames, in order,
// a program's end ends only its own listeners, and every station goes with
// its last listener.
func TestPoolSharesWriters(t *testing.T) {
	const programs, perProgram = 30, 3
	var chunks atomic.Int64
	kind := testOggKind(&chunks)
	e := New(Config{Shards: 2, ShardListeners: 8, RingMinListeners: 16}, testPolicy{}, kind)
	progs := make([]*program.Program, programs)
	for i := range progs {
		progs[i] = program.New(program.Config{})
	}
	var taken, ended atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		i, err := strconv.Atoi(r.URL.Query().Get("p"))
		if err != nil || i < 0 || i >= programs {
			http.NotFound(w, r)
			return
		}
		p := progs[i]
		head := append([]byte(testOggHead), p.OggHeadersHTTP()...)
		if err := e.Take(w, r, Handover{Program: p, Kind: kind, Head: head, Pos: p.Head(), Ended: func(error) { ended.Add(1) }}); err != nil {
			http.Error(w, err.Error(), http.StatusHTTPVersionNotSupported)
		}
		taken.Add(1)
	}))
	t.Cleanup(func() {
		for _, p := range progs {
			p.Close()
		}
		e.Close()
		srv.Close()
	})
	cs := make([][]*oggClient, programs)
	for i := range programs {
		for range perProgram {
			cs[i] = append(cs[i], listen(t, fmt.Sprintf("%s/?p=%d", srv.URL, i)))
		}
	}
	waitFor(t, "listeners taken", func() bool { return taken.Load() == programs*perProgram })
	e.smu.Lock()
	pool, stations := len(e.pool), len(e.stations)
	for p, st := range e.stations {
		if len(st.shards) != 1 || st.shards[0].own != nil {
			t.Errorf("program %p: %d shards, want its pool shard alone", p, len(st.shards))
		}
	}
	e.smu.Unlock()
	if pool != 2 || stations != programs {
		t.Fatalf("%d pool shards and %d stations, want 2 and %d", pool, stations, programs)
	}

	// Frames of program i are numbered from i*1000, so a listener given
	// another program's chunk shows it.
	frames := make([]uint64, programs)
	publish := func(i int) {
		for range progs[i].Config().ChunkFrames {
			progs[i].WriteFrame(packet(uint64(i)*1000 + frames[i]))
			frames[i]++
		}
	}
	for range 10 {
		for i := range programs {
			publish(i)
		}
		time.Sleep(2 * time.Millisecond)
	}
	for i := 0; i < programs; i += 2 {
		progs[i].Close()
	}
	for range 5 {
		for i := 1; i < programs; i += 2 {
			publish(i)
		}
		time.Sleep(2 * time.Millisecond)
	}
	check := func(i int) {
		for j, c := range cs[i] {
			name := fmt.Sprintf("program %d listener %d", i, j)
			if err := c.wait(t); err != io.EOF {
				t.Fatalf("%s ended with %v, want a clean end", name, err)
			}
			c.checkConsecutive(t, name, uint64(i)*1000, uint64(i)*1000+frames[i])
		}
	}
	for i := 0; i < programs; i += 2 {
		check(i)
	}
	for i := 1; i < programs; i += 2 {
		select {
		case err := <-cs[i][0].done:
			t.Fatalf("program %d, still live, lost its listener: %v", i, err)
		default:
		}
		progs[i].Close()
	}
	for i := 1; i < programs; i += 2 {
		check(i)
	}
	waitFor(t, "every Ended", func() bool { return ended.Load() == programs*perProgram })
	waitFor(t, "every station dropped", func() bool {
		e.smu.Lock()
		defer e.smu.Unlock()
		return len(e.stations) == 0
	})
	if want := int64(programs/2*perProgram*10 + programs/2*perProgram*15); chunks.Load() != want {
		t.Fatalf("Kind.Sent saw %d chunks, want %d", chunks.Load(), want)
	}
}
