package server

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"majlis/internal/cluster"
)

// startClusterEdge runs an edge in-process on the origin's embedded NATS server.
func startClusterEdge(t testing.TB, dataDir, natsURL string) *EdgeServer {
	t.Helper()
	e, err := NewEdge(EdgeConfig{Cluster: cluster.Config{URL: natsURL}, DataDir: dataDir, HTTPAddr: "127.0.0.1:0", AdminAddr: "127.0.0.1:0",
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Serve(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return e
}

// TestClusterEmbedded: an origin with --cluster embedded and two edges in
// process. Joins are placed on the edges (absolute listen URLs), whose
// listeners hear the host's tone with no gaps; the room's counts sum the
// edges' listeners; ending the room at the origin ends the edges' streams
// cleanly.
func TestClusterEmbedded(t *testing.T) {
	dir := t.TempDir()
	ts := startClusterOrigin(t, dir, cluster.Config{URL: cluster.Embedded, Listen: "127.0.0.1:0"})
	natsURL := ts.cluster.ServerURL()
	e1, e2 := startClusterEdge(t, dir, natsURL), startClusterEdge(t, dir, natsURL)
	deadline := time.Now().Add(10 * time.Second)
	for ts.fleet.Edges() < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("edges reporting: %d, want 2", ts.fleet.Edges())
		}
		time.Sleep(50 * time.Millisecond)
	}
	resp, err := testHTTP.Get("http://" + ts.AdminAddr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	m, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{"majlis_cluster_edges 2", "majlis_cluster_connected 1", "majlis_cluster_bad_messages_total 0"} {
		if !strings.Contains(string(m), want+"\n") {
			t.Errorf("origin /metrics lacks %q", want)
		}
	}
	// The edges' load reports have reached the origin: its NATS client counted them.
	if in := regexp.MustCompile(`(?m)^majlis_cluster_messages_in_total (\d+)`).FindStringSubmatch(string(m)); in == nil || in[1] == "0" {
		t.Errorf("origin /metrics: messages in %v, want the edges' reports counted", in)
	}
	_, hostTok := ts.createUser(t, "amal")
	room := ts.liveRoom(t, hostTok)
	host := publishTone(t, ts, room, hostTok, &tone{freq: lowHz, amp: toneAmp})
	defer host.stop()

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var ls []*listener
	placed := map[string]int{}
	for range 4 {
		u := ts.join(t, room).Listen.WS
		if !strings.HasPrefix(u, "http://") {
			t.Fatalf("listen URL %q: want an absolute URL on an edge", u)
		}
		placed[u[:strings.Index(u, "/api/")]]++
		ls = append(ls, listenWS(t, ctx, "ws"+strings.TrimPrefix(u, "http")))
	}
	if placed["http://"+e1.HTTPAddr()] == 0 || placed["http://"+e2.HTTPAddr()] == 0 {
		t.Fatalf("placement %v: want both edges", placed)
	}
	deadline = time.Now().Add(10 * time.Second)
	for {
		c, _ := ts.rooms.Counts(room)
		if c.Listeners == 4 && c.Peak >= 4 && c.Unique == 4 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("counts %+v, want 4 listeners, peak 4, unique 4 from the edges", c)
		}
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(2 * time.Second)
	if code := ts.call(t, "POST", "/api/v1/rooms/"+room+"/end", hostTok, nil, nil); code != http.StatusOK {
		t.Fatalf("end room: %d", code)
	}
	for i, l := range ls {
		select {
		case <-l.done:
		case <-time.After(10 * time.Second):
			t.Fatalf("listener %d still connected 10 s after the room ended", i)
		}
		if l.endErr != nil {
			t.Errorf("listener %d: stream did not end cleanly: %v", i, l.endErr)
		}
		pcm := l.snapshot()
		if len(pcm) < 48000 {
			t.Fatalf("listener %d heard %d samples, want at least 1 s", i, len(pcm))
		}
		if err := hearsTone(pcm[len(pcm)-48000:]); err != nil {
			t.Errorf("listener %d, the last second: %v", i, err)
		}
		if l.gaps != 0 {
			t.Errorf("listener %d: %d gaps", i, l.gaps)
		}
	}
	if c, _ := ts.rooms.Counts(room); c.Peak < 4 || c.Unique != 4 {
		t.Errorf("counts after the end %+v: want peak 4, unique 4 kept", c)
	}
}

// TestClusterOriginRestart: the origin restarts (graceful stop, a new
// process on the same data dir) while an edge's listener is connected.
// The listener stays connected throughout and hears silence while the
// origin is away (the edge holds the room), then the host's tone again
// once the new origin runs the room and the host publishes anew; its
// stream has no gap in frame numbers.
func TestClusterOriginRestart(t *testing.T) {
	// The cluster outlives the origin: a NATS server of its own.
	nc, err := cluster.Connect(cluster.Config{URL: cluster.Embedded, Listen: "127.0.0.1:0", Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}, true)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	natsURL := nc.ServerURL()
	dir := t.TempDir()
	ts := startClusterOrigin(t, dir, cluster.Config{URL: natsURL})
	startClusterEdge(t, dir, natsURL)
	deadline := time.Now().Add(10 * time.Second)
	for ts.fleet.Edges() < 1 {
		if time.Now().After(deadline) {
			t.Fatal("no edge reporting in 10 s")
		}
		time.Sleep(50 * time.Millisecond)
	}
	_, hostTok := ts.createUser(t, "amal")
	room := ts.liveRoom(t, hostTok)
	host := publishTone(t, ts, room, hostTok, &tone{freq: lowHz, amp: toneAmp})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	j := ts.join(t, room)
	u := j.Listen.WS
	l := listenWS(t, ctx, "ws"+strings.TrimPrefix(u, "http"))
	// The page of that listener reads the room's events on the edge too.
	evs := subscribeWSAt(t, ctx, strings.TrimSuffix(j.Events, "/api/v1/rooms/"+room+"/events"), room, "")
	evs.wait(t, "the snapshot on the edge", 5*time.Second, func(e []roomEvent) bool { return len(e) > 0 && e[0].Type == "snapshot" })
	waitHeard := func(what string, check func([]int16) error) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for {
			pcm := l.snapshot()
			var err error
			if len(pcm) < 48000 {
				err = io.ErrShortBuffer
			} else {
				err = check(pcm[len(pcm)-48000:])
			}
			if err == nil {
				return
			}
			select {
			case <-l.done:
				t.Fatalf("%s: the listener's stream ended: %v", what, l.endErr)
			default:
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: %v", what, err)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	waitHeard("tone before the restart", hearsTone)

	var lastBefore uint64
	for _, e := range evs.all() {
		lastBefore = max(lastBefore, e.Seq)
	}
	host.stop()
	ts.stop()
	silent := func(pcm []int16) error {
		for i, row := range windowLevels(pcm, win, lowHz) {
			if row[1] > 0.01 {
				return fmt.Errorf("window %d: RMS %.3f, want silence", i, row[1])
			}
		}
		return nil
	}
	waitHeard("silence while the origin is away", silent)

	ts2 := startClusterOrigin(t, dir, cluster.Config{URL: natsURL})
	host2 := publishTone(t, ts2, room, hostTok, &tone{freq: lowHz, amp: toneAmp})
	defer host2.stop()
	waitHeard("tone from the new origin", hearsTone)
	// The edge's events reader stayed connected through the restart and
	// got the new origin's room: a snapshot numbered after everything
	// before (the new process numbers its events from later on).
	select {
	case <-evs.done:
		t.Fatalf("the edge's events reader was closed (%d) by the origin's restart", evs.closed)
	default:
	}
	evs.wait(t, "the new origin's snapshot on the edge", 20*time.Second, func(e []roomEvent) bool {
		for _, ev := range e {
			if ev.Type == "snapshot" && ev.Seq > lastBefore && bytes.Contains(ev.Data, []byte(`"state":"live"`)) {
				return true
			}
		}
		return false
	})
	// The counts came back from the store, and the edge's listener is not
	// counted twice (its sketch started again with the new origin's epoch).
	deadline = time.Now().Add(10 * time.Second)
	for {
		c, _ := ts2.rooms.Counts(room)
		if c.Listeners == 1 && c.Peak == 1 && c.Unique == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("counts after the restart %+v, want 1 listener, peak 1, unique 1", c)
		}
		time.Sleep(100 * time.Millisecond)
	}
	l.mu.Lock()
	gaps := l.gaps
	l.mu.Unlock()
	if gaps != 0 {
		t.Errorf("%d gaps in the listener's frame numbers", gaps)
	}
}

// TestClusterEdgeStop: an edge that stops (SIGTERM) ends its WebSocket
// listeners with 1001 "going away", not 1000 "room ended": players join
// again (and move to another edge) instead of showing the room's end.
func TestClusterEdgeStop(t *testing.T) {
	dir := t.TempDir()
	ts := startClusterOrigin(t, dir, cluster.Config{URL: cluster.Embedded, Listen: "127.0.0.1:0"})
	e, err := NewEdge(EdgeConfig{Cluster: cluster.Config{URL: ts.cluster.ServerURL()}, DataDir: dir, HTTPAddr: "127.0.0.1:0", AdminAddr: "127.0.0.1:0",
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ectx, stopEdge := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Serve(ectx) }()
	defer func() { stopEdge(); <-done }()
	deadline := time.Now().Add(10 * time.Second)
	for ts.fleet.Edges() < 1 {
		if time.Now().After(deadline) {
			t.Fatal("no edge reporting in 10 s")
		}
		time.Sleep(50 * time.Millisecond)
	}
	_, hostTok := ts.createUser(t, "amal")
	room := ts.liveRoom(t, hostTok)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	l := listenWS(t, ctx, "ws"+strings.TrimPrefix(ts.join(t, room).Listen.WS, "http"))
	time.Sleep(500 * time.Millisecond)
	stopEdge()
	select {
	case <-l.done:
	case <-time.After(10 * time.Second):
		t.Fatal("listener still connected 10 s after the edge stopped")
	}
	if got := websocket.CloseStatus(l.endErr); got != websocket.StatusGoingAway {
		t.Fatalf("close status %d (%v), want 1001 going away", got, l.endErr)
	}
}

// TestEdgeKeyRotation: an edge whose key file holds a new key and the old
// one (a rotation in progress) still accepts tickets the origin signed
// with the old key.
func TestEdgeKeyRotation(t *testing.T) {
	dir := t.TempDir()
	ts := startClusterOrigin(t, dir, cluster.Config{URL: cluster.Embedded, Listen: "127.0.0.1:0"})
	old, err := os.ReadFile(filepath.Join(dir, "ticket.key"))
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(t.TempDir(), "ticket.key")
	if err := os.WriteFile(keyFile, append(bytes.Repeat([]byte{7}, 32), old[:32]...), 0o600); err != nil {
		t.Fatal(err)
	}
	e, err := NewEdge(EdgeConfig{Cluster: cluster.Config{URL: ts.cluster.ServerURL()}, TicketKeyFile: keyFile, HTTPAddr: "127.0.0.1:0", AdminAddr: "127.0.0.1:0",
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Serve(ctx) }()
	defer func() { cancel(); <-done }()
	deadline := time.Now().Add(10 * time.Second)
	for ts.fleet.Edges() < 1 {
		if time.Now().After(deadline) {
			t.Fatal("no edge reporting in 10 s")
		}
		time.Sleep(50 * time.Millisecond)
	}
	_, hostTok := ts.createUser(t, "amal")
	room := ts.liveRoom(t, hostTok)
	lctx, lcancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer lcancel()
	u := ts.join(t, room).Listen.Ogg
	if !strings.HasPrefix(u, "http://"+e.HTTPAddr()) {
		t.Fatalf("listen URL %q: want the edge", u)
	}
	l := listenOgg(t, lctx, u) // fails the test unless 200 audio/ogg
	lcancel()
	<-l.done
}
