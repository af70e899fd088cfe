package edge

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"

	"majlis/internal/admission"
	"majlis/internal/cluster"
)

// KeysConfig configures Keys.
type KeysConfig struct {
	Cluster *cluster.Conn     // required
	Tickets *admission.Signer // the edge's verifier; its keys are replaced by the origin's
	// Path is the edge's key file, rewritten with each new set so that a
	// restart keeps it; "" or a file that cannot be written: the keys are
	// kept in memory only (logged once).
	Path   string
	Logger *slog.Logger
}

// Keys keeps an edge's ticket keys those of its origin: each key set the
// origin broadcasts (cluster.KeyBroadcast) that opens under a key the edge
// holds is installed in its signer, so a ticket the origin signs with a
// new key is accepted here without a restart.
type Keys struct {
	cfg  KeysConfig
	feed *cluster.KeysFeed

	updates atomic.Uint64 // sets installed
	refused atomic.Uint64 // sets that did not open, or older than the one held

	// Touched only by the subscription's callback (one message at a time).
	unopened   bool // the last message did not open: logged once per run of them
	fileFailed bool // the key file could not be written: logged once
}

// FollowKeys subscribes to the origin's key sets; Close ends it.
func FollowKeys(cfg KeysConfig) (*Keys, error) {
	if cfg.Cluster == nil || cfg.Tickets == nil {
		return nil, errors.New("edge keys: a cluster and a signer are required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	k := &Keys{cfg: cfg}
	feed, err := cfg.Cluster.FollowKeys(k.take)
	if err != nil {
		return nil, fmt.Errorf("edge keys: %w", err)
	}
	k.feed = feed
	return k, nil
}

// take installs the key set of m when it opens under a key held here and
// differs from the set held.
func (k *Keys) take(m cluster.KeysMsg) {
	have := k.cfg.Tickets.Keys()
	keys, err := m.Open(have)
	if err != nil {
		k.refused.Add(1)
		if !k.unopened {
			k.unopened = true
			// An edge that missed two rotations holds none of the keys: it
			// needs the origin's key file (docs/operations.md).
			k.cfg.Logger.Warn("edge: a ticket key set from the cluster does not open with this edge's keys", "err", err)
		}
		return
	}
	k.unopened = false
	if sameKeys(keys, have) {
		return
	}
	// Keys only move forward: a current key that is a previous one here
	// is an older set replayed on the cluster (it opens: it was sealed
	// under a key still held); taking it would refuse the new tickets.
	for _, old := range have[1:] {
		if bytes.Equal(keys[0], old) {
			k.refused.Add(1)
			return
		}
	}
	if err := k.cfg.Tickets.SetKeys(keys); err != nil {
		k.refused.Add(1)
		return
	}
	k.cfg.Logger.Info("edge: ticket keys updated from the origin", "kid", fmt.Sprintf("%02x", admission.KeyID(keys[0])), "keys", len(keys))
	k.persist(keys)
	k.updates.Add(1) // after the file: an update counted is one a restart keeps (when the file can be written)
}

// persist writes keys to the edge's key file, when it has one.
func (k *Keys) persist(keys [][]byte) {
	if k.cfg.Path == "" {
		return
	}
	// A key file the origin shares (one data dir) already has the set: it
	// is left as it is, its time being when the rotation happened.
	if b, err := os.ReadFile(k.cfg.Path); err == nil && bytes.Equal(b, bytes.Join(keys, nil)) {
		return
	}
	if err := admission.WriteKeys(k.cfg.Path, keys); err != nil {
		if !k.fileFailed {
			k.fileFailed = true
			k.cfg.Logger.Warn("edge: the new ticket keys are in memory only: the key file cannot be written, a restart reads the old one",
				"path", k.cfg.Path, "err", err)
		}
		return
	}
	k.fileFailed = false
}

func sameKeys(a, b [][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !bytes.Equal(a[i], b[i]) {
			return false
		}
	}
	return true
}

// Updates is the number of key sets installed; Refused of those that did
// not open or were older than the set held.
func (k *Keys) Updates() uint64 { return k.updates.Load() }

// Refused: see Updates.
func (k *Keys) Refused() uint64 { return k.refused.Load() }

// Register adds majlis_edge_ticket_key_updates_total and
// majlis_edge_ticket_keys_refused_total to reg.
func (k *Keys) Register(reg *prometheus.Registry) error {
	for _, col := range []prometheus.Collector{
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "majlis_edge_ticket_key_updates_total",
			Help: "Ticket key sets from the origin installed on this edge (rotations)."}, func() float64 { return float64(k.Updates()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "majlis_edge_ticket_keys_refused_total",
			Help: "Ticket key sets from the cluster refused: sealed under no key this edge holds, altered, or older than the set held."},
			func() float64 { return float64(k.Refused()) }),
	} {
		if err := reg.Register(col); err != nil {
			return err
		}
	}
	return nil
}

// Close ends the subscription.
func (k *Keys) Close() { k.feed.Close() }
