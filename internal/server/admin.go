package server

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/pprof"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"majlis/internal/apierror"
	"majlis/internal/metrics"
)

// errNotReady is /readyz while the server starts or shuts down: a load
// balancer or a script polling it comes back shortly.
var errNotReady = apierror.New(http.StatusServiceUnavailable, "not_ready", "starting or shutting down").Retry(time.Second)

// adminServer is the http.Server of the admin port of every role. Its
// listener is wrapped in apierror.Listener like the public ports', and it
// takes their header limit, so that every error it gives is the API's JSON.
// No ReadTimeout: a pprof profile or trace may take longer than a request.
func adminServer(met *metrics.Metrics, ready *atomic.Bool, log *slog.Logger) *http.Server {
	return &http.Server{Handler: adminHandler(met, ready), ReadHeaderTimeout: readHeaderTimeout, IdleTimeout: idleTimeout,
		MaxHeaderBytes: maxHeaderBytes, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelDebug)}
}

// adminHandler is the admin port of every role: metrics, health,
// readiness (ready while serving, not during start-up or shutdown) and pprof.
// /healthz answers plain "ok" (scripts read it); the rest of its answers
// that are not metrics or pprof are JSON.
func adminHandler(met *metrics.Metrics, ready *atomic.Bool) http.Handler {
	m := http.NewServeMux()
	m.Handle("GET /metrics", promhttp.HandlerFor(met.Registry, promhttp.HandlerOpts{}))
	m.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok\n") })
	m.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if !ready.Load() {
			apierror.Write(w, errNotReady)
			return
		}
		apierror.WriteJSON(w, http.StatusOK, map[string]string{"status": "ready"})
	})
	m.HandleFunc("/debug/pprof/", pprof.Index)
	m.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	m.HandleFunc("/debug/pprof/profile", pprof.Profile)
	m.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	m.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return jsonMuxErrors(m, "the admin port")
}

// jsonMuxErrors serves m, answering the mux's own refusals (no pattern
// matches the path: 404, or none the method: 405 with Allow) with the API's
// error shape instead of the mux's plain text.
func jsonMuxErrors(m *http.ServeMux, what string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h, pattern := m.Handler(r)
		if pattern != "" {
			m.ServeHTTP(w, r)
			return
		}
		// Ask the mux's refusal what it would answer, keeping only the status and Allow.
		probe := &statusProbe{header: http.Header{}}
		h.ServeHTTP(probe, r)
		if probe.status == http.StatusMethodNotAllowed {
			allow := probe.header.Get("Allow")
			w.Header().Set("Allow", allow)
			apierror.Write(w, apierror.New(http.StatusMethodNotAllowed, "method_not_allowed", what+" takes "+allow+" here"))
			return
		}
		apierror.Write(w, apierror.New(http.StatusNotFound, "not_found", "no such endpoint on "+what))
	})
}

// statusProbe is a ResponseWriter that keeps the status and headers and
// drops the body.
type statusProbe struct {
	header http.Header
	status int
}

func (p *statusProbe) Header() http.Header { return p.header }

func (p *statusProbe) WriteHeader(status int) {
	if p.status == 0 {
		p.status = status
	}
}

func (p *statusProbe) Write(b []byte) (int, error) {
	p.WriteHeader(http.StatusOK)
	return len(b), nil
}
