package certs

import (
	"crypto/tls"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"majlis/internal/testkit"
)

func writePair(t *testing.T, dir string, serial int64) (certPath, keyPath string) {
	t.Helper()
	certPath, keyPath = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if _, err := testkit.WriteCert(certPath, keyPath, serial); err != nil {
		t.Fatal(err)
	}
	return certPath, keyPath
}

// served is the serial of the certificate the source hands a handshake.
func served(t *testing.T, s *Source) int64 {
	t.Helper()
	c, err := s.TLSConfig().GetCertificate(&tls.ClientHelloInfo{ServerName: "127.0.0.1"})
	if err != nil || c == nil || c.Leaf == nil {
		t.Fatalf("GetCertificate: %v %v", c, err)
	}
	return c.Leaf.SerialNumber.Int64()
}

// TestFilesReload: the pair is loaded at start and again on Reload; a bad
// new pair (a key of another certificate, garbage) is refused and the old
// pair kept; a good one after it is taken.
func TestFilesReload(t *testing.T) {
	dir := t.TempDir()
	certPath, keyPath := writePair(t, dir, 1)
	s, err := New(Config{CertFile: certPath, KeyFile: keyPath})
	if err != nil {
		t.Fatal(err)
	}
	if got := served(t, s); got != 1 {
		t.Fatalf("serial %d, want 1", got)
	}
	// A key that does not match the certificate.
	other := t.TempDir()
	_, otherKey := writePair(t, other, 9)
	key9, _ := os.ReadFile(otherKey)
	if err := os.WriteFile(keyPath, key9, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := s.Reload(); err == nil || !strings.Contains(err.Error(), "kept") {
		t.Fatalf("reload of a mismatched pair: %v, want an error saying the old one is kept", err)
	}
	if got := served(t, s); got != 1 {
		t.Fatalf("after a bad reload: serial %d, want 1 (the old pair)", got)
	}
	if err := os.WriteFile(certPath, []byte("not a certificate"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := s.Reload(); err == nil {
		t.Fatal("reload of garbage succeeded")
	}
	writePair(t, dir, 2)
	if err := s.Reload(); err != nil {
		t.Fatal(err)
	}
	if got := served(t, s); got != 2 {
		t.Fatalf("after a good reload: serial %d, want 2", got)
	}
	if s.Leaf().SerialNumber.Int64() != 2 || !s.Reloads() {
		t.Fatalf("Leaf %v, Reloads %v", s.Leaf().SerialNumber, s.Reloads())
	}
}

// TestNewRefuses: a missing or bad pair, half a pair, or files with ACME
// are errors at start.
func TestNewRefuses(t *testing.T) {
	dir := t.TempDir()
	certPath, keyPath := writePair(t, dir, 1)
	for name, cfg := range map[string]Config{
		"missing cert": {CertFile: filepath.Join(dir, "nope.pem"), KeyFile: keyPath},
		"key as cert":  {CertFile: keyPath, KeyFile: keyPath},
		"no key":       {CertFile: certPath},
		"no cert":      {KeyFile: keyPath},
		"both sources": {CertFile: certPath, KeyFile: keyPath, ACMEDomains: []string{"a.example"}, ACMECacheDir: dir},
		"bad domain":   {ACMEDomains: []string{"a.example:443"}, ACMECacheDir: dir},
		"nothing":      {},
	} {
		if _, err := New(cfg); err == nil {
			t.Errorf("%s: New succeeded", name)
		}
	}
}

// TestACMEWiring: with ACME the TLS config answers TLS-ALPN-01 on the
// same port (acme-tls/1 offered) and refuses a handshake for a name not
// in the list, or with no name, before any CA is asked (the directory
// points nowhere reachable: asking it would fail differently).
func TestACMEWiring(t *testing.T) {
	s, err := New(Config{ACMEDomains: []string{"majlis.example", "live.majlis.example"}, ACMECacheDir: t.TempDir(),
		ACMEDirectory: "http://127.0.0.1:1/directory"})
	if err != nil {
		t.Fatal(err)
	}
	if s.Reloads() || s.Leaf() != nil {
		t.Fatal("ACME source claims to reload files")
	}
	c := s.TLSConfig()
	if !slices.Contains(c.NextProtos, "acme-tls/1") || c.MinVersion != tls.VersionTLS12 {
		t.Fatalf("NextProtos %v, MinVersion %x", c.NextProtos, c.MinVersion)
	}
	for _, name := range []string{"evil.example", "majlis.example.evil.example", ""} {
		hello := &tls.ClientHelloInfo{ServerName: name}
		_, err := c.GetCertificate(hello)
		if err == nil {
			t.Fatalf("GetCertificate(%q) succeeded", name)
		}
		if strings.Contains(err.Error(), "127.0.0.1:1") || strings.Contains(err.Error(), "connection refused") {
			t.Fatalf("GetCertificate(%q) asked the CA: %v", name, err)
		}
		t.Logf("%q: %v", name, err)
	}
	// A listed name passes the policy and goes on to the CA: here a
	// loopback port nobody listens on, so the attempt fails at once.
	_, err = c.GetCertificate(&tls.ClientHelloInfo{ServerName: "live.majlis.example"})
	if err == nil || strings.Contains(err.Error(), "not configured") {
		t.Fatalf("GetCertificate of a listed name: %v, want the CA's error", err)
	}
	t.Logf("listed name: %v", err)
}
