package server

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"

	"majlis/internal/audio"
	"majlis/internal/cluster"
	"majlis/internal/joinclient"
	"majlis/internal/loadgen"
	"majlis/internal/program"
	"majlis/internal/testkit"
)

// natsNode is one nats-server process of a test cluster on loopback.
type natsNode struct {
	t             *testing.T
	bin, name     string
	client, route int
	peers         []int // the other nodes' route ports
	cmd           *exec.Cmd
	done          chan struct{}
}

func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func (n *natsNode) url() string { return "nats://127.0.0.1:" + strconv.Itoa(n.client) }

// start runs the node and waits until it accepts clients.
func (n *natsNode) start() {
	t := n.t
	t.Helper()
	var routes []string
	for _, p := range n.peers {
		routes = append(routes, "nats://127.0.0.1:"+strconv.Itoa(p))
	}
	n.cmd = exec.Command(n.bin, "-a", "127.0.0.1", "-p", strconv.Itoa(n.client), "-n", n.name,
		"--cluster_name", "majlis-test", "--cluster", "nats://127.0.0.1:"+strconv.Itoa(n.route), "--routes", strings.Join(routes, ","))
	n.cmd.Stdout, n.cmd.Stderr = io.Discard, io.Discard
	if err := n.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	n.done = make(chan struct{})
	go func() { n.cmd.Wait(); close(n.done) }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(n.client), time.Second)
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("nats-server %s not accepting in 10 s", n.name)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (n *natsNode) stop() {
	if n.cmd == nil || n.cmd.Process == nil {
		return
	}
	select {
	case <-n.done:
		return
	default:
	}
	n.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-n.done:
	case <-time.After(10 * time.Second):
		n.cmd.Process.Kill()
		<-n.done
	}
}

// startNATSCluster runs a 3-node NATS cluster of Debian's nats-server.
func startNATSCluster(t *testing.T) []*natsNode {
	t.Helper()
	bin, err := exec.LookPath("nats-server")
	if err != nil {
		t.Fatal("nats-server not installed: MAJLIS_DEPS=test scripts/deps installs Debian's nats-server")
	}
	nodes := make([]*natsNode, 3)
	for i := range nodes {
		nodes[i] = &natsNode{t: t, bin: bin, name: fmt.Sprintf("n%d", i), client: freePort(t), route: freePort(t)}
	}
	for i, n := range nodes {
		for j, o := range nodes {
			if i != j {
				n.peers = append(n.peers, o.route)
			}
		}
	}
	for _, n := range nodes {
		n.start()
		t.Cleanup(n.stop)
	}
	return nodes
}

// startClusterOrigin runs an origin in-process on the given cluster.
func startClusterOrigin(t testing.TB, dataDir string, cc cluster.Config) *testServer {
	t.Helper()
	s, err := New(Config{DataDir: dataDir, HTTPAddr: "127.0.0.1:0", AdminAddr: "127.0.0.1:0", WebRTCUDP: "127.0.0.1:0",
		AdminToken: "test-admin-token-0123456789abcdefghijklmnopqrstuvwxyz", Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Cluster: cc})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ts := &testServer{Server: s, base: "http://" + s.HTTPAddr(), cancel: cancel, done: make(chan error, 1)}
	go func() { ts.done <- s.Serve(ctx) }()
	t.Cleanup(ts.stop)
	return ts
}

// failoverWithin is how soon a killed edge's listeners must hear the
// program again on another edge (issue: "resume within 2 s").
const failoverWithin = 2 * time.Second

var edgeServingRE = regexp.MustCompile(`msg="majlis edge serving" http=(\S+)`)

// startEdgeProc runs `majlis serve --role edge` on the cluster as its own
// process, with extra flags.
func startEdgeProc(t *testing.T, bin, dataDir, natsURL string, extra ...string) *proc {
	t.Helper()
	args := []string{"serve", "--role", "edge", "--cluster", natsURL, "--data", dataDir, "--http", "127.0.0.1:0", "--admin", "127.0.0.1:0"}
	return runProc(t, bin, append(args, extra...), nil, edgeServingRE)
}

// segment is what one connection of a listener heard.
type segment struct {
	edge    string      // base URL it was placed on
	pcm     []int16     // decoded program
	arrived []time.Time // when each frame (960 samples) was decoded
}

// fleetListener joins at the origin, listens on the edge the join names
// (listen.ws), and on any loss joins again and reconnects, as the web
// player and loadgen do.
type fleetListener struct {
	mu   sync.Mutex
	segs []*segment
	done chan struct{}
}

func (l *fleetListener) current() *segment {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.segs) == 0 {
		return nil
	}
	return l.segs[len(l.segs)-1]
}

// tail returns the last n samples of the current segment (nil if fewer).
func (l *fleetListener) tail(n int) (string, []int16) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.segs) == 0 {
		return "", nil
	}
	s := l.segs[len(l.segs)-1]
	if len(s.pcm) < n {
		return s.edge, nil
	}
	return s.edge, append([]int16(nil), s.pcm[len(s.pcm)-n:]...)
}

func listenFleet(t *testing.T, ctx context.Context, ts *testServer, room string) *fleetListener {
	l := &fleetListener{done: make(chan struct{})}
	go func() {
		defer close(l.done)
		dec, err := audio.NewDecoder(1)
		if err != nil {
			t.Error(err)
			return
		}
		pcm := make([]int16, 5760)
		for ctx.Err() == nil {
			j, err := joinclient.Join(ctx, ts.base, room, joinclient.Options{Client: testHTTP, MaxAttempts: 3})
			if err != nil {
				time.Sleep(100 * time.Millisecond)
				continue
			}
			u := j.Listen.WS
			if strings.HasPrefix(u, "/") { // no edge: the origin itself
				u = ts.base + u
			}
			base := u[:strings.Index(u, "/api/")]
			c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(u, "http"), &websocket.DialOptions{HTTPClient: testHTTP})
			if err != nil {
				time.Sleep(100 * time.Millisecond) // the edge is gone: join again
				continue
			}
			seg := &segment{edge: base}
			l.mu.Lock()
			l.segs = append(l.segs, seg)
			l.mu.Unlock()
			for {
				typ, msg, err := c.Read(ctx)
				if err != nil {
					c.CloseNow()
					break
				}
				if typ != websocket.MessageBinary {
					continue
				}
				m, err := program.ParseWS(msg)
				if err != nil {
					c.CloseNow()
					break
				}
				now := time.Now()
				for _, f := range m.Frames {
					k, err := dec.Decode(f, pcm)
					if err != nil {
						continue
					}
					l.mu.Lock()
					seg.pcm = append(seg.pcm, pcm[:k]...)
					seg.arrived = append(seg.arrived, now)
					l.mu.Unlock()
				}
			}
		}
	}()
	return l
}

// hearsTone says whether every 100 ms window of pcm is the host's tone.
func hearsTone(pcm []int16) error {
	if len(pcm) == 0 {
		return fmt.Errorf("nothing heard")
	}
	for i, row := range windowLevels(pcm, win, lowHz, highHz) {
		if !within(row[0], toneAmp, 3) || row[1] > toneAmp/10 {
			return fmt.Errorf("window %d: %.0f Hz at %.3f, %.0f Hz at %.3f; want the tone at %.2f", i, lowHz, row[0], highHz, row[1], toneAmp)
		}
	}
	return nil
}

// waitTone waits until every listener's last second is the tone.
func waitTone(t *testing.T, what string, ls []*fleetListener, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		var bad error
		for i, l := range ls {
			edge, pcm := l.tail(48000)
			if err := hearsTone(pcm); err != nil {
				bad = fmt.Errorf("listener %d (edge %s): %w", i, edge, err)
				break
			}
		}
		if bad == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %v", what, bad)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestClusterEndToEnd: a real 3-node NATS cluster (Debian's nats-server,
// separate processes), an origin on node 0 and two edge processes on nodes
// 1 and 2, all on loopback. The host's tone, published over WHIP, is heard
// on both edges (every window of the last second); the room's listener
// count is the sum over the edges; kill -9 of one edge moves its listeners
// (through a new join) to the other, where the tone resumes; a restart of
// the origin's NATS node and of the surviving edge's node is survived
// without an edge restart (no listener reconnects).
func TestClusterEndToEnd(t *testing.T) {
	nodes := startNATSCluster(t)
	bin := buildMajlis(t)
	dir := t.TempDir()
	ts := startClusterOrigin(t, dir, cluster.Config{URL: nodes[0].url()})
	// One edge named (--edge-id, its report subjects'), one random.
	edges := []*proc{startEdgeProc(t, bin, dir, nodes[1].url(), "--edge-id", "edge-1"), startEdgeProc(t, bin, dir, nodes[2].url())}
	deadline := time.Now().Add(15 * time.Second)
	for ts.fleet.Edges() < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("edges reporting: %d, want 2", ts.fleet.Edges())
		}
		time.Sleep(100 * time.Millisecond)
	}

	_, hostTok := ts.createUser(t, "amal")
	room := ts.liveRoom(t, hostTok)
	host := publishTone(t, ts, room, hostTok, &tone{freq: lowHz, amp: toneAmp})
	defer host.stop()

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var ls []*fleetListener
	for range 4 {
		ls = append(ls, listenFleet(t, ctx, ts, room))
	}
	defer func() {
		cancel()
		for _, l := range ls {
			<-l.done
		}
	}()
	waitTone(t, "tone on the edges", ls, 20*time.Second)
	onEdge := map[string]int{}
	for _, l := range ls {
		onEdge[l.current().edge]++
	}
	if onEdge[edges[0].base] == 0 || onEdge[edges[1].base] == 0 {
		t.Fatalf("listeners per edge %v: want both edges (%s, %s) used", onEdge, edges[0].base, edges[1].base)
	}
	if onEdge[ts.base] != 0 {
		t.Fatalf("listeners per edge %v: the origin was given listeners while edges report", onEdge)
	}

	// The counts sum over the edges (the origin itself has none).
	deadline = time.Now().Add(10 * time.Second)
	for {
		c, _ := ts.rooms.Counts(room)
		if c.Listeners == int64(len(ls)) && c.Unique >= int64(len(ls)) && c.Peak >= int64(len(ls)) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("counts %+v, want %d listeners summed over the edges", c, len(ls))
		}
		time.Sleep(100 * time.Millisecond)
	}

	// kill -9 of an edge: its listeners join again, land on the other edge
	// and hear the tone again.
	victim := edges[0]
	var moved []*fleetListener
	for _, l := range ls {
		if l.current().edge == victim.base {
			moved = append(moved, l)
		}
	}
	// loadgen's listeners too (--reconnect): placed on both edges, those of
	// the killed one join again.
	lg := loadgen.Config{Origin: ts.base, Room: room, Listeners: 6, Proto: "mix", Duration: loadgen.Duration(12 * time.Second), Reconnect: true}
	var lgResults []loadgen.Result
	var lgErr error
	lgDone := make(chan struct{})
	go func() { defer close(lgDone); lgResults, lgErr = loadgen.Run(ctx, lg) }()
	time.Sleep(3 * time.Second)
	killed := time.Now()
	if err := victim.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-victim.done
	for i, l := range moved {
		deadline := time.Now().Add(15 * time.Second)
		for {
			s := l.current()
			l.mu.Lock()
			var resumed time.Time
			if s.edge != victim.base {
				// The first frame of the new connection that is the tone.
				for k := 0; k+960 <= len(s.pcm); k += 960 {
					if within(testkit.Goertzel(s.pcm[k:k+960], audio.SampleRate, lowHz), toneAmp, 3) {
						resumed = s.arrived[k/960]
						break
					}
				}
			}
			l.mu.Unlock()
			if !resumed.IsZero() {
				gap := resumed.Sub(killed)
				t.Logf("listener %d moved from %s to %s: tone again %v after the kill", i, victim.base, s.edge, gap.Round(time.Millisecond))
				// The bound: a killed edge's listeners resume
				// on another within 2 s.
				if gap > failoverWithin {
					t.Errorf("listener %d: tone again %v after the kill, want within %v", i, gap.Round(time.Millisecond), failoverWithin)
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("listener %d: no tone on another edge 15 s after the kill", i)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	waitTone(t, "tone after the edge's kill", ls, 10*time.Second)
	<-lgDone
	if lgErr != nil {
		t.Fatal(lgErr)
	}
	reconnects := 0
	for i, r := range lgResults {
		reconnects += r.Reconnects
		if !r.Audio || r.Err != "" {
			t.Errorf("loadgen listener %d (%s, %d reconnects): audio %v, err %q", i, r.Remote, r.Reconnects, r.Audio, r.Err)
		}
	}
	if reconnects == 0 {
		t.Errorf("no loadgen listener reconnected after the kill: %+v", lgResults)
	}
	t.Logf("loadgen: %d listeners, %d reconnects", len(lgResults), reconnects)

	// Restart NATS nodes: the program resumes on the surviving edge, whose
	// listeners stay connected (held with silence meanwhile).
	segsBefore := make([]int, len(ls))
	for i, l := range ls {
		l.mu.Lock()
		segsBefore[i] = len(l.segs)
		l.mu.Unlock()
	}
	// The origin's node, then the surviving edge's.
	for _, n := range []*natsNode{nodes[0], nodes[2]} {
		n.stop()
		time.Sleep(time.Second)
		n.start()
		time.Sleep(3 * time.Second)
		waitTone(t, "tone after the restart of NATS node "+n.name, ls, 20*time.Second)
	}
	for i, l := range ls {
		l.mu.Lock()
		n := len(l.segs)
		l.mu.Unlock()
		if n != segsBefore[i] {
			t.Errorf("listener %d reconnected during the NATS node restart (%d connections, was %d)", i, n, segsBefore[i])
		}
	}
}
