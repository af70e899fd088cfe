package certs

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/acme/autocert"
)

// Config says where the certificates come from: files, ACME, or neither
// (TLS off).
type Config struct {
	CertFile, KeyFile string // PEM certificate chain and its private key
	// ACMEDomains are the names certificates are obtained for (the host
	// policy: no other name gets one).
	ACMEDomains []string
	// ACMECacheDir keeps the ACME account key and the certificates (the
	// server puts it under the data dir).
	ACMECacheDir string
	// ACMEDirectory is the CA's directory URL; empty: Let's Encrypt's.
	ACMEDirectory string
}

// Enabled reports whether TLS is terminated here.
func (c Config) Enabled() bool { return c.CertFile != "" || c.KeyFile != "" || len(c.ACMEDomains) > 0 }

// Validate checks that one source is chosen, whole.
func (c Config) Validate() error {
	files := c.CertFile != "" || c.KeyFile != ""
	switch {
	case files && len(c.ACMEDomains) > 0:
		return errors.New("tls-cert/tls-key and acme-domain exclude each other: certificates come from files or from ACME")
	case files && (c.CertFile == "" || c.KeyFile == ""):
		return errors.New("tls-cert and tls-key go together")
	}
	for _, d := range c.ACMEDomains {
		if d == "" || strings.ContainsAny(d, ":/ *") {
			return fmt.Errorf("acme-domain %q: want a host name", d)
		}
	}
	return nil
}

// Source hands out the current certificate.
type Source struct {
	cfg  Config
	pair atomic.Pointer[tls.Certificate] // files: the pair in use
	acme *autocert.Manager               // ACME: nil otherwise
}

// New loads the pair (files) or sets up the ACME manager; it contacts no CA.
func New(cfg Config) (*Source, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if !cfg.Enabled() {
		return nil, errors.New("certs: no certificate source configured")
	}
	s := &Source{cfg: cfg}
	if len(cfg.ACMEDomains) > 0 {
		if cfg.ACMECacheDir == "" {
			return nil, errors.New("certs: ACME needs a cache directory")
		}
		s.acme = &autocert.Manager{
			Prompt:     autocert.AcceptTOS,
			Cache:      autocert.DirCache(cfg.ACMECacheDir),
			HostPolicy: autocert.HostWhitelist(cfg.ACMEDomains...),
		}
		if cfg.ACMEDirectory != "" {
			s.acme.Client = newACMEClient(cfg.ACMEDirectory)
		}
		return s, nil
	}
	pair, err := load(cfg.CertFile, cfg.KeyFile)
	if err != nil {
		return nil, err
	}
	s.pair.Store(pair)
	return s, nil
}

// load reads and checks a key pair: it must parse, match, and be valid now.
func load(certFile, keyFile string) (*tls.Certificate, error) {
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("tls-cert %s, tls-key %s: %w", certFile, keyFile, err)
	}
	if pair.Leaf == nil { // LoadX509KeyPair fills it since Go 1.23; be sure
		if pair.Leaf, err = x509.ParseCertificate(pair.Certificate[0]); err != nil {
			return nil, fmt.Errorf("tls-cert %s: %w", certFile, err)
		}
	}
	if now := time.Now(); now.After(pair.Leaf.NotAfter) {
		return nil, fmt.Errorf("tls-cert %s: expired on %s", certFile, pair.Leaf.NotAfter.UTC().Format(time.RFC3339))
	}
	return &pair, nil
}

// Reloads reports whether Reload reads anything (files; ACME renews by itself).
func (s *Source) Reloads() bool { return s.acme == nil }

// Reload reads the pair from the files again. A pair that does not load
// is refused: the old one stays in use and the error says why.
func (s *Source) Reload() error {
	if s.acme != nil {
		return nil
	}
	pair, err := load(s.cfg.CertFile, s.cfg.KeyFile)
	if err != nil {
		return fmt.Errorf("%w (the certificate in use is kept)", err)
	}
	s.pair.Store(pair)
	return nil
}

// Leaf is the certificate in use (files), nil with ACME.
func (s *Source) Leaf() *x509.Certificate {
	if p := s.pair.Load(); p != nil {
		return p.Leaf
	}
	return nil
}

// TLSConfig is the public ports' TLS configuration. http.Server adds the
// HTTP/2 and HTTP/1.1 ALPN protocols to it; with ACME it also answers
// TLS-ALPN-01 challenges (acme-tls/1).
func (s *Source) TLSConfig() *tls.Config {
	if s.acme != nil {
		c := s.acme.TLSConfig()
		c.MinVersion = tls.VersionTLS12
		return c
	}
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			return s.pair.Load(), nil
		},
	}
}
