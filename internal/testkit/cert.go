package testkit

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// WriteCert writes a self-signed certificate for 127.0.0.1 with serial
// number serial, valid from an hour ago for a day, and its private key, as
// PEM files (the key readable by the owner only), replacing what was
// there: what an operator's renewal does. It returns the certificate, for
// a client to trust and a test to compare with what the server presents.
func WriteCert(certPath, keyPath string, serial int64) (*x509.Certificate, error) {
	tmpl := leaf("majlis test", serial, x509.ExtKeyUsageServerAuth)
	cert, _, err := writeCert(certPath, keyPath, tmpl, nil, nil)
	return cert, err
}

// PKI is a test CA and a certificate it signed for 127.0.0.1, for a
// server or a client, as PEM files.
type PKI struct {
	CAFile   string // the CA's certificate
	CertFile string // the certificate it signed
	KeyFile  string // that certificate's key
	Pool     *x509.CertPool
}

// WritePKI writes a CA named name and a certificate it signed for
// 127.0.0.1 (server and client use), valid from an hour ago for a day, to
// dir/name-ca.pem, name-cert.pem and name-key.pem; Pool trusts the CA.
func WritePKI(dir, name string) (PKI, error) {
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name + " CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	p := PKI{CAFile: filepath.Join(dir, name+"-ca.pem"), CertFile: filepath.Join(dir, name+"-cert.pem"), KeyFile: filepath.Join(dir, name+"-key.pem")}
	ca, caKey, err := writeCert(p.CAFile, filepath.Join(dir, name+"-ca-key.pem"), caTmpl, nil, nil)
	if err != nil {
		return PKI{}, err
	}
	if _, _, err := writeCert(p.CertFile, p.KeyFile, leaf(name, 2, x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth), ca, caKey); err != nil {
		return PKI{}, err
	}
	p.Pool = x509.NewCertPool()
	p.Pool.AddCert(ca)
	return p, nil
}

// leaf is the template of a certificate for 127.0.0.1, valid from an hour
// ago for a day.
func leaf(name string, serial int64, usage ...x509.ExtKeyUsage) *x509.Certificate {
	return &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: usage, BasicConstraintsValid: true}
}

// writeCert makes a new P-256 key and a certificate of it from tmpl,
// signed by parent's key (self-signed when parent is nil), and writes both
// as PEM files.
func writeCert(certPath, keyPath string, tmpl, parent *x509.Certificate, parentKey *ecdsa.PrivateKey) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	if parent == nil {
		parent, parentKey = tmpl, k
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &k.PublicKey, parentKey)
	if err != nil {
		return nil, nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, err
	}
	kd, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		return nil, nil, err
	}
	if err := os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kd}), 0o600); err != nil {
		return nil, nil, err
	}
	if err := os.WriteFile(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		return nil, nil, err
	}
	return cert, k, nil
}
