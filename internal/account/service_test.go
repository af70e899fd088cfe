package account

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode"

	"majlis/internal/store"
)

const testAdminToken = "mja_test-admin-token"

// clock is a fake clock that moves only when told.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

type fixture struct {
	svc       *Service
	st        *store.Store
	clock     *clock
	suspended []string // users passed to OnSuspend
}

var admin = Principal{ID: AdminID, Role: RoleAdmin}

// newFixture builds a Service on a real store in a temporary directory, a
// fake clock and a cheap hash.
func newFixture(t *testing.T, mod func(*Config)) *fixture {
	t.Helper()
	st, err := store.Open(filepath.Join(t.TempDir(), "majlis.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	f := &fixture{st: st, clock: &clock{t: time.Now()}}
	cfg := Config{Store: st, AdminToken: testAdminToken, PasswordTime: 1, PasswordMemoryKiB: 64, Signup: true, LoginPoWBits: 4,
		OnSuspend: func(u string) { f.suspended = append(f.suspended, u) }, Now: f.clock.Now}
	if mod != nil {
		mod(&cfg)
	}
	f.svc = New(cfg)
	return f
}

// user creates a user with a password and returns it and its principal.
func (f *fixture) user(t *testing.T, name string) (User, Principal) {
	t.Helper()
	u, _, err := f.svc.CreateUser(context.Background(), admin, name, "", "correct horse")
	if err != nil {
		t.Fatal(err)
	}
	return u, Principal{ID: u.ID, Role: u.Role}
}

func TestValidNameAndPassword(t *testing.T) {
	for _, c := range []struct {
		name string
		ok   bool
	}{
		{"zed", true}, {"Zed.o_k-9", true}, {strings.Repeat("a", MaxName), true},
		{"", false}, {strings.Repeat("a", MaxName+1), false}, {"a b", false}, {"a/b", false}, {"a@b", false},
		// Any language, one script.
		{"zéd", true}, {"أمل", true}, {"أمل_2", true}, {"مُحَمَّد", true}, {"Дмитрий", true}, {"Σωκράτης", true},
		{"山田たろう", true}, {"김민준", true}, {"अमल", true}, {"١٢٣أمل", true},
		{"pаypal", false},            // a Cyrillic а among Latin letters
		{"amalأمل", false},           // Latin and Arabic
		{"a\u202eb", false},          // a bidi override
		{"a\u200db", false},          // a zero-width joiner
		{"a\u200fb", false},          // a right-to-left mark
		{"\u0301a", false},           // a mark on nothing
		{"a\x00b", false},            // a control character
		{"😀", false}, {"a b", false}, // symbols and spaces
		{strings.Repeat("م", MaxName/2), true}, {strings.Repeat("م", MaxName/2+1), false}, // MaxName bytes
	} {
		if got := ValidName(c.name); got != c.ok {
			t.Errorf("ValidName(%q) = %v, want %v", c.name, got, c.ok)
		}
	}
	// The stored form is NFKC: a compatibility form and a composed one name one user.
	if n, ok := CanonicalName("ｚｅｄ"); !ok || n != "zed" {
		t.Errorf("CanonicalName(fullwidth zed) = %q %v, want zed", n, ok)
	}
	if n, _ := CanonicalName("ze\u0301d"); n != "zéd" {
		t.Errorf("CanonicalName(e + combining acute) = %q, want the composed zéd", n)
	}
	if nameScripts[24] != unicode.Han || nameScripts[25] != unicode.Hiragana || nameScripts[26] != unicode.Katakana || nameScripts[27] != unicode.Hangul {
		t.Error("the CJK scripts moved in nameScripts: fix the han, japanese and korean masks")
	}
	for _, c := range []struct {
		n  int
		ok bool
	}{{0, false}, {MinPassword - 1, false}, {MinPassword, true}, {MaxPassword, true}, {MaxPassword + 1, false}} {
		if got := ValidPassword(strings.Repeat("p", c.n)); got != c.ok {
			t.Errorf("ValidPassword(%d bytes) = %v, want %v", c.n, got, c.ok)
		}
	}
}

func TestSignup(t *testing.T) {
	ctx := context.Background()
	off := newFixture(t, func(c *Config) { c.Signup = false })
	if off.svc.SignupEnabled() {
		t.Error("SignupEnabled with Signup off")
	}
	if _, _, err := off.svc.Signup(ctx, Attempt{Name: "zed", Password: "correct horse"}); !errors.Is(err, ErrSignupDisabled) {
		t.Errorf("signup when disabled: %v", err)
	}
	if _, err := off.st.UserByName(ctx, "zed"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("disabled signup stored a user: %v", err)
	}

	f := newFixture(t, nil)
	if !f.svc.SignupEnabled() {
		t.Error("SignupEnabled false with Signup on")
	}
	for _, c := range []struct {
		name, password string
		want           error
	}{
		{"a b", "correct horse", ErrBadName},
		{"", "correct horse", ErrBadName},
		{"zed", "short", ErrBadPassword},
		{"zed", "", ErrBadPassword},
		{"zed", strings.Repeat("p", MaxPassword+1), ErrBadPassword},
	} {
		if _, _, err := f.svc.Signup(ctx, Attempt{Name: c.name, Password: c.password}); !errors.Is(err, c.want) {
			t.Errorf("Signup(%q, %d bytes) = %v, want %v", c.name, len(c.password), err, c.want)
		}
	}
	u, sess, err := f.svc.Signup(ctx, Attempt{Name: "zed", Password: "correct horse"})
	if err != nil || u.Name != "zed" || u.Role != RoleUser || u.Suspended || u.ID == "" {
		t.Fatalf("Signup = %+v, %v", u, err)
	}
	p, err := f.svc.ResolveSession(ctx, sess)
	if err != nil || p.ID != u.ID || p.Role != RoleUser || p.IsAdmin() {
		t.Fatalf("signup session resolves to %+v, %v", p, err)
	}
	if toks, err := f.svc.Tokens(ctx, p); err != nil || len(toks) != 0 {
		t.Errorf("signup made tokens %+v, %v", toks, err)
	}
	if _, _, err := f.svc.Signup(ctx, Attempt{Name: "zed", Password: "another one"}); !errors.Is(err, ErrNameTaken) {
		t.Errorf("signup twice: %v", err)
	}
	if _, _, err := f.svc.Login(ctx, Attempt{Name: "zed", Password: "correct horse"}); err != nil {
		t.Errorf("login after signup: %v", err)
	}
}

func TestCreateUser(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, nil)
	_, alice := f.user(t, "alice")
	for _, c := range []struct {
		by                   Principal
		name, role, password string
		want                 error
	}{
		{Principal{}, "bob", "", "", ErrUnauthorized},
		{alice, "bob", "", "", ErrForbidden},
		{Principal{ID: "x", Role: RoleAdmin, Suspended: true}, "bob", "", "", ErrSuspended},
		{admin, "bob", "root", "", ErrBadRole},
		{admin, "b o b", "", "", ErrBadName},
		{admin, "bob", "", "short", ErrBadPassword},
		{admin, "alice", "moderator", "", ErrNameTaken},
	} {
		if _, _, err := f.svc.CreateUser(ctx, c.by, c.name, c.role, c.password); !errors.Is(err, c.want) {
			t.Errorf("CreateUser(%+v, %q, %q) = %v, want %v", c.by, c.name, c.role, err, c.want)
		}
	}
	// No password: the first API token is the only way in.
	u, tok, err := f.svc.CreateUser(ctx, admin, "bob", RoleModerator, "")
	if err != nil || u.Role != RoleModerator || tok == "" {
		t.Fatalf("CreateUser = %+v %q %v", u, tok, err)
	}
	if p, err := f.svc.Resolve(ctx, tok); err != nil || p.ID != u.ID || p.Role != RoleModerator {
		t.Errorf("first token resolves to %+v, %v", p, err)
	}
	if _, _, err := f.svc.Login(ctx, Attempt{Name: "bob", Password: "any password"}); !errors.Is(err, ErrBadCredentials) {
		t.Errorf("login without a password set: %v", err)
	}
	if got, err := f.svc.User(ctx, u.ID); err != nil || got != u {
		t.Errorf("User = %+v, %v; want %+v", got, err, u)
	}
	if _, err := f.svc.User(ctx, "nobody"); !errors.Is(err, ErrUserNotFound) {
		t.Errorf("User(unknown) = %v", err)
	}
	// An admin user may create users too.
	_, _, err = f.svc.CreateUser(ctx, Principal{ID: u.ID, Role: RoleAdmin}, "carol", "", "")
	if err != nil {
		t.Errorf("admin user creating a user: %v", err)
	}
}

func TestLogin(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, nil)
	zed, _ := f.user(t, "zed")
	u, sess, err := f.svc.Login(ctx, Attempt{Name: "zed", Password: "correct horse"})
	if err != nil || u != zed || sess == "" {
		t.Fatalf("Login = %+v %q %v", u, sess, err)
	}
	if p, err := f.svc.ResolveSession(ctx, sess); err != nil || p.ID != zed.ID {
		t.Fatalf("login session resolves to %+v, %v", p, err)
	}
	for _, c := range []struct{ name, password string }{
		{"zed", "wrong horse"},
		{"nobody", "correct horse"},
		{"zed", ""},
		{"zed", strings.Repeat("p", MaxPassword+1)},
		{"a b", "correct horse"},
		{"", "correct horse"},
	} {
		if _, _, err := f.svc.Login(ctx, Attempt{Name: c.name, Password: c.password}); !errors.Is(err, ErrBadCredentials) {
			t.Errorf("Login(%q, %d bytes) = %v, want ErrBadCredentials", c.name, len(c.password), err)
		}
	}
}

// TestLoginThrottle: failures per account (name key), a burst of
// LoginBurst, then one per LoginRefill; past it, an attempt from an address
// the owner has not logged in from needs a proof of work, with the right
// password too; successes spend nothing; other names are not affected.
// (TestLoginOwnerNotLockedOut: the owner's known address is not slowed.)
func TestLoginThrottle(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, nil)
	f.user(t, "zed")
	f.user(t, "amal")
	for range 3 {
		if _, _, err := f.svc.Login(ctx, Attempt{Name: "zed", Password: "correct horse"}); err != nil {
			t.Fatalf("good login: %v", err)
		}
	}
	// Differently cased names share one budget, whether or not they exist.
	for i, name := range []string{"zed", "ZED", "Zed", "zEd", "zed"} {
		if _, _, err := f.svc.Login(ctx, Attempt{Name: name, Password: "wrong horse"}); !errors.Is(err, ErrBadCredentials) {
			t.Fatalf("failure %d (%s): %v", i, name, err)
		}
	}
	for _, pw := range []string{"wrong horse", "correct horse"} {
		if _, _, err := f.svc.Login(ctx, Attempt{Name: "zed", Password: pw}); !errors.Is(err, ErrPoWRequired) {
			t.Errorf("after %d failures, %q: %v, want ErrPoWRequired", LoginBurst, pw, err)
		}
	}
	if _, _, err := f.svc.Login(ctx, Attempt{Name: "ZeD", Password: "x"}); !errors.Is(err, ErrPoWRequired) {
		t.Errorf("other casing while limited: %v", err)
	}
	if _, _, err := f.svc.Login(ctx, Attempt{Name: "amal", Password: "correct horse"}); err != nil {
		t.Errorf("another name while zed is limited: %v", err)
	}

	// One more try per refill period.
	f.clock.Add(LoginRefill - time.Second)
	if _, _, err := f.svc.Login(ctx, Attempt{Name: "zed", Password: "correct horse"}); !errors.Is(err, ErrPoWRequired) {
		t.Errorf("before a refill period: %v", err)
	}
	f.clock.Add(time.Second)
	if _, _, err := f.svc.Login(ctx, Attempt{Name: "zed", Password: "wrong horse"}); !errors.Is(err, ErrBadCredentials) {
		t.Errorf("after a refill period: %v", err)
	}
	if _, _, err := f.svc.Login(ctx, Attempt{Name: "zed", Password: "correct horse"}); !errors.Is(err, ErrPoWRequired) {
		t.Errorf("second try in one refill period: %v", err)
	}
	f.clock.Add(LoginRefill)
	if _, _, err := f.svc.Login(ctx, Attempt{Name: "zed", Password: "correct horse"}); err != nil {
		t.Errorf("right password after a refill period: %v", err)
	}

	// Fully refilled after LoginBurst periods: a whole burst again.
	f.clock.Add(LoginBurst * LoginRefill)
	for i := range LoginBurst {
		if _, _, err := f.svc.Login(ctx, Attempt{Name: "zed", Password: "wrong horse"}); !errors.Is(err, ErrBadCredentials) {
			t.Fatalf("refilled burst, failure %d: %v", i, err)
		}
	}
	if _, _, err := f.svc.Login(ctx, Attempt{Name: "zed", Password: "wrong horse"}); !errors.Is(err, ErrPoWRequired) {
		t.Errorf("after the refilled burst: %v", err)
	}
}

// TestLoginLimiterBounded: the failed-login table never holds more than its
// bound (plus the name being added), however many names fail.
func TestLoginLimiterBounded(t *testing.T) {
	const maxNames = 8
	l := newLoginLimiter(maxNames)
	now := time.Now()
	for i := range 100 {
		l.failed(strings.Repeat("n", i+1), now)
		if n := l.names(); n > maxNames+1 {
			t.Fatalf("after %d names the table holds %d, bound %d", i+1, n, maxNames)
		}
	}
	if l.names() == 0 {
		t.Fatal("table empty after failures")
	}
	// Within the bound, a name's failures are kept.
	l = newLoginLimiter(maxNames)
	for range LoginBurst {
		l.failed("zed", now)
	}
	if l.allow("zed", now) {
		t.Error("zed allowed after a burst of failures")
	}
	if !l.allow("amal", now) {
		t.Error("a name with no failures refused")
	}
	if newLoginLimiter(0).max != DefaultMaxLoginNames {
		t.Error("zero bound is not the default")
	}
	// Through the Service: Config.MaxLoginNames bounds the table.
	f := newFixture(t, func(c *Config) { c.MaxLoginNames = 2 })
	for _, name := range []string{"a", "b", "c", "d", "e"} {
		f.svc.Login(context.Background(), Attempt{Name: name, Password: "wrong horse"})
	}
	if n := f.svc.logins.names(); n > 3 {
		t.Errorf("service table holds %d names, bound 2", n)
	}
}

func TestSessions(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, nil)
	zed, _ := f.user(t, "zed")
	_, sess, err := f.svc.Login(ctx, Attempt{Name: "zed", Password: "correct horse"})
	if err != nil {
		t.Fatal(err)
	}
	_, other, err := f.svc.Login(ctx, Attempt{Name: "zed", Password: "correct horse"})
	if err != nil || other == sess {
		t.Fatalf("second session %q, %v", other, err)
	}
	f.clock.Add(SessionTTL - time.Second)
	if p, err := f.svc.ResolveSession(ctx, sess); err != nil || p.ID != zed.ID {
		t.Fatalf("session before its TTL: %+v %v", p, err)
	}
	f.clock.Add(2 * time.Second)
	if _, err := f.svc.ResolveSession(ctx, sess); !errors.Is(err, ErrUnauthorized) {
		t.Errorf("session after its TTL: %v", err)
	}

	f.clock.Add(-2 * time.Second)
	if err := f.svc.EndSession(ctx, sess); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.ResolveSession(ctx, sess); !errors.Is(err, ErrUnauthorized) {
		t.Errorf("ended session: %v", err)
	}
	if _, err := f.svc.ResolveSession(ctx, other); err != nil {
		t.Errorf("ending one session ended another: %v", err)
	}
	if err := f.svc.EndSession(ctx, sess); err != nil {
		t.Errorf("ending an ended session: %v", err)
	}
	for _, bad := range []string{"", "mjs_nope", strings.Repeat("s", MaxSecret+1)} {
		if _, err := f.svc.ResolveSession(ctx, bad); !errors.Is(err, ErrUnauthorized) {
			t.Errorf("ResolveSession(%.10q) = %v", bad, err)
		}
	}
	// A session is not a bearer token, nor a token a session.
	if _, err := f.svc.Resolve(ctx, other); !errors.Is(err, ErrUnauthorized) {
		t.Errorf("session secret as a bearer token: %v", err)
	}
}

func TestTokens(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, nil)
	zed, pz := f.user(t, "zed")
	_, pa := f.user(t, "amal")
	tk, secret, err := f.svc.CreateToken(ctx, pz, "  obs  ")
	if err != nil || tk.Name != "obs" || tk.ID == "" || secret == "" {
		t.Fatalf("CreateToken = %+v %q %v", tk, secret, err)
	}
	if p, err := f.svc.Resolve(ctx, secret); err != nil || p.ID != zed.ID || p.Role != RoleUser || p.IsAdminToken() {
		t.Fatalf("token resolves to %+v, %v", p, err)
	}
	tk2, _, err := f.svc.CreateToken(ctx, pz, "مايك") // 4 characters, 8 bytes
	if err != nil {
		t.Fatal(err)
	}
	// CreateUser made each user a first token called "default".
	list, err := f.svc.Tokens(ctx, pz)
	if err != nil || len(list) != 3 || list[0].Name != "default" || list[1].ID != tk.ID || list[2].ID != tk2.ID || list[2].Name != "مايك" {
		t.Fatalf("Tokens = %+v, %v", list, err)
	}
	if list, err := f.svc.Tokens(ctx, pa); err != nil || len(list) != 1 || list[0].Name != "default" {
		t.Errorf("amal's tokens: %+v, %v", list, err)
	}
	for _, name := range []string{"", "   ", strings.Repeat("x", MaxTokenName+1), "\xff\xfe", strings.Repeat("م", MaxTokenName+1)} {
		if _, _, err := f.svc.CreateToken(ctx, pz, name); !errors.Is(err, ErrBadTokenName) {
			t.Errorf("CreateToken(%.12q) = %v, want ErrBadTokenName", name, err)
		}
	}
	if _, _, err := f.svc.CreateToken(ctx, pz, strings.Repeat("م", MaxTokenName)); err != nil {
		t.Errorf("a %d-character name: %v", MaxTokenName, err)
	}
	for _, c := range []struct {
		p    Principal
		want error
	}{{admin, ErrNotAUser}, {Principal{}, ErrUnauthorized}, {Principal{ID: zed.ID, Role: RoleUser, Suspended: true}, ErrSuspended}} {
		if _, err := f.svc.Tokens(ctx, c.p); !errors.Is(err, c.want) {
			t.Errorf("Tokens(%+v) = %v, want %v", c.p, err, c.want)
		}
		if _, _, err := f.svc.CreateToken(ctx, c.p, "x"); !errors.Is(err, c.want) {
			t.Errorf("CreateToken(%+v) = %v, want %v", c.p, err, c.want)
		}
		if err := f.svc.DeleteToken(ctx, c.p, tk.ID); !errors.Is(err, c.want) {
			t.Errorf("DeleteToken(%+v) = %v, want %v", c.p, err, c.want)
		}
	}
	if err := f.svc.DeleteToken(ctx, pa, tk.ID); !errors.Is(err, ErrTokenNotFound) {
		t.Errorf("deleting another user's token: %v", err)
	}
	if err := f.svc.DeleteToken(ctx, pz, tk.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Resolve(ctx, secret); !errors.Is(err, ErrUnauthorized) {
		t.Errorf("revoked token: %v", err)
	}
	if err := f.svc.DeleteToken(ctx, pz, tk.ID); !errors.Is(err, ErrTokenNotFound) {
		t.Errorf("deleting twice: %v", err)
	}
}

func TestSuspend(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, nil)
	zed, pz := f.user(t, "zed")
	_, pa := f.user(t, "amal")
	_, tok, err := f.svc.CreateToken(ctx, pz, "obs")
	if err != nil {
		t.Fatal(err)
	}
	_, sess, err := f.svc.Login(ctx, Attempt{Name: "zed", Password: "correct horse"})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		by   Principal
		id   string
		want error
	}{
		{pa, zed.ID, ErrForbidden},
		{Principal{}, zed.ID, ErrUnauthorized},
		{admin, "nobody", ErrUserNotFound},
		{Principal{ID: zed.ID, Role: RoleAdmin}, zed.ID, ErrSelfSuspend},
	} {
		if _, err := f.svc.SetSuspended(ctx, c.by, c.id, true); !errors.Is(err, c.want) {
			t.Errorf("SetSuspended(by %+v, %s) = %v, want %v", c.by, c.id, err, c.want)
		}
	}
	if len(f.suspended) != 0 {
		t.Fatalf("refused suspensions called the hook: %v", f.suspended)
	}

	u, err := f.svc.SetSuspended(ctx, admin, zed.ID, true)
	if err != nil || !u.Suspended || u.ID != zed.ID {
		t.Fatalf("SetSuspended = %+v, %v", u, err)
	}
	if !slices.Equal(f.suspended, []string{zed.ID}) {
		t.Errorf("OnSuspend got %v, want [%s]", f.suspended, zed.ID)
	}
	if _, err := f.svc.ResolveSession(ctx, sess); !errors.Is(err, ErrUnauthorized) {
		t.Errorf("session after suspension: %v", err)
	}
	p, err := f.svc.Resolve(ctx, tok)
	if err != nil || !p.Suspended || p.ID != zed.ID {
		t.Errorf("token after suspension resolves to %+v, %v; want a suspended principal", p, err)
	}
	if _, _, err := f.svc.CreateToken(ctx, p, "again"); !errors.Is(err, ErrSuspended) {
		t.Errorf("suspended user creating a token: %v", err)
	}
	if _, _, err := f.svc.Login(ctx, Attempt{Name: "zed", Password: "correct horse"}); !errors.Is(err, ErrSuspended) {
		t.Errorf("login while suspended: %v", err)
	}
	if _, _, err := f.svc.Login(ctx, Attempt{Name: "zed", Password: "wrong horse"}); !errors.Is(err, ErrBadCredentials) {
		t.Errorf("wrong password while suspended: %v", err)
	}

	u, err = f.svc.SetSuspended(ctx, admin, zed.ID, false)
	if err != nil || u.Suspended {
		t.Fatalf("reinstate = %+v, %v", u, err)
	}
	if len(f.suspended) != 1 {
		t.Errorf("reinstating called the hook: %v", f.suspended)
	}
	if p, err := f.svc.Resolve(ctx, tok); err != nil || p.Suspended {
		t.Errorf("token after reinstatement: %+v, %v", p, err)
	}
	if _, _, err := f.svc.Login(ctx, Attempt{Name: "zed", Password: "correct horse"}); err != nil {
		t.Errorf("login after reinstatement: %v", err)
	}
	// Without a hook, suspension still works.
	g := newFixture(t, func(c *Config) { c.OnSuspend = nil })
	gz, _ := g.user(t, "zed")
	if _, err := g.svc.SetSuspended(ctx, admin, gz.ID, true); err != nil {
		t.Errorf("suspend without a hook: %v", err)
	}
}

func TestAdminToken(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, nil)
	p, err := f.svc.Resolve(ctx, testAdminToken)
	if err != nil || p.ID != AdminID || p.Role != RoleAdmin || !p.IsAdmin() || !p.IsAdminToken() || p.Suspended {
		t.Fatalf("admin token resolves to %+v, %v", p, err)
	}
	for _, bad := range []string{"", testAdminToken[:len(testAdminToken)-1], testAdminToken + "x", strings.ToUpper(testAdminToken), strings.Repeat("a", MaxSecret+1)} {
		if _, err := f.svc.Resolve(ctx, bad); !errors.Is(err, ErrUnauthorized) {
			t.Errorf("Resolve(%.20q) = %v, want ErrUnauthorized", bad, err)
		}
	}
	// The admin token logs in to nothing and has no session.
	if _, err := f.svc.ResolveSession(ctx, testAdminToken); !errors.Is(err, ErrUnauthorized) {
		t.Errorf("admin token as a session: %v", err)
	}
	// With no admin token configured, nothing is the admin.
	g := newFixture(t, func(c *Config) { c.AdminToken = "" })
	if _, err := g.svc.Resolve(ctx, ""); !errors.Is(err, ErrUnauthorized) {
		t.Errorf("empty token with no admin token: %v", err)
	}
	if _, err := g.svc.Resolve(ctx, testAdminToken); !errors.Is(err, ErrUnauthorized) {
		t.Errorf("a token with no admin token configured: %v", err)
	}
}

// TestSuspendHolds: an admin's suspension and a trust and safety one are
// separate holds. Lifting the safety hold (its suspension ended, or was
// reversed) leaves the admin's in force; an admin's reinstatement lifts
// both; a safety suspension alone is lifted by its own end.
func TestSuspendHolds(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, nil)
	zed, _ := f.user(t, "zed")
	suspended := func() bool {
		t.Helper()
		u, err := f.svc.User(ctx, zed.ID)
		if err != nil {
			t.Fatal(err)
		}
		return u.Suspended
	}
	if _, err := f.svc.SetSuspended(ctx, admin, zed.ID, true); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.SetSafetySuspended(ctx, admin, zed.ID, true); err != nil {
		t.Fatal(err)
	}
	if u, err := f.svc.SetSafetySuspended(ctx, admin, zed.ID, false); err != nil || !u.Suspended || !suspended() {
		t.Fatalf("the safety hold lifted: %+v %v; want the admin's suspension still in force", u, err)
	}
	if _, err := f.svc.SetSafetySuspended(ctx, admin, zed.ID, true); err != nil {
		t.Fatal(err)
	}
	if u, err := f.svc.SetSuspended(ctx, admin, zed.ID, false); err != nil || u.Suspended {
		t.Fatalf("an admin's reinstatement: %+v %v; want both holds lifted", u, err)
	}
	if _, err := f.svc.SetSafetySuspended(ctx, admin, zed.ID, true); err != nil || !suspended() {
		t.Fatalf("a safety suspension alone: %v", err)
	}
	if _, err := f.svc.SetSafetySuspended(ctx, admin, zed.ID, false); err != nil || suspended() {
		t.Fatalf("its end: %v, suspended %v", err, suspended())
	}
	if _, err := f.svc.SetSafetySuspended(ctx, Principal{ID: "x", Role: RoleUser}, zed.ID, true); !errors.Is(err, ErrForbidden) {
		t.Errorf("a user's safety suspension: %v, want ErrForbidden", err)
	}
}
