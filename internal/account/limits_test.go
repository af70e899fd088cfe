package account

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"majlis/internal/admission"
	"majlis/internal/ratelimit"
)

// hashCounter is a pool hook that counts hashes and the most at once, and
// can hold every hash until released.
type hashCounter struct {
	total, running, peak atomic.Int64
	gate                 chan struct{} // nil: hashes pass at once
}

func (h *hashCounter) hook() {
	n := h.running.Add(1)
	for {
		p := h.peak.Load()
		if n <= p || h.peak.CompareAndSwap(p, n) {
			break
		}
	}
	h.total.Add(1)
	if h.gate != nil {
		<-h.gate
	}
	h.running.Add(-1)
}

// waitFor polls cond (a state another goroutine reaches) for up to 10 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestHashPoolBound: however many logins arrive at once, no more than
// HashSlots hashes run together, and every admitted login is answered.
// Each brings a solved puzzle, as an attacker paying for its attempts
// would once logins queue (strangers then prove work: TestLoginPoWUnderLoad).
func TestHashPoolBound(t *testing.T) {
	const slots, logins = 2, 12
	f := newFixture(t, func(c *Config) { c.HashSlots, c.HashQueue, c.HashWait = slots, logins, time.Minute })
	f.user(t, "zed")
	h := &hashCounter{gate: make(chan struct{})}
	f.svc.pool.hook = h.hook
	var wg sync.WaitGroup
	errs := make(chan error, logins)
	for i := range logins {
		pow := admission.Solve(f.svc.pow.Challenge(f.svc.powBits))
		wg.Go(func() {
			_, _, err := f.svc.Login(context.Background(), Attempt{Name: "zed", Password: "wrong horse", Addr: netip.AddrFrom4([4]byte{10, byte(i), 0, 1}), PoW: pow})
			errs <- err
		})
	}
	waitFor(t, "the slots to fill", func() bool { return h.running.Load() == slots })
	waitFor(t, "every login to queue", func() bool { return len(f.svc.pool.queue) == logins })
	if n := h.running.Load(); n != slots {
		t.Fatalf("%d hashes running with %d slots", n, slots)
	}
	close(h.gate)
	wg.Wait()
	close(errs)
	for err := range errs {
		if !errors.Is(err, ErrBadCredentials) && !errors.Is(err, ErrPoWRequired) {
			t.Errorf("login: %v", err)
		}
	}
	if p := h.peak.Load(); p != slots {
		t.Errorf("peak %d hashes at once, want %d", p, slots)
	}
	if h.total.Load() == 0 {
		t.Error("no hashes")
	}
}

// TestHashQueueDeadline: with the slot taken, one more login waits and is
// answered ErrBusy at the deadline; one beyond the queue is busy at once.
// Sign-up and user creation share the pool.
//
// The wait is long enough to be seen: the queue is full only while the
// second request waits, and a poller on a loaded machine may miss a 50 ms
// window, after which it never fills again.
func TestHashQueueDeadline(t *testing.T) {
	const wait = 2 * time.Second
	f := newFixture(t, func(c *Config) { c.HashSlots, c.HashQueue, c.HashWait = 1, 1, wait })
	f.user(t, "zed")
	h := &hashCounter{gate: make(chan struct{})}
	f.svc.pool.hook = h.hook
	ctx := context.Background()
	first := make(chan error, 1)
	go func() {
		_, _, err := f.svc.Login(ctx, Attempt{Name: "zed", Password: "correct horse"})
		first <- err
	}()
	waitFor(t, "the first hash", func() bool { return h.running.Load() == 1 })
	second := make(chan error, 1)
	sent := time.Now()
	go func() {
		_, _, err := f.svc.Signup(ctx, Attempt{Name: "amal", Password: "correct horse"})
		second <- err
	}()
	waitFor(t, "the second to queue", func() bool { return len(f.svc.pool.queue) == 2 })
	if _, _, err := f.svc.CreateUser(ctx, admin, "bob", "", "correct horse"); !errors.Is(err, ErrBusy) {
		t.Errorf("beyond the queue: %v, want ErrBusy", err)
	}
	if err := <-second; !errors.Is(err, ErrBusy) {
		t.Errorf("past the deadline: %v, want ErrBusy", err)
	} else if d := time.Since(sent); d < wait { // its timer started after sent
		t.Errorf("busy after %v, before the %v wait", d, wait)
	}
	close(h.gate)
	if err := <-first; err != nil {
		t.Errorf("the login holding the slot: %v", err)
	}
	if n := h.total.Load(); n != 1 {
		t.Errorf("%d hashes, want 1", n)
	}
	if _, _, err := f.svc.Signup(ctx, Attempt{Name: "amal", Password: "correct horse"}); err != nil {
		t.Errorf("sign-up once the pool is free: %v", err)
	}
}

// TestLoginAddrLimits: attempts per address and per /24 (/48) are refused
// before any hash, with when to retry; sign-up spends the same budget.
func TestLoginAddrLimits(t *testing.T) {
	f := newFixture(t, func(c *Config) {
		c.LoginsPerIP = ratelimit.Rate{PerSecond: 1.0 / 60, Burst: 3}
		c.LoginsPerPrefix = ratelimit.Rate{PerSecond: 1.0 / 60, Burst: 5}
	})
	f.user(t, "zed")
	h := &hashCounter{}
	f.svc.pool.hook = h.hook
	ctx := context.Background()
	a1, a2, far := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2"), netip.MustParseAddr("198.51.100.1")
	try := func(addr netip.Addr, name string) error {
		_, _, err := f.svc.Login(ctx, Attempt{Name: name, Password: "wrong horse", Addr: addr})
		return err
	}
	for i := range 3 { // distinct names: the per-account budget stays out of it
		if err := try(a1, "n"+string(rune('a'+i))); !errors.Is(err, ErrBadCredentials) {
			t.Fatalf("attempt %d from a1: %v", i, err)
		}
	}
	hashes := h.total.Load()
	err := try(a1, "zed")
	var le *LimitError
	if !errors.As(err, &le) || !errors.Is(err, ErrLoginLimited) || le.Retry <= 0 {
		t.Fatalf("fourth attempt from a1: %v, want a LimitError with a retry", err)
	}
	if _, _, err := f.svc.Login(ctx, Attempt{Name: "zed", Password: "correct horse", Addr: a1}); !errors.Is(err, ErrLoginLimited) {
		t.Errorf("right password from a limited address: %v", err)
	}
	// The neighbour spends the rest of the /24's budget, sign-up included.
	if err := try(a2, "nd"); !errors.Is(err, ErrBadCredentials) {
		t.Errorf("a2 first: %v", err)
	}
	if _, _, err := f.svc.Signup(ctx, Attempt{Name: "newbie", Password: "correct horse", Addr: a2}); err != nil {
		t.Errorf("a2 sign-up: %v", err)
	}
	if err := try(a2, "ne"); !errors.Is(err, ErrLoginLimited) {
		t.Errorf("a2 past the /24's budget: %v", err)
	}
	if _, _, err := f.svc.Signup(ctx, Attempt{Name: "newbie2", Password: "correct horse", Addr: a2}); !errors.Is(err, ErrLoginLimited) {
		t.Errorf("a2 sign-up past the /24's budget: %v", err)
	}
	if got := h.total.Load(); got != hashes+2 {
		t.Errorf("%d hashes after the refusals, want %d: refused attempts hashed", got, hashes+2)
	}
	if err := try(far, "zed"); !errors.Is(err, ErrBadCredentials) {
		t.Errorf("another network: %v", err)
	}
	// IPv6: one /48.
	for i := range 5 {
		a := netip.MustParseAddr("2001:db8:1:" + string(rune('a'+i)) + "::1")
		if err := try(a, "v6"+string(rune('a'+i))); !errors.Is(err, ErrBadCredentials) {
			t.Fatalf("v6 attempt %d: %v", i, err)
		}
	}
	if err := try(netip.MustParseAddr("2001:db8:1:ff::1"), "v6z"); !errors.Is(err, ErrLoginLimited) {
		t.Errorf("past the /48's budget: %v", err)
	}
	// A minute refills one attempt.
	f.clock.Add(time.Minute)
	if err := try(a1, "zed"); !errors.Is(err, ErrBadCredentials) {
		t.Errorf("after a refill: %v", err)
	}
}

// TestLoginOwnerNotLockedOut: failures for an account from anywhere, under
// any casing of its name, never refuse its owner at an address they logged
// in from; elsewhere they cost a proof of work, not a refusal.
func TestLoginOwnerNotLockedOut(t *testing.T) {
	f := newFixture(t, func(c *Config) {
		c.LoginsPerIP, c.LoginsPerPrefix = ratelimit.Rate{PerSecond: 1e6, Burst: 1e6}, ratelimit.Rate{PerSecond: 1e6, Burst: 1e6}
	})
	f.user(t, "zed")
	ctx := context.Background()
	home, travel := netip.MustParseAddr("203.0.113.7"), netip.MustParseAddr("198.51.100.9")
	if _, _, err := f.svc.Login(ctx, Attempt{Name: "zed", Password: "correct horse", Addr: home}); err != nil {
		t.Fatal(err)
	}
	h := &hashCounter{}
	f.svc.pool.hook = h.hook
	// An attacker spends the account's budget many times over, from many networks.
	for i := range 4 * LoginBurst {
		at := Attempt{Name: []string{"zed", "ZED", "Zed"}[i%3], Password: "guess guess", Addr: netip.AddrFrom4([4]byte{100, 64, byte(i), 1})}
		_, _, err := f.svc.Login(ctx, at)
		var pe *PoWError
		if errors.As(err, &pe) {
			at.PoW = admission.Solve(pe.Challenge)
			_, _, err = f.svc.Login(ctx, at)
		}
		if !errors.Is(err, ErrBadCredentials) {
			t.Fatalf("attack %d: %v", i, err)
		}
	}
	hashes := h.total.Load()
	// Past the budget a stranger gets a puzzle, before any hash.
	_, _, err := f.svc.Login(ctx, Attempt{Name: "zEd", Password: "guess guess", Addr: netip.MustParseAddr("100.65.0.1")})
	var pe *PoWError
	if !errors.As(err, &pe) || !errors.Is(err, ErrPoWRequired) || pe.Challenge == "" || pe.Difficulty != 4 {
		t.Fatalf("stranger past the budget: %v, want a PoWError", err)
	}
	if h.total.Load() != hashes {
		t.Error("a login refused for its puzzle was hashed")
	}
	// The owner at home: straight in, without a puzzle.
	u, sess, err := f.svc.Login(ctx, Attempt{Name: "zed", Password: "correct horse", Addr: home})
	if err != nil || sess == "" || u.Name != "zed" {
		t.Fatalf("owner at a known address: %+v %v", u, err)
	}
	// The owner travelling: a puzzle, then in; the solution is single-use.
	_, _, err = f.svc.Login(ctx, Attempt{Name: "zed", Password: "correct horse", Addr: travel})
	if !errors.As(err, &pe) {
		t.Fatalf("owner at a new address: %v, want a PoWError", err)
	}
	sol := admission.Solve(pe.Challenge)
	if _, _, err := f.svc.Login(ctx, Attempt{Name: "zed", Password: "correct horse", Addr: travel, PoW: sol}); err != nil {
		t.Fatalf("owner with the solved puzzle: %v", err)
	}
	// Now travel is known too.
	if _, _, err := f.svc.Login(ctx, Attempt{Name: "zed", Password: "correct horse", Addr: travel}); err != nil {
		t.Errorf("owner at the address they just logged in from: %v", err)
	}
	if _, _, err := f.svc.Login(ctx, Attempt{Name: "zed", Password: "guess guess", Addr: netip.MustParseAddr("100.66.0.1"), PoW: sol}); !errors.Is(err, ErrPoWRequired) {
		t.Errorf("a reused solution: %v, want ErrPoWRequired", err)
	}
}

// TestKnownAddrsBounded: the owners' table keeps MaxKnownAddrs networks per
// account and at most its bound of accounts.
func TestKnownAddrsBounded(t *testing.T) {
	k := newKnownAddrs(3)
	for i := range 10 {
		k.add("zed", netip.AddrFrom4([4]byte{192, 0, 2, byte(i)}))
	}
	if n := len(k.m["zed"]); n != MaxKnownAddrs {
		t.Errorf("zed known at %d networks, want %d", n, MaxKnownAddrs)
	}
	if !k.has("zed", netip.AddrFrom4([4]byte{192, 0, 2, 9})) || k.has("zed", netip.AddrFrom4([4]byte{192, 0, 2, 0})) {
		t.Error("the newest networks should be kept, the oldest dropped")
	}
	if !k.has("zed", netip.MustParseAddr("::ffff:192.0.2.9")) {
		t.Error("a v4-mapped address is its v4 address")
	}
	k.add("amal", netip.MustParseAddr("2001:db8::1"))
	if !k.has("amal", netip.MustParseAddr("2001:db8::9999")) || k.has("amal", netip.MustParseAddr("2001:db8:0:1::1")) {
		t.Error("IPv6 owners are known by their /64")
	}
	for _, name := range []string{"a", "b", "c", "d", "e"} {
		k.add(name, netip.MustParseAddr("192.0.2.1"))
		if k.len() > 3 {
			t.Fatalf("table holds %d accounts, bound 3", k.len())
		}
	}
	k.add("x", netip.Addr{})
	if k.has("x", netip.Addr{}) {
		t.Error("the zero address is known")
	}
}

// TestNames: names are one by their key (NFKC, case-folded), self sign-up
// cannot take reserved names, and a login names the account in any case.
func TestNames(t *testing.T) {
	for _, c := range []struct{ a, b string }{{"alice", "ALICE"}, {"Zed.O_k-9", "zed.o_k-9"}, {"ﬀ", "FF"}, {"Ａdmin", "admin"}} {
		if NameKey(c.a) != NameKey(c.b) {
			t.Errorf("NameKey(%q) = %q, NameKey(%q) = %q", c.a, NameKey(c.a), c.b, NameKey(c.b))
		}
	}
	ctx := context.Background()
	f := newFixture(t, nil)
	alice, _ := f.user(t, "alice")
	for _, name := range []string{"ALICE", "Alice"} {
		if _, _, err := f.svc.CreateUser(ctx, admin, name, "", ""); !errors.Is(err, ErrNameTaken) {
			t.Errorf("CreateUser(%q) beside alice: %v", name, err)
		}
		if _, _, err := f.svc.Signup(ctx, Attempt{Name: name, Password: "correct horse"}); !errors.Is(err, ErrNameTaken) {
			t.Errorf("Signup(%q) beside alice: %v", name, err)
		}
	}
	if u, _, err := f.svc.Login(ctx, Attempt{Name: "ALICE", Password: "correct horse"}); err != nil || u.ID != alice.ID {
		t.Errorf("login as ALICE: %+v %v", u, err)
	}
	for _, name := range []string{"admin", "ADMIN", "Root", "moderator", "system", "majlis", "support", "help", "me", "Me"} {
		if _, _, err := f.svc.Signup(ctx, Attempt{Name: name, Password: "correct horse"}); !errors.Is(err, ErrNameReserved) {
			t.Errorf("Signup(%q): %v, want ErrNameReserved", name, err)
		}
	}
	if _, _, err := f.svc.Signup(ctx, Attempt{Name: "admins-fan", Password: "correct horse"}); err != nil {
		t.Errorf("a name merely containing a reserved one: %v", err)
	}
	if _, _, err := f.svc.CreateUser(ctx, admin, "support", "", ""); err != nil {
		t.Errorf("an admin creating a reserved name: %v", err)
	}
}

// TestTokenRevokedHook: deleting a token tells OnTokenRevoked whose it was;
// a failed delete does not.
func TestTokenRevokedHook(t *testing.T) {
	var revoked []string
	f := newFixture(t, func(c *Config) { c.OnTokenRevoked = func(u, cred string) { revoked = append(revoked, u+" "+cred) } })
	ctx := context.Background()
	u, p := f.user(t, "zed")
	tok, secret, err := f.svc.CreateToken(ctx, p, "obs")
	if err != nil {
		t.Fatal(err)
	}
	// The hook names the credential Resolve gave requests with the token.
	rp, err := f.svc.Resolve(ctx, secret)
	if err != nil || rp.Cred == "" {
		t.Fatalf("Resolve: %+v %v", rp, err)
	}
	if err := f.svc.DeleteToken(ctx, p, "nope"); !errors.Is(err, ErrTokenNotFound) || len(revoked) != 0 {
		t.Errorf("deleting no token: %v, hook %v", err, revoked)
	}
	if err := f.svc.DeleteToken(ctx, p, tok.ID); err != nil || len(revoked) != 1 || revoked[0] != u.ID+" "+rp.Cred {
		t.Errorf("DeleteToken: %v, hook %v, want %q", err, revoked, u.ID+" "+rp.Cred)
	}
}

// TestLogoutEndsItsStageSessions: ending a web session tells
// OnTokenRevoked the credential requests with that session carried, so
// what it published ends; ending another session of the same user, or a
// session that is gone, names nothing else.
func TestLogoutEndsItsStageSessions(t *testing.T) {
	var revoked []string
	f := newFixture(t, func(c *Config) { c.OnTokenRevoked = func(u, cred string) { revoked = append(revoked, u+" "+cred) } })
	ctx := context.Background()
	u, _ := f.user(t, "zed")
	_, sess, err := f.svc.Login(ctx, Attempt{Name: "zed", Password: "correct horse"})
	if err != nil {
		t.Fatal(err)
	}
	_, other, err := f.svc.Login(ctx, Attempt{Name: "zed", Password: "correct horse"})
	if err != nil {
		t.Fatal(err)
	}
	sp, err := f.svc.ResolveSession(ctx, sess)
	if err != nil || sp.Cred == "" {
		t.Fatalf("ResolveSession: %+v %v", sp, err)
	}
	op, err := f.svc.ResolveSession(ctx, other)
	if err != nil || op.Cred == sp.Cred {
		t.Fatalf("two sessions share a credential: %+v %+v %v", sp, op, err)
	}
	if err := f.svc.EndSession(ctx, sess); err != nil || len(revoked) != 1 || revoked[0] != u.ID+" "+sp.Cred {
		t.Fatalf("EndSession: %v, hook %v, want %q", err, revoked, u.ID+" "+sp.Cred)
	}
	if err := f.svc.EndSession(ctx, sess); err != nil || len(revoked) != 1 {
		t.Errorf("ending it again: %v, hook %v", err, revoked)
	}
	if err := f.svc.EndSession(ctx, "mjs_nope"); err != nil || len(revoked) != 1 {
		t.Errorf("ending no session: %v, hook %v", err, revoked)
	}
	if _, err := f.svc.ResolveSession(ctx, other); err != nil {
		t.Errorf("the other session ended: %v", err)
	}
}

// TestLoginPoWUnderLoad: while the server is under load (Config.UnderLoad)
// or requests queue for the hashing pool, a login from an address the
// account's owner has not logged in from, for any name, and every sign-up,
// gets a puzzle before any hash; the owner at home is not slowed, and
// without load a first wrong password is a plain refusal.
func TestLoginPoWUnderLoad(t *testing.T) {
	var load atomic.Bool
	f := newFixture(t, func(c *Config) {
		c.LoginsPerIP, c.LoginsPerPrefix = ratelimit.Rate{PerSecond: 1e6, Burst: 1e6}, ratelimit.Rate{PerSecond: 1e6, Burst: 1e6}
		c.UnderLoad = load.Load
		c.HashSlots, c.HashQueue = 1, 8
	})
	f.user(t, "zed")
	ctx := context.Background()
	home := netip.MustParseAddr("203.0.113.7")
	if _, _, err := f.svc.Login(ctx, Attempt{Name: "zed", Password: "correct horse", Addr: home}); err != nil {
		t.Fatal(err)
	}
	stranger := func(i int) Attempt {
		return Attempt{Name: fmt.Sprintf("made-up-%d", i), Password: "guess guess", Addr: netip.AddrFrom4([4]byte{100, 64, byte(i), 1})}
	}
	if _, _, err := f.svc.Login(ctx, stranger(0)); !errors.Is(err, ErrBadCredentials) {
		t.Fatalf("a first wrong login without load: %v, want ErrBadCredentials", err)
	}
	h := &hashCounter{}
	f.svc.pool.hook = h.hook
	load.Store(true)
	for i := range 20 {
		var pe *PoWError
		if _, _, err := f.svc.Login(ctx, stranger(i)); !errors.As(err, &pe) || pe.Challenge == "" {
			t.Fatalf("login %d under load: %v, want a PoWError", i, err)
		}
	}
	if n := h.total.Load(); n != 0 {
		t.Errorf("%d logins refused for their puzzle were hashed", n)
	}
	at := stranger(99)
	_, _, err := f.svc.Login(ctx, at)
	var pe *PoWError
	if !errors.As(err, &pe) {
		t.Fatalf("under load: %v", err)
	}
	at.PoW = admission.Solve(pe.Challenge)
	if _, _, err := f.svc.Login(ctx, at); !errors.Is(err, ErrBadCredentials) {
		t.Errorf("with the solved puzzle: %v, want the password checked (ErrBadCredentials)", err)
	}
	if _, _, err := f.svc.Login(ctx, Attempt{Name: "zed", Password: "correct horse", Addr: home}); err != nil {
		t.Errorf("the owner at home under load: %v", err)
	}
	su := Attempt{Name: "newcomer", Password: "correct horse", Addr: netip.MustParseAddr("198.51.100.9")}
	if _, _, err := f.svc.Signup(ctx, su); !errors.As(err, &pe) {
		t.Fatalf("sign-up under load: %v, want a PoWError", err)
	}
	su.PoW = admission.Solve(pe.Challenge)
	if _, sess, err := f.svc.Signup(ctx, su); err != nil || sess == "" {
		t.Fatalf("sign-up with the solved puzzle: %v", err)
	}

	// The pool's own queue: one hash held in the only slot and one more
	// waiting make a stranger prove work, with UnderLoad false.
	load.Store(false)
	hold, held := make(chan struct{}), make(chan struct{}, 2)
	f.svc.pool.hook = func() { held <- struct{}{}; <-hold }
	var wg sync.WaitGroup
	for i := range 2 {
		wg.Add(1)
		go func() { defer wg.Done(); f.svc.Login(ctx, stranger(200+i)) }()
	}
	<-held // one hashing
	for deadline := time.Now().Add(5 * time.Second); !f.svc.pool.queued(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the second login never queued")
		}
	}
	if _, _, err := f.svc.Login(ctx, stranger(300)); !errors.As(err, &pe) {
		t.Errorf("a stranger while logins queue for the pool: %v, want a PoWError", err)
	}
	close(hold)
	wg.Wait()
	if f.svc.pool.queued() {
		t.Error("the pool still reports a queue")
	}
	if _, _, err := f.svc.Login(ctx, stranger(301)); !errors.Is(err, ErrBadCredentials) {
		t.Errorf("a stranger once the queue drained: %v, want ErrBadCredentials", err)
	}
}
