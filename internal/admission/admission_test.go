package admission

import (
	"bytes"
	"net/netip"
	"sort"
	"strings"
	"testing"
	"time"
)

type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time      { return c.t }
func (c *fakeClock) add(d time.Duration) { c.t = c.t.Add(d) }
func newClock() *fakeClock               { return &fakeClock{t: time.Unix(1_800_000_000, 0)} }
func addr(s string) netip.Addr           { return netip.MustParseAddr(s) }
func allow(l *Limiter, a string) bool    { ok, _ := l.Allow(addr(a)); return ok }

// joinAt is one unpaid join from a fixed address.
func joinAt(w *WaitingRoom, room string, live bool, started time.Time, tok string, factor float64) Decision {
	return w.Join(room, Arrival{Live: live, Started: started, Token: tok, From: addr("192.0.2.1"), Factor: factor})
}

func TestLimiterPerIPAndPrefix(t *testing.T) {
	c := newClock()
	l := NewLimiter(LimiterConfig{PerIP: Rate{PerSecond: 1, Burst: 2}, PerPrefix: Rate{PerSecond: 2, Burst: 3}, Now: c.now})
	cases := []struct {
		addr string
		want bool
	}{
		{"10.0.0.1", true}, {"10.0.0.1", true}, {"10.0.0.1", false}, // per-IP burst 2
		{"10.0.0.2", true}, {"10.0.0.3", false}, // per-/24 burst 3
		{"10.0.1.1", true},                                                                                          // another /24
		{"2001:db8:1:2::1", true}, {"2001:db8:1:3::1", true}, {"2001:db8:1:4::1", true}, {"2001:db8:1:5::1", false}, // one /48
		{"::ffff:10.0.0.9", false}, // mapped IPv4 counts as its /24
	}
	for i, tc := range cases {
		if got := allow(l, tc.addr); got != tc.want {
			t.Errorf("step %d %s: Allow = %v, want %v", i, tc.addr, got, tc.want)
		}
	}
	c.add(time.Second) // the /24 refills 2 tokens, 10.0.0.1 one
	if !allow(l, "10.0.0.1") || !allow(l, "10.0.0.4") || allow(l, "10.0.0.5") {
		t.Errorf("refill after 1 s wrong")
	}
	if ok, retry := l.Allow(addr("10.0.0.1")); ok || retry <= 0 || retry > time.Second {
		t.Errorf("Allow = %v, retry %v; want refused with retry in (0,1s]", ok, retry)
	}
}

func TestLimiterBoundedMemory(t *testing.T) {
	c := newClock()
	l := NewLimiter(LimiterConfig{PerIP: Rate{PerSecond: 1, Burst: 1}, PerPrefix: Rate{PerSecond: 1000, Burst: 1000}, MaxEntries: 4096, Now: c.now})
	for i := range 100_000 {
		a := netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
		l.Allow(a)
	}
	if n := l.Len(); n > 4096+limShards {
		t.Fatalf("limiter holds %d buckets, bound 4096", n)
	}
}

func TestLeasesOneConnectionPerTicket(t *testing.T) {
	l := NewLeases()
	rel, ok := l.Acquire(42)
	if !ok {
		t.Fatal("first acquire refused")
	}
	if _, ok := l.Acquire(42); ok {
		t.Fatal("second connection with the same ticket accepted")
	}
	if _, ok := l.Acquire(43); !ok {
		t.Fatal("other ticket refused")
	}
	rel()
	if _, ok := l.Acquire(42); !ok {
		t.Fatal("reconnect after release refused")
	}
}

func TestPoW(t *testing.T) {
	p := NewPoW(bytes.Repeat([]byte{1}, 32))
	ch := p.Challenge(12)
	sol := Solve(ch)
	if LeadingZeroBits(sol) < 12 {
		t.Fatalf("Solve returned %q with %d zero bits", sol, LeadingZeroBits(sol))
	}
	if err := p.Verify(sol, 12); err != nil {
		t.Fatalf("valid solution: %v", err)
	}
	if err := p.Verify(sol, 12); err == nil {
		t.Fatal("replayed solution accepted")
	}
	other := NewPoW(bytes.Repeat([]byte{2}, 32))
	easy := p.Challenge(8)
	expiring := NewPoW(bytes.Repeat([]byte{1}, 32))
	c := newClock()
	c.t = time.Now()
	expiring.now = c.now
	old := Solve(expiring.Challenge(4))
	c.add(powTTL + time.Second)
	wrong := func(ch string) string { // a counter that fails (probability 1-2^-16)
		for i := 0; ; i++ {
			s := ch + ":" + strings.Repeat("9", 1+i%5) + string(rune('0'+i%10))
			if LeadingZeroBits(s) < 16 {
				return s
			}
		}
	}
	hard := p.Challenge(16)
	cases := []struct {
		name, header string
		p            *PoW
		min          int
	}{
		{"empty", "", p, 0},
		{"no colon", ch, p, 0},
		{"not a number", ch + ":abc", p, 0},
		{"foreign key", Solve(other.Challenge(4)), p, 0},
		{"too easy", Solve(easy), p, 12},
		{"expired", old, expiring, 0},
		{"wrong solution", wrong(hard), p, 0},
		{"too long", strings.Repeat("A", MaxPoWHeaderLen+1), p, 0},
	}
	for _, tc := range cases {
		if err := tc.p.Verify(tc.header, tc.min); err == nil {
			t.Errorf("%s: accepted", tc.name)
		}
	}
}

func TestWaitingRoomRateAndOrder(t *testing.T) {
	c := newClock()
	w := NewWaitingRoom(WaitingConfig{Key: bytes.Repeat([]byte{3}, 32), Rate: 10, Burst: 5, Now: c.now})
	start := c.t
	admitted := 0
	var queued []Decision
	for range 25 {
		d := joinAt(w, "r", true, start, "", 1)
		if d.Admit {
			admitted++
			continue
		}
		queued = append(queued, d)
	}
	if admitted != 5 {
		t.Fatalf("burst admitted %d, want 5", admitted)
	}
	for i, d := range queued {
		if d.Token == "" || d.Position != i+1 || d.Wait <= 0 {
			t.Fatalf("queued[%d] = %+v, want position %d", i, d, i+1)
		}
		if i > 0 && d.Wait <= queued[i-1].Wait {
			t.Fatalf("turns not in arrival order")
		}
	}
	// Too early: told to wait again, same token.
	if d := joinAt(w, "r", true, start, queued[3].Token, 1); d.Admit || d.Token != queued[3].Token {
		t.Fatalf("early token = %+v", d)
	}
	// Another room's token is not valid here.
	c.add(3 * time.Second)
	if d := joinAt(w, "other", true, start, queued[0].Token, 1); d.Token == queued[0].Token {
		t.Fatal("token accepted for another room")
	}
	// After 3 s the first 20 turns (0.1 s apart) have come; each admits once.
	for i, d := range queued {
		got := joinAt(w, "r", true, start, d.Token, 1)
		if want := d.Wait <= 3*time.Second; got.Admit != want {
			t.Fatalf("turn %d (wait %v) at 3 s: admit %v", i, d.Wait, got.Admit)
		}
	}
	for range 5 { // use up the burst: a replayed token is only a new arrival
		joinAt(w, "r", true, start, "", 1)
	}
	if d := joinAt(w, "r", true, start, queued[0].Token, 1); d.Admit {
		t.Fatal("queue token replayed")
	}
	// Overload factor halves the rate: turns twice as far apart.
	c.add(time.Hour)
	for range 5 {
		joinAt(w, "r", true, start, "", 1)
	}
	a, b := joinAt(w, "r", true, start, "", 0.5), joinAt(w, "r", true, start, "", 0.5)
	if d := b.Wait - a.Wait; d < 190*time.Millisecond || d > 210*time.Millisecond {
		t.Fatalf("turn spacing at factor 0.5 = %v, want 200ms", d)
	}
}

func TestWaitingRoomFull(t *testing.T) {
	c := newClock()
	w := NewWaitingRoom(WaitingConfig{Key: bytes.Repeat([]byte{3}, 32), Rate: 1, Burst: 1, MaxWait: 5 * time.Second, Now: c.now})
	full := 0
	for range 20 {
		if d := joinAt(w, "r", true, c.t, "", 1); d.Full {
			full++
		}
	}
	if full != 14 { // 1 admitted, 5 queued within 5 s
		t.Fatalf("%d refused as full, want 14", full)
	}
}

// TestWaitingRoomLobbyShuffle: people waiting before the start are admitted
// after it in an order unrelated to their arrival order.
func TestWaitingRoomLobbyShuffle(t *testing.T) {
	c := newClock()
	w := NewWaitingRoom(WaitingConfig{Key: bytes.Repeat([]byte{3}, 32), Rate: 100, Burst: 1, Now: c.now})
	const n = 400
	c.add(-time.Minute)
	toks := make([]string, n)
	for i := range toks {
		d := joinAt(w, "r", false, time.Time{}, "", 1)
		if !d.Lobby || d.Token == "" {
			t.Fatalf("pre-start join = %+v, want a lobby token", d)
		}
		toks[i] = d.Token
	}
	if d := joinAt(w, "r", false, time.Time{}, toks[0], 1); !d.Lobby || d.Token != toks[0] {
		t.Fatalf("lobby token before start = %+v", d)
	}
	// Holders poll every LobbyPoll (2 s) until the start; 1000 bot tokens taken
	// a minute earlier are never presented again and must not hold turns.
	for range 1000 {
		joinAt(w, "r", false, time.Time{}, "", 1)
	}
	for range 30 {
		c.add(2 * time.Second)
		for _, tok := range toks {
			joinAt(w, "r", false, time.Time{}, tok, 1)
		}
	}
	start := c.t
	type turn struct {
		arrival int
		wait    time.Duration
	}
	turns := make([]turn, n)
	for i, tok := range toks {
		d := joinAt(w, "r", true, start, tok, 1)
		if !d.Admit && d.Token == "" {
			t.Fatalf("lobby token after start = %+v", d)
		}
		turns[i] = turn{i, d.Wait}
	}
	// A new arrival queues behind the whole lobby (400 at 100/s = 4 s).
	if d := joinAt(w, "r", true, start, "", 1); d.Wait < 3900*time.Millisecond || d.Wait > 4100*time.Millisecond {
		t.Fatalf("arrival after start waits %v, want 4 s behind the 400 active holders of the lobby", d.Wait)
	}
	sort.Slice(turns, func(i, j int) bool { return turns[i].wait < turns[j].wait })
	// The first half of the admitted should contain about half the early
	// half of arrivals; arrival order would put all 200 there.
	early := 0
	for _, tu := range turns[:n/2] {
		if tu.arrival < n/2 {
			early++
		}
	}
	if early > 140 || early < 60 {
		t.Fatalf("%d of the first 200 turns went to the first 200 arrivals: not shuffled", early)
	}
}

func BenchmarkLimiterAllow(b *testing.B) {
	l := NewLimiter(LimiterConfig{PerIP: Rate{PerSecond: 1e9, Burst: 1e9}, PerPrefix: Rate{PerSecond: 1e9, Burst: 1e9}})
	a := addr("192.0.2.7")
	b.ReportAllocs()
	for b.Loop() {
		l.Allow(a)
	}
}

func BenchmarkPoWVerify(b *testing.B) {
	p := NewPoW(bytes.Repeat([]byte{1}, 32))
	sols := make([]string, 0, 4096)
	for range cap(sols) {
		sols = append(sols, Solve(p.Challenge(4)))
	}
	b.ReportAllocs()
	b.ResetTimer()
	i := 0
	for b.Loop() {
		if i == len(sols) { // refill without timing: every solution is single-use
			b.StopTimer()
			// A fresh verifier too: the used-solution set is bounded and
			// fails closed when full, which is not what this measures.
			p = NewPoW(bytes.Repeat([]byte{1}, 32))
			sols = sols[:0]
			for range cap(sols) {
				sols = append(sols, Solve(p.Challenge(4)))
			}
			i = 0
			b.StartTimer()
		}
		if err := p.Verify(sols[i], 4); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

func BenchmarkWaitingRoomJoin(b *testing.B) {
	w := NewWaitingRoom(WaitingConfig{Key: bytes.Repeat([]byte{3}, 32), Rate: 1e9, Burst: 1e9})
	start := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		joinAt(w, "room", true, start, "", 1)
	}
}

func BenchmarkSolve16(b *testing.B) {
	p := NewPoW(bytes.Repeat([]byte{1}, 32))
	for b.Loop() {
		Solve(p.Challenge(16))
	}
}

// TestQueueTokenExemptsOnce: a queue token exempts its holder from the
// proof of work only while it holds a place: once used or expired it exempts
// no one, and a token issued after a puzzle exempts only the address it was
// issued to.
func TestQueueTokenExemptsOnce(t *testing.T) {
	c := newClock()
	w := NewWaitingRoom(WaitingConfig{Key: bytes.Repeat([]byte{3}, 32), Rate: 10, Burst: 1, Grace: 5 * time.Second, Now: c.now})
	start := c.t
	a, b := addr("192.0.2.1"), addr("198.51.100.7")
	arrive := func(tok string, from netip.Addr, paid, holderOnly bool) Decision {
		return w.Join("r", Arrival{Live: true, Started: start, Token: tok, From: from, Factor: 1, Paid: paid, HolderOnly: holderOnly})
	}
	if d := arrive("", a, true, false); !d.Admit {
		t.Fatalf("first arrival (the burst) = %+v", d)
	}
	paid := arrive("", a, true, false)    // solved a puzzle: its token is bound to a
	unpaid := arrive("", b, false, false) // no puzzle was asked: not bound
	if paid.Token == "" || unpaid.Token == "" {
		t.Fatalf("queued arrivals = %+v, %+v", paid, unpaid)
	}
	cases := []struct {
		name string
		tok  string
		from netip.Addr
		want bool
	}{
		{"paid token, its address", paid.Token, a, true},
		{"paid token, another address", paid.Token, b, false},
		{"unpaid token, its address", unpaid.Token, b, true},
		{"unpaid token, another address", unpaid.Token, a, true},
		{"another room's token", unpaid.Token + "x", b, false},
		{"no token", "", a, false},
	}
	for _, tc := range cases {
		if got := w.Holds("r", tc.tok, tc.from); got != tc.want {
			t.Errorf("before its turn, %s: Holds = %v, want %v", tc.name, got, tc.want)
		}
	}
	// Early, the holder keeps its place; from elsewhere a bound token is no token.
	if d := arrive(paid.Token, a, false, true); d.Admit || d.NeedPoW || d.Token != paid.Token {
		t.Fatalf("holder early = %+v, want its place again", d)
	}
	if d := arrive(paid.Token, b, false, true); !d.NeedPoW {
		t.Fatalf("bound token replayed from another address, no puzzle = %+v, want NeedPoW", d)
	}
	c.add(paid.Wait)
	// Two requests with the token at its turn (a race past Holds): one admits, the other gets no new place.
	first, second := arrive(paid.Token, a, false, true), arrive(paid.Token, a, false, true)
	if !first.Admit || !second.NeedPoW || second.Token != "" {
		t.Fatalf("token at its turn twice = %+v then %+v, want admit then NeedPoW", first, second)
	}
	if w.Holds("r", paid.Token, a) {
		t.Fatal("a used token still holds a place")
	}
	if d := arrive(paid.Token, a, true, false); d.Admit || d.Token == "" || d.Token == paid.Token {
		t.Fatalf("used token with a new puzzle = %+v, want a new place at the back", d)
	}
	// Unused, past its turn's grace: expired, exempts no one.
	if !w.Holds("r", unpaid.Token, b) {
		t.Fatal("unpaid token lost its place within its grace")
	}
	c.add(unpaid.Wait + 6*time.Second)
	if w.Holds("r", unpaid.Token, b) {
		t.Fatal("an expired token still holds a place")
	}
	if d := arrive(unpaid.Token, b, false, true); !d.NeedPoW {
		t.Fatalf("expired token, no puzzle = %+v, want NeedPoW", d)
	}
}

// TestLobbyTokenExemptsUntilItsTurnPasses: a lobby token holds its place
// until the start and then until its shuffled turn's grace has passed.
func TestLobbyTokenExemptsUntilItsTurnPasses(t *testing.T) {
	c := newClock()
	w := NewWaitingRoom(WaitingConfig{Key: bytes.Repeat([]byte{3}, 32), Rate: 10, Burst: 1, Grace: 5 * time.Second, Now: c.now})
	from := addr("192.0.2.1")
	d := w.Join("r", Arrival{Token: "", From: from, Paid: true})
	if !d.Lobby || d.Token == "" {
		t.Fatalf("join before the start = %+v", d)
	}
	c.add(time.Hour)
	if !w.Holds("r", d.Token, from) || w.Holds("r", d.Token, addr("192.0.2.2")) {
		t.Fatal("a lobby token taken after a puzzle holds its place for its address only, however long before the start")
	}
	w.Join("r", Arrival{Token: d.Token, From: from}) // it polls
	start := c.t
	// One holder: its turn is within 1/Rate of the start.
	w.Join("r", Arrival{Live: true, Started: start, From: addr("192.0.2.9"), Paid: true})
	c.add(100 * time.Millisecond)
	if got := w.Join("r", Arrival{Live: true, Started: start, Token: d.Token, From: from, HolderOnly: true}); !got.Admit {
		t.Fatalf("lobby token 0.1 s after the start = %+v", got)
	}
	if w.Holds("r", d.Token, from) {
		t.Fatal("a used lobby token still holds a place")
	}
	// Another lobby token, never presented after the start: it expires with its turn.
	d2 := w.Join("other", Arrival{From: from})
	w.Join("other", Arrival{Live: true, Started: start, From: addr("192.0.2.9")})
	if !w.Holds("other", d2.Token, from) {
		t.Fatal("lobby token lost its place at the start")
	}
	c.add(6 * time.Second)
	if w.Holds("other", d2.Token, from) {
		t.Fatal("lobby token past its turn's grace still holds a place")
	}
}

func TestLimiterPeekTakesNothing(t *testing.T) {
	c := newClock()
	l := NewLimiter(LimiterConfig{PerIP: Rate{PerSecond: 1, Burst: 2}, PerPrefix: Rate{PerSecond: 10, Burst: 3}, Now: c.now})
	for range 5 {
		if ok, _ := l.Peek(addr("10.0.0.1")); !ok {
			t.Fatal("Peek on a full bucket refused")
		}
	}
	allow(l, "10.0.0.1")
	allow(l, "10.0.0.1")
	if ok, retry := l.Peek(addr("10.0.0.1")); ok || retry <= 0 || retry > time.Second {
		t.Fatalf("Peek after the burst = %v, %v; want refused with retry in (0,1s]", ok, retry)
	}
	allow(l, "10.0.0.2") // the /24's third token
	if ok, _ := l.Peek(addr("10.0.0.3")); ok {
		t.Fatal("Peek passed an address whose /24 is spent")
	}
}
