package edge

import (
	"testing"

	"majlis/internal/cluster"
)

// clusterPair is an origin's connection running the embedded NATS server
// on loopback and an edge's connection to it, both closed at the test's end.
func clusterPair(t testing.TB) (origin, edge *cluster.Conn) {
	t.Helper()
	oc, err := cluster.Connect(cluster.Config{URL: cluster.Embedded, Listen: "127.0.0.1:0", Logger: quiet}, true)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(oc.Close)
	ec, err := cluster.Connect(cluster.Config{URL: oc.ServerURL(), Logger: quiet}, false)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ec.Close)
	return oc, ec
}
