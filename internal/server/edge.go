package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"majlis/internal/admission"
	"majlis/internal/apierror"
	"majlis/internal/certs"
	"majlis/internal/cluster"
	"majlis/internal/edge"
	"majlis/internal/fanout"
	"majlis/internal/httpapi"
	"majlis/internal/metrics"
	"majlis/internal/program"
)

// EdgeConfig configures an edge process (majlis serve --role edge).
type EdgeConfig struct {
	// Cluster feeds the rooms and takes this edge's load reports; required.
	Cluster cluster.Config
	// PublicURL is the base URL listeners reach this edge at (announced for
	// placement); default http://<the bound HTTPAddr>.
	PublicURL      string
	ID             string // names it in its load reports and their subjects (majlis.edges.load.<id>); empty: random
	DataDir        string // where ticket.key is read from (when TicketKeyFile is empty)
	TicketKeyFile  string // the origin's ticket key; never created, rewritten (when it can be) at a rotation
	HTTPAddr       string // listeners
	AdminAddr      string // metrics, health, pprof
	ChunkFrames    int
	ChunkMaxFrames int
	Channels       int
	Logger         *slog.Logger
	// Admission configures the audience plane's defences, as on an origin
	// (connection caps, accept pacing, overload shedding); the join settings
	// do not apply: an edge's listeners join at the origin.
	Admission AdmissionConfig
	// TLS, when enabled, terminates TLS on the listeners' port, as on an
	// origin (certificate files reloaded on SIGHUP, or ACME).
	TLS certs.Config
	// TicketTTL is the origin's ticket lifetime (--ticket-ttl, the same on
	// every process): a listener removed from a room is refused here for
	// that long. Default DefaultTicketTTL.
	TicketTTL time.Duration
}

// EdgeServer is one running edge process. Its public port is the origin's
// audience plane with the edge as the program source: the same listen path,
// the same guard, caps, leases and readiness.
type EdgeServer struct {
	cfg     EdgeConfig
	log     *slog.Logger
	met     *metrics.Metrics
	fan     *fanout.Hub
	edge    *edge.Edge
	keys    *edge.Keys // the origin's ticket keys, followed
	cluster *cluster.Conn
	planes  *planes
	adminLn net.Listener
	certs   *certs.Source // nil: plain HTTP
	ready   atomic.Bool
}

// errEdgeOnly answers every path an edge does not serve.
var errEdgeOnly = apierror.New(http.StatusNotFound, "not_found", "an edge serves only listen.ogg and listen.ws")

// NewEdge loads the ticket key, joins the cluster and binds the ports.
func NewEdge(cfg EdgeConfig) (*EdgeServer, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	if !cfg.Cluster.Enabled() {
		return nil, errors.New("edge: a cluster is required (--cluster)")
	}
	path := cfg.TicketKeyFile
	if path == "" {
		path = filepath.Join(cfg.DataDir, "ticket.key")
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("edge ticket key (the origin's, via --data or --ticket-key-file): %w", err)
	}
	// 32-byte keys, the current one first; the others still verify (a
	// rotation in progress: docs/operations.md).
	var keys [][]byte
	for ; len(b) >= 32; b = b[32:] {
		keys = append(keys, b[:32:32])
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("edge ticket key %s: too short", path)
	}
	key := keys[0]
	if cfg.TicketTTL <= 0 {
		cfg.TicketTTL = DefaultTicketTTL
	}
	signer, err := admission.NewSignerKeys(keys, cfg.TicketTTL)
	if err != nil {
		return nil, err
	}
	s := &EdgeServer{cfg: cfg, log: cfg.Logger, met: metrics.New(nil)}
	if s.certs, err = newCertSource(cfg.TLS, cfg.DataDir); err != nil {
		return nil, err
	}
	registerCertExpiry(s.met.Registry, s.certs)
	ln, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		return nil, fmt.Errorf("http listen: %w", err)
	}
	// fail closes what was started so far, in reverse.
	fail := func(err error) (*EdgeServer, error) {
		if s.edge != nil {
			s.edge.Close()
		}
		if s.fan != nil {
			s.fan.Close()
		}
		if s.keys != nil {
			s.keys.Close()
		}
		if s.cluster != nil {
			s.cluster.Close()
		}
		ln.Close()
		return nil, err
	}
	if cfg.PublicURL == "" {
		scheme := "http://"
		if s.certs != nil {
			scheme = "https://"
		}
		cfg.PublicURL = scheme + ln.Addr().String()
		s.cfg.PublicURL = cfg.PublicURL
	}
	cc := cfg.Cluster
	cc.Logger, cc.Name = s.log, "majlis edge "+cfg.PublicURL
	if s.cluster, err = cluster.Connect(cc, false); err != nil {
		return fail(err)
	}
	if err := s.cluster.Register(s.met.Registry); err != nil {
		return fail(err)
	}
	// A rotation at the origin reaches this signer over the cluster (and
	// the key file, when it can be written): no restart.
	if s.keys, err = edge.FollowKeys(edge.KeysConfig{Cluster: s.cluster, Tickets: signer, Path: path, Logger: s.log}); err != nil {
		return fail(err)
	}
	if err := s.keys.Register(s.met.Registry); err != nil {
		return fail(err)
	}
	// The origin's joins send browsers here from the origin's pages: a
	// listen.ws request then comes from another origin. The stream is
	// authorized by its ticket, never by a cookie, so the origin check
	// (against cross-site use of a browser's credentials) protects nothing
	// here and is off.
	s.fan = fanout.NewHub(fanout.Config{Metrics: s.met, Logger: s.log, InsecureSkipVerify: true})
	if s.edge, err = edge.New(edge.Config{Cluster: s.cluster, PublicURL: cfg.PublicURL, ID: cfg.ID, Tickets: signer, Logger: s.log, ChunkMaxFrames: cfg.ChunkMaxFrames,
		Program: program.Config{ChunkFrames: cfg.ChunkFrames, Channels: cfg.Channels}}); err != nil {
		return fail(err)
	}
	if err := s.edge.RegisterEvents(s.met.Registry); err != nil {
		return fail(err)
	}
	mux := http.NewServeMux()
	httpapi.NewListen(httpapi.ListenConfig{Tickets: signer, Fanout: s.fan, Programs: s.edge, Metrics: s.met, Joined: s.edge.Joined,
		Connected: s.edge.Connected, Removed: s.edge.Removed, Events: s.events}).Route(mux)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { apierror.Write(w, errEdgeOnly) })
	proxies, err := httpapi.ParseProxies(cfg.Admission.TrustedProxies)
	if err != nil {
		return fail(err)
	}
	s.planes = newAudiencePlane(audienceDeps{ln: ln, ac: cfg.Admission, met: s.met, tickets: signer, key: key, next: mux, proxies: proxies})
	if s.adminLn, err = net.Listen("tcp", cfg.AdminAddr); err != nil {
		return fail(fmt.Errorf("admin listen: %w", err))
	}
	return s, nil
}

// events serves a room's events from the edge's mirror of the origin's stream.
func (s *EdgeServer) events(ctx context.Context, room string, since uint64) (httpapi.EventSubscription, func(), error) {
	sub, err := s.edge.Subscribe(ctx, room, since)
	if err != nil {
		return nil, nil, err
	}
	return sub, sub.Close, nil
}

// HTTPAddr is the bound listener address.
func (s *EdgeServer) HTTPAddr() string { return s.planes.audLn.Addr().String() }

// AdminAddr is the bound admin address.
func (s *EdgeServer) AdminAddr() string { return s.adminLn.Addr().String() }

// Serve serves until ctx is done, then ends every listener and room feed.
func (s *EdgeServer) Serve(ctx context.Context) error {
	pub := publicServer(s.planes.handler, s.log)
	adm := adminServer(s.met, &s.ready, s.log)
	errc := make(chan error, 2)
	go func() { errc <- servePort(pub, s.planes.audLn, tlsOf(s.certs)) }()
	stopReload := watchReload(s.certs, s.log)
	defer stopReload()
	go func() { errc <- adm.Serve(apierror.Listener(s.adminLn)) }()
	s.planes.serve(errc)
	s.ready.Store(true)
	s.log.Info("majlis edge serving", "http", s.HTTPAddr(), "admin", s.AdminAddr(), "public_url", s.cfg.PublicURL, "edge_id", s.edge.ID())
	var err error
	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	s.ready.Store(false)
	shutCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// The listeners first, with "going away" (1001): a player reconnects
	// through a new join (to another edge). Ending the feeds first would
	// close the programs, which listeners hear as the room's end.
	s.fan.Close()
	s.edge.Close()
	s.keys.Close()
	s.cluster.Close()
	pub.Shutdown(shutCtx)
	s.planes.shutdown(shutCtx, s.log)
	adm.Shutdown(shutCtx)
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}
