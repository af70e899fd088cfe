package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"path/filepath"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"majlis/internal/admission"
	"majlis/internal/edge"
	"majlis/internal/fanout"
	"majlis/internal/metrics"
	"majlis/internal/program"
)

// EdgeConfig configures an edge process (majlis serve --role edge).
type EdgeConfig struct {
	Origin         string // origin base URL
	DataDir        string // where ticket.key is read from (when TicketKeyFile is empty)
	TicketKeyFile  string // the origin's ticket key; read only, never created
	HTTPAddr       string // listeners
	AdminAddr      string // metrics, health, pprof
	ChunkFrames    int
	ChunkMaxFrames int
	Channels       int
	Logger         *slog.Logger
}

// EdgeServer is one running edge process.
type EdgeServer struct {
	cfg     EdgeConfig
	log     *slog.Logger
	met     *metrics.Metrics
	fan     *fanout.Hub
	edge    *edge.Edge
	httpLn  net.Listener
	adminLn net.Listener
}

// NewEdge loads the ticket key, builds the relay and binds the ports.
func NewEdge(cfg EdgeConfig) (*EdgeServer, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	path := cfg.TicketKeyFile
	if path == "" {
		path = filepath.Join(cfg.DataDir, "ticket.key")
	}
	key, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("edge ticket key (the origin's, via --data or --ticket-key-file): %w", err)
	}
	signer, err := admission.NewSigner(key, time.Minute)
	if err != nil {
		return nil, err
	}
	s := &EdgeServer{cfg: cfg, log: cfg.Logger, met: metrics.New(nil)}
	s.fan = fanout.NewHub(fanout.Config{Metrics: s.met, Logger: s.log})
	s.edge, err = edge.New(edge.Config{Origin: cfg.Origin, Tickets: signer, Hub: s.fan, Logger: s.log, ChunkMaxFrames: cfg.ChunkMaxFrames,
		Program: program.Config{ChunkFrames: cfg.ChunkFrames, Channels: cfg.Channels}})
	if err != nil {
		return nil, err
	}
	if s.httpLn, err = net.Listen("tcp", cfg.HTTPAddr); err != nil {
		return nil, fmt.Errorf("http listen: %w", err)
	}
	if s.adminLn, err = net.Listen("tcp", cfg.AdminAddr); err != nil {
		s.httpLn.Close()
		return nil, fmt.Errorf("admin listen: %w", err)
	}
	return s, nil
}

// HTTPAddr is the bound listener address.
func (s *EdgeServer) HTTPAddr() string { return s.httpLn.Addr().String() }

// AdminAddr is the bound admin address.
func (s *EdgeServer) AdminAddr() string { return s.adminLn.Addr().String() }

// Serve serves until ctx is done, then ends every relay and listener.
func (s *EdgeServer) Serve(ctx context.Context) error {
	pub := &http.Server{Handler: s.edge.Handler(), ReadHeaderTimeout: readHeaderTimeout, ReadTimeout: readTimeout,
		IdleTimeout: idleTimeout, MaxHeaderBytes: maxHeaderBytes, ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelDebug)}
	am := http.NewServeMux()
	am.Handle("GET /metrics", promhttp.HandlerFor(s.met.Registry, promhttp.HandlerOpts{}))
	am.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok\n") })
	am.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ready\n") })
	am.HandleFunc("/debug/pprof/", pprof.Index)
	am.HandleFunc("/debug/pprof/profile", pprof.Profile)
	am.HandleFunc("/debug/pprof/trace", pprof.Trace)
	adm := &http.Server{Handler: am, ReadHeaderTimeout: readHeaderTimeout, IdleTimeout: idleTimeout}
	errc := make(chan error, 2)
	go func() { errc <- pub.Serve(s.httpLn) }()
	go func() { errc <- adm.Serve(s.adminLn) }()
	s.log.Info("majlis edge serving", "http", s.HTTPAddr(), "admin", s.AdminAddr(), "origin", s.cfg.Origin)
	var err error
	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	shutCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s.edge.Close()
	s.fan.Close()
	pub.Shutdown(shutCtx)
	adm.Shutdown(shutCtx)
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}
