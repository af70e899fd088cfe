package cluster

import (
	"crypto/tls"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"

	"majlis/internal/testkit"
)

// TestNkeyAndTLS: against a NATS server that takes only an nkey user over
// TLS with client certificates, a process with the nkey seed file, the CA
// and a client certificate connects and its messages go round; a wrong
// nkey is refused at once as the configuration error it is; without a
// client certificate, or trusting another CA, it never connects.
func TestNkeyAndTLS(t *testing.T) {
	dir := t.TempDir()
	pki, err := testkit.WritePKI(dir, "nats")
	if err != nil {
		t.Fatal(err)
	}
	other, err := testkit.WritePKI(dir, "other")
	if err != nil {
		t.Fatal(err)
	}
	caFile, certFile, keyFile, pool, otherCAFile := pki.CAFile, pki.CertFile, pki.KeyFile, pki.Pool, other.CAFile

	user, err := nkeys.CreateUser()
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := user.PublicKey()
	seed, _ := user.Seed()
	seedFile := filepath.Join(dir, "user.nk")
	if err := os.WriteFile(seedFile, seed, 0o600); err != nil {
		t.Fatal(err)
	}
	stranger, _ := nkeys.CreateUser()
	strangerSeed, _ := stranger.Seed()
	strangerFile := filepath.Join(dir, "stranger.nk")
	if err := os.WriteFile(strangerFile, strangerSeed, 0o600); err != nil {
		t.Fatal(err)
	}

	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	_, url := startNATS(t, &server.Options{
		Nkeys: []*server.NkeyUser{{Nkey: pub}},
		TLS:   true, TLSVerify: true, TLSTimeout: 2,
		TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}, ClientCAs: pool, ClientAuth: tls.RequireAndVerifyClientCert, MinVersion: tls.VersionTLS12}})

	good := Config{URL: url, NKeyFile: seedFile, TLSCA: caFile, TLSCert: certFile, TLSKey: keyFile, Logger: quiet}
	if err := good.Validate(); err != nil {
		t.Fatal(err)
	}
	a, err := Connect(good, false)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := Connect(good, false)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if !a.Connected() || !b.Connected() {
		t.Fatal("the nkey user over TLS is not connected")
	}
	got := make(chan []byte, 1)
	sub, err := b.nc.Subscribe("majlis.test", func(m *nats.Msg) { got <- m.Data })
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	b.nc.Flush()
	if err := a.nc.Publish("majlis.test", []byte("over tls")); err != nil {
		t.Fatal(err)
	}
	select {
	case m := <-got:
		if string(m) != "over tls" {
			t.Fatalf("got %q", m)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a message did not go round over TLS")
	}

	// A wrong nkey: refused at once.
	wrong := good
	wrong.NKeyFile = strangerFile
	if c, err := Connect(wrong, false); err == nil {
		c.Close()
		t.Fatal("a stranger's nkey connected")
	}
	// No client certificate, or another CA: the handshake fails; the
	// process keeps trying (a cluster may come up later) but never connects.
	noCert := good
	noCert.TLSCert, noCert.TLSKey = "", ""
	otherTrust := good
	otherTrust.TLSCA = otherCAFile
	for name, cfg := range map[string]Config{"no client certificate": noCert, "another CA": otherTrust} {
		c, err := Connect(cfg, false)
		if err != nil {
			continue // refused outright is as good
		}
		time.Sleep(time.Second)
		if c.Connected() {
			c.Close()
			t.Fatalf("%s: connected", name)
		}
		c.Close()
	}
}
