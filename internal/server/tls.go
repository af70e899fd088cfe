package server

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"majlis/internal/apierror"
	"majlis/internal/certs"
)

// TLS on the public ports (the audience port and the stage port; the admin
// port stays plain HTTP: it listens on loopback by default, for the local
// scraper and health checks, and a remote one belongs behind a VPN or a
// proxy of its own). With certificates configured both public ports serve
// HTTPS, HTTP/2 and HTTP/1.1 by ALPN; SIGHUP reloads certificate files.
// Serve handles SIGHUP whatever the TLS settings (watchReload).

// newCertSource builds the certificate source of tc, or nil when TLS is
// off. ACME keeps its account and certificates in <data>/acme unless told.
func newCertSource(tc certs.Config, dataDir string) (*certs.Source, error) {
	if !tc.Enabled() {
		return nil, nil
	}
	if len(tc.ACMEDomains) > 0 && tc.ACMECacheDir == "" {
		tc.ACMECacheDir = filepath.Join(dataDir, "acme")
	}
	src, err := certs.New(tc)
	if err != nil {
		return nil, fmt.Errorf("tls: %w", err)
	}
	return src, nil
}

// tlsOf is the public ports' TLS configuration, nil without TLS.
func tlsOf(src *certs.Source) *tls.Config {
	if src == nil {
		return nil
	}
	return src.TLSConfig()
}

// servePort serves srv on ln, over TLS with tc when it is set. Over TLS
// net/http's own error answers stay its plain text ones: the JSON rewriting
// (apierror.Listener) sees the connection below TLS.
func servePort(srv *http.Server, ln net.Listener, tc *tls.Config) error {
	if tc == nil {
		return srv.Serve(apierror.Listener(ln))
	}
	srv.TLSConfig = tc
	return srv.ServeTLS(ln, "", "")
}

// watchReload handles SIGHUP until stop is called (which waits for the
// watcher): it reloads src's certificate files; a pair that does not load
// is logged and the old one kept. Without certificate files there is
// nothing to reload, and a SIGHUP is only logged: it never stops the
// process (Go's default for it), so `systemctl reload` is always safe.
func watchReload(src *certs.Source, log *slog.Logger) (stop func()) {
	hup := make(chan os.Signal, 1) // full: a reload is due already
	signal.Notify(hup, syscall.SIGHUP)
	quit, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-quit:
				return
			case <-hup:
			}
			if src == nil || !src.Reloads() {
				log.Info("SIGHUP: nothing to reload (no certificate files)")
				continue
			}
			if err := src.Reload(); err != nil {
				log.Error("tls certificate reload refused", "err", err)
				continue
			}
			leaf := src.Leaf()
			log.Info("tls certificate reloaded", "serial", leaf.SerialNumber.String(), "not_after", leaf.NotAfter.UTC().Format(time.RFC3339))
		}
	}()
	return func() {
		signal.Stop(hup)
		close(quit)
		<-done
	}
}

// registerCertExpiry exports when the certificate in use expires (files;
// ACME renews its own).
func registerCertExpiry(reg *prometheus.Registry, src *certs.Source) {
	if src == nil || !src.Reloads() {
		return
	}
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "majlis_tls_cert_expiry_timestamp_seconds",
		Help: "When the public ports' certificate in use expires (Unix time); a reload (SIGHUP) that took moves it."},
		func() float64 { return float64(src.Leaf().NotAfter.Unix()) }))
}
