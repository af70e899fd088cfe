package edge

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"majlis/internal/admission"
	"majlis/internal/cluster"
)

// TestEdgeID: an edge given an id reports under it, on its own subjects
// (majlis.edges.load.<id>, what NATS permissions can pin its credentials
// to), and the fleet counts it; New refuses an id that is not one subject
// token of [a-z0-9_-], at most 64.
func TestEdgeID(t *testing.T) {
	oc, err := cluster.Connect(cluster.Config{URL: cluster.Embedded, Listen: "127.0.0.1:0", Logger: quiet}, true)
	if err != nil {
		t.Fatal(err)
	}
	defer oc.Close()
	ec, err := cluster.Connect(cluster.Config{URL: oc.ServerURL(), Logger: quiet}, false)
	if err != nil {
		t.Fatal(err)
	}
	defer ec.Close()
	fleet, err := cluster.NewFleet(oc, 1, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer fleet.Close()
	watch, err := nats.Connect(oc.ServerURL(), nats.Timeout(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer watch.Close()
	sub, err := watch.SubscribeSync("majlis.edges.load.edge-a")
	if err != nil {
		t.Fatal(err)
	}
	if err := watch.Flush(); err != nil {
		t.Fatal(err)
	}
	oc.Flush(time.Second)

	signer, _ := admission.NewSigner(bytes.Repeat([]byte{1}, 32), time.Minute)
	e, err := New(Config{Cluster: ec, PublicURL: "http://127.0.0.1:9", ID: "edge-a", Tickets: signer, Logger: quiet, ReportEvery: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	if e.ID() != "edge-a" {
		t.Fatalf("ID %q, want edge-a", e.ID())
	}
	m, err := sub.NextMsg(5 * time.Second)
	if err != nil {
		t.Fatalf("no report on majlis.edges.load.edge-a: %v", err)
	}
	if r, err := cluster.ParseLoad(m.Data); err != nil || r.Edge != "edge-a" || r.BaseURL != "http://127.0.0.1:9" {
		t.Fatalf("report %+v %v, want edge-a's", r, err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for fleet.Edges() != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("the fleet counts %d edges, want edge-a", fleet.Edges())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if s := ec.Stats(); s.Bad != 0 || oc.Stats().Bad != 0 {
		t.Fatalf("bad messages: edge %d, origin %d", s.Bad, oc.Stats().Bad)
	}

	for _, id := range []string{"edge.a", "edge-*", "Edge-A", "edge a", strings.Repeat("e", 65)} {
		if e, err := New(Config{Cluster: ec, PublicURL: "http://127.0.0.1:9", ID: id, Tickets: signer, Logger: quiet}); err == nil {
			e.Close()
			t.Errorf("an edge with id %q was made", id)
		}
	}
}
