package cluster

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"
)

// jwtAccount is an operator's account, signed by it, that signs users.
type jwtAccount struct {
	pub, jwt string
	key      nkeys.KeyPair
}

func newOperator(t *testing.T) (nkeys.KeyPair, *jwt.OperatorClaims) {
	t.Helper()
	op, err := nkeys.CreateOperator()
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := op.PublicKey()
	oc := jwt.NewOperatorClaims(pub)
	oc.Name = "majlis test"
	enc, err := oc.Encode(op)
	if err != nil {
		t.Fatal(err)
	}
	claims, err := jwt.DecodeOperatorClaims(enc)
	if err != nil {
		t.Fatal(err)
	}
	return op, claims
}

func newAccount(t *testing.T, op nkeys.KeyPair) jwtAccount {
	t.Helper()
	kp, err := nkeys.CreateAccount()
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := kp.PublicKey()
	ac := jwt.NewAccountClaims(pub)
	ac.Name = "majlis"
	enc, err := ac.Encode(op)
	if err != nil {
		t.Fatal(err)
	}
	return jwtAccount{pub: pub, jwt: enc, key: kp}
}

// writeCreds writes a credentials file (JWT and nkey seed) of a new user
// of acc to dir/name.creds.
func writeCreds(t *testing.T, dir, name string, acc jwtAccount) string {
	t.Helper()
	u, err := nkeys.CreateUser()
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := u.PublicKey()
	uc := jwt.NewUserClaims(pub)
	uc.Name = name
	enc, err := uc.Encode(acc.key)
	if err != nil {
		t.Fatal(err)
	}
	seed, _ := u.Seed()
	b, err := jwt.FormatUserConfig(enc, seed)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, name+".creds")
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestCredsFile: against a NATS server in operator mode (JWT accounts, the
// account's JWT in a memory resolver), a process with a user's credentials
// file (--cluster-creds) connects and its messages go round; a user of an
// account the server does not know, or of another operator, is refused at
// once as the configuration error it is, and so is a credentials file that
// is missing or not one.
func TestCredsFile(t *testing.T) {
	dir := t.TempDir()
	op, opClaims := newOperator(t)
	acc := newAccount(t, op)
	// The resolver knows the account before the server starts, as a
	// deployment's resolver would.
	resolver := &server.MemAccResolver{}
	if err := resolver.Store(acc.pub, acc.jwt); err != nil {
		t.Fatal(err)
	}
	_, url := startNATS(t, &server.Options{TrustedOperators: []*jwt.OperatorClaims{opClaims}, AccountResolver: resolver})

	good := Config{URL: url, CredsFile: writeCreds(t, dir, "edge", acc), Logger: quiet}
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
		t.Fatal("the creds file's user is not connected")
	}
	got := make(chan []byte, 1)
	sub, err := b.nc.Subscribe("majlis.test", func(m *nats.Msg) { got <- m.Data })
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	b.Flush(time.Second)
	if err := a.nc.Publish("majlis.test", []byte("with a creds file")); err != nil {
		t.Fatal(err)
	}
	select {
	case m := <-got:
		if string(m) != "with a creds file" {
			t.Fatalf("got %q", m)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a message did not go round with the creds file")
	}

	// Refused at once: Connect returns the error (it does not go on
	// retrying in the background, as it does for a server not up yet).
	otherOp, _ := newOperator(t)
	garbage := filepath.Join(dir, "garbage.creds")
	if err := os.WriteFile(garbage, []byte("not a creds file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name, file string
		server     bool // refused by the server (else read before any connection)
	}{
		{"an account the server does not know", writeCreds(t, dir, "stranger", newAccount(t, op)), true},
		{"another operator", writeCreds(t, dir, "foreign", newAccount(t, otherOp)), true},
		{"a missing file", filepath.Join(dir, "missing.creds"), false},
		{"not a creds file", garbage, false},
	} {
		cfg := good
		cfg.CredsFile = tt.file
		done := make(chan error, 1)
		go func() {
			c, err := Connect(cfg, false)
			if err == nil {
				c.Close()
			}
			done <- err
		}()
		select {
		case err := <-done:
			switch {
			case err == nil:
				t.Errorf("%s: connected", tt.name)
			case tt.server && !isAuthError(err):
				t.Errorf("%s: %v, want the server's authorization violation", tt.name, err)
			case !tt.server && !strings.HasPrefix(err.Error(), "cluster creds: "):
				t.Errorf("%s: %v, want the file refused before connecting", tt.name, err)
			}
		case <-time.After(2 * connectTimeout):
			t.Fatalf("%s: Connect did not return in %s", tt.name, 2*connectTimeout)
		}
	}
}
