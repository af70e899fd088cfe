package httpapi

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"majlis/internal/admission"
	"majlis/internal/apierror"
	"majlis/internal/overload"
)

// guardAnswer is an answer of the guard (or of the handler behind it).
type guardAnswer struct {
	status int
	retry  string
	Error  struct{ Code string }
	Queue  struct {
		Token  string
		WaitMS int64 `json:"wait_ms"`
	}
	PoW struct{ Challenge string }
}

func answerOf(t *testing.T, rec *httptest.ResponseRecorder) guardAnswer {
	t.Helper()
	a := guardAnswer{status: rec.Code, retry: rec.Header().Get("Retry-After")}
	if strings.HasPrefix(rec.Header().Get("Content-Type"), "application/json") {
		if err := json.Unmarshal(rec.Body.Bytes(), &a); err != nil {
			t.Fatalf("answer %d %q: %v", rec.Code, rec.Body, err)
		}
	}
	return a
}

// serve sends one request from addr (host only) through h.
func serve(t *testing.T, h http.Handler, method, target, addr string, hdr map[string]string, body io.Reader) guardAnswer {
	t.Helper()
	req := httptest.NewRequest(method, target, body)
	req.RemoteAddr = addr + ":40000"
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return answerOf(t, rec)
}

func testSigner(t *testing.T) *admission.Signer {
	t.Helper()
	s, err := admission.NewSigner(make([]byte, 32), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func ticketFor(t *testing.T, s *admission.Signer, room string) string {
	t.Helper()
	tok, _, err := s.Issue(room)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// blockingNext is a handler that records each request reaching it and
// holds it until released.
type blockingNext struct {
	entered chan string
	release chan struct{}
}

func newBlockingNext() *blockingNext {
	return &blockingNext{entered: make(chan string, 64), release: make(chan struct{})}
}

func (b *blockingNext) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b.entered <- r.URL.Path
	<-b.release
	w.WriteHeader(http.StatusOK)
}

func (b *blockingNext) wait(t *testing.T, n int) {
	t.Helper()
	timeout := time.After(5 * time.Second)
	for range n {
		select {
		case <-b.entered:
		case <-timeout:
			t.Fatalf("%d requests expected at the handler, fewer arrived", n)
		}
	}
}

// TestInFlightBudget fills the short-request budget with requests the
// handler holds: the next short request is refused 503 overloaded at once,
// while listener and event streams, which the budget does not count, go on
// being served; and streams filling past the budget keep no short request out.
func TestInFlightBudget(t *testing.T) {
	const budget = 4
	tickets := testSigner(t)
	next := newBlockingNext()
	aud := NewAudience(AudienceConfig{Tickets: tickets, Leases: admission.NewLeases(), Overload: overload.New(overload.Config{}), MaxInFlight: budget}, next)
	short := []struct{ method, path string }{
		{"GET", "/api/v1/rooms/r"},
		{"POST", "/api/v1/rooms/r/reactions"},
		{"POST", "/api/v1/rooms/r/hls/heartbeat"},
		{"POST", "/api/v1/rooms/r/join"}, // no waiting room here (an edge): the handler answers
		{"POST", "/api/v1/rooms/r/start"},
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	released := false
	release := func() {
		if !released {
			released = true
			close(next.release)
		}
	}
	defer release()
	async := func(method, target string) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rec := httptest.NewRecorder()
			aud.ServeHTTP(rec, httptest.NewRequest(method, target, nil))
		}()
	}
	for i := range budget {
		async(short[i].method, short[i].path)
	}
	next.wait(t, budget)
	for _, s := range short {
		res := make(chan *httptest.ResponseRecorder, 1)
		wg.Add(1)
		go func() {
			defer wg.Done()
			rec := httptest.NewRecorder()
			aud.ServeHTTP(rec, httptest.NewRequest(s.method, s.path, nil))
			res <- rec
		}()
		select {
		case rec := <-res:
			a := answerOf(t, rec)
			if a.status != http.StatusServiceUnavailable || a.Error.Code != "overloaded" || a.retry == "" {
				t.Fatalf("%s %s with the budget full = %d %q (Retry-After %q), want 503 overloaded with Retry-After", s.method, s.path, a.status, a.Error.Code, a.retry)
			}
		case p := <-next.entered:
			t.Fatalf("%s reached the handler with the budget full", p)
		case <-time.After(5 * time.Second):
			t.Fatalf("%s %s with the budget full: no answer", s.method, s.path)
		}
	}
	// Streams are not counted: they reach the handler with the budget full;
	// nor are HLS GETs, which may wait for a part like a stream.
	async("GET", "/api/v1/rooms/r/events")
	async("GET", "/api/v1/rooms/r/listen.ogg?t="+ticketFor(t, tickets, "r"))
	async("GET", "/api/v1/rooms/r/listen.ws?t="+ticketFor(t, tickets, "r"))
	async("GET", "/api/v1/rooms/r/hls/tok/media.m3u8?_HLS_msn=9")
	next.wait(t, 4)
	release()
	wg.Wait()
	if a := serve(t, aud, "GET", "/api/v1/rooms/r", "192.0.2.1", nil, nil); a.status != http.StatusOK {
		t.Fatalf("short request after the budget emptied = %d %q", a.status, a.Error.Code)
	}

	// Streams beyond the budget's size take none of it.
	next = newBlockingNext()
	released = false
	aud = NewAudience(AudienceConfig{Tickets: tickets, Leases: admission.NewLeases(), Overload: overload.New(overload.Config{}), MaxInFlight: budget}, next)
	for range budget + 2 {
		async("GET", "/api/v1/rooms/r/events")
		async("GET", "/api/v1/rooms/r/listen.ogg?t="+ticketFor(t, tickets, "r"))
	}
	next.wait(t, 2*(budget+2))
	for i := range budget {
		async(short[i].method, short[i].path)
	}
	next.wait(t, budget)
}

// TestInFlightBudgetDefault: a guard built with no MaxInFlight applies the
// documented default of 256: 256 short requests held by the handler all get
// in, and the 257th is refused 503 overloaded with Retry-After.
func TestInFlightBudgetDefault(t *testing.T) {
	const want = 256
	next := newBlockingNext()
	aud := NewAudience(AudienceConfig{Tickets: testSigner(t), Leases: admission.NewLeases(), Overload: overload.New(overload.Config{})}, next)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer close(next.release)
	for range want {
		wg.Go(func() {
			aud.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/api/v1/rooms/r", nil))
		})
	}
	next.wait(t, want)
	res := make(chan *httptest.ResponseRecorder, 1)
	wg.Go(func() {
		rec := httptest.NewRecorder()
		aud.ServeHTTP(rec, httptest.NewRequest("GET", "/api/v1/rooms/r", nil))
		res <- rec
	})
	select {
	case rec := <-res:
		if a := answerOf(t, rec); a.status != http.StatusServiceUnavailable || a.Error.Code != "overloaded" || a.retry == "" {
			t.Fatalf("request %d = %d %q (Retry-After %q), want 503 overloaded with Retry-After", want+1, a.status, a.Error.Code, a.retry)
		}
	case <-next.entered:
		t.Fatalf("request %d reached the handler: the default budget is above %d", want+1, want)
	case <-time.After(5 * time.Second):
		t.Fatalf("request %d: no answer", want+1)
	}
}

// TestShedByLevel pins the overload level and checks the shedding order:
// reactions from elevated, event requests from high, listeners, HLS
// playlists and parts (the HLS handler sheds by answering blocking reloads
// at once and refusing new HLS sessions: hls tests) and other requests never.
func TestShedByLevel(t *testing.T) {
	tickets := testSigner(t)
	det := overload.New(overload.Config{})
	var reached atomic.Int64
	aud := NewAudience(AudienceConfig{Tickets: tickets, Leases: admission.NewLeases(), Overload: det},
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			reached.Add(1)
			w.WriteHeader(http.StatusOK)
		}))
	type route struct {
		name, method, path string
		shedFrom           overload.Level // overload.Critical + 1: never
	}
	never := overload.Critical + 1
	routes := []route{
		{"events stream", "GET", "/api/v1/rooms/r/events", overload.High},
		{"events poll", "GET", "/api/v1/rooms/r/events?since=3", overload.High},
		{"reaction", "POST", "/api/v1/rooms/r/reactions", overload.Elevated},
		{"HLS playlist", "GET", "/api/v1/rooms/r/hls/index.m3u8", never},
		{"HLS part", "GET", "/api/v1/rooms/r/hls/part-12.m4s", never},
		{"listener ogg", "GET", "/api/v1/rooms/r/listen.ogg", never},
		{"listener ws", "GET", "/api/v1/rooms/r/listen.ws", never},
		{"room", "GET", "/api/v1/rooms/r", never},
	}
	for _, level := range []overload.Level{overload.Normal, overload.Elevated, overload.High, overload.Critical} {
		det.Force(level)
		for _, rt := range routes {
			target := rt.path
			if strings.HasPrefix(rt.name, "listener") {
				target += "?t=" + ticketFor(t, tickets, "r")
			}
			before := reached.Load()
			a := serve(t, aud, rt.method, target, "192.0.2.1", nil, nil)
			passed := reached.Load() > before
			if level >= rt.shedFrom {
				if passed || a.status != http.StatusServiceUnavailable || a.Error.Code != "shed" || a.retry == "" {
					t.Errorf("%s at %v = %d %q (Retry-After %q, reached the handler %v), want 503 shed with Retry-After",
						rt.name, level, a.status, a.Error.Code, a.retry, passed)
				}
			} else if !passed || a.status != http.StatusOK {
				t.Errorf("%s at %v = %d %q, want it served", rt.name, level, a.status, a.Error.Code)
			}
		}
	}
}

// TestBodyReadBeforeBudget: a request whose body trickles in holds no
// in-flight slot while it does; once in, the handler gets the whole body;
// a body over the cap is refused 413.
func TestBodyReadBeforeBudget(t *testing.T) {
	bodies := make(chan string, 4)
	aud := NewAudience(AudienceConfig{Overload: overload.New(overload.Config{}), MaxInFlight: 1},
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			b, _ := io.ReadAll(r.Body)
			bodies <- string(b)
			w.WriteHeader(http.StatusOK)
		}))
	pr, pw := io.Pipe()
	defer pw.Close()
	done := make(chan *httptest.ResponseRecorder, 1)
	go func() {
		rec := httptest.NewRecorder()
		aud.ServeHTTP(rec, httptest.NewRequest("POST", "/api/v1/login", pr))
		done <- rec
	}()
	if _, err := pw.Write([]byte(`{"name":`)); err != nil { // the guard is reading it
		t.Fatal(err)
	}
	// The only slot is free for others meanwhile.
	if a := serve(t, aud, "POST", "/api/v1/rooms/r/join", "192.0.2.2", nil, strings.NewReader(`{}`)); a.status != http.StatusOK {
		t.Fatalf("request while another's body trickles = %d %q, want 200", a.status, a.Error.Code)
	}
	if b := <-bodies; b != `{}` {
		t.Fatalf("handler got body %q", b)
	}
	pw.Write([]byte(`"x"}`))
	pw.Close()
	select {
	case rec := <-done:
		if rec.Code != http.StatusOK {
			t.Fatalf("trickled request = %d %s", rec.Code, rec.Body)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("trickled request not answered")
	}
	if b := <-bodies; b != `{"name":"x"}` {
		t.Fatalf("handler got the trickled body as %q", b)
	}
	a := serve(t, aud, "POST", "/api/v1/login", "192.0.2.1", nil, strings.NewReader(strings.Repeat("x", maxAudienceBody+1)))
	if a.status != http.StatusRequestEntityTooLarge || a.Error.Code != "body_too_large" || len(bodies) != 0 {
		t.Fatalf("body over the cap = %d %q, want 413 body_too_large before the handler", a.status, a.Error.Code)
	}
}

// TestShedBeforeBody: a request the overload level sheds is refused before
// its body is read (a trickling body costs no read), with Connection: close
// so the unread rest is not read either.
func TestShedBeforeBody(t *testing.T) {
	det := overload.New(overload.Config{})
	det.Force(overload.Elevated)
	aud := NewAudience(AudienceConfig{Overload: det}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Error("a shed reaction reached the handler")
	}))
	pr, pw := io.Pipe()
	defer pw.Close()
	done := make(chan *httptest.ResponseRecorder, 1)
	go func() {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest("POST", "/api/v1/rooms/r/reactions", pr)
		req.ContentLength = 100
		aud.ServeHTTP(rec, req)
		done <- rec
	}()
	go pw.Write([]byte(`{"emoji":`)) // and no more: it returns only if the guard reads it
	select {
	case rec := <-done:
		if rec.Code != http.StatusServiceUnavailable || !strings.Contains(rec.Body.String(), `"shed"`) || rec.Header().Get("Connection") != "close" {
			t.Fatalf("shed reaction with its body unsent = %d %v %s, want 503 shed with Connection: close", rec.Code, rec.Header(), rec.Body)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a shed reaction waited for its body")
	}
}

// TestBearerFailuresLimited: requests whose bearer token fails (401) are
// counted per address and per /24; beyond the budget the address is refused
// 429 rate_limited before the handler looks its token up, until the bucket
// refills. Good tokens cost no budget.
func TestBearerFailuresLimited(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	var lookups atomic.Int64
	aud := NewAudience(AudienceConfig{
		Overload: overload.New(overload.Config{}),
		AuthFailures: admission.NewLimiter(admission.LimiterConfig{
			PerIP: admission.Rate{PerSecond: 1, Burst: 3}, PerPrefix: admission.Rate{PerSecond: 1, Burst: 5}, Now: clock}),
	}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if bearer(r) != "" {
			lookups.Add(1)
		}
		if r.URL.Path == "/api/v1/rooms/r/events" {
			// Streams flush through the guard's writer.
			if err := http.NewResponseController(w).Flush(); err != nil {
				t.Errorf("flush through the guard: %v", err)
			}
		}
		if tok := bearer(r); tok != "" && tok != "good" {
			apierror.Write(w, errUnauthorized)
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"ok": "yes"})
	}))
	send := func(addr, tok string) guardAnswer {
		return serve(t, aud, "POST", "/api/v1/rooms/r/start", addr, map[string]string{"Authorization": "Bearer " + tok}, nil)
	}
	for i := range 3 {
		if a := send("192.0.2.1", "junk"); a.status != http.StatusUnauthorized {
			t.Fatalf("junk token %d = %d %q, want 401 from the handler", i, a.status, a.Error.Code)
		}
	}
	for _, tok := range []string{"junk", "good"} {
		before := lookups.Load()
		a := send("192.0.2.1", tok)
		if a.status != http.StatusTooManyRequests || a.Error.Code != "rate_limited" || a.retry == "" || lookups.Load() != before {
			t.Fatalf("token %q after 3 failures = %d %q (Retry-After %q), want 429 rate_limited before any lookup", tok, a.status, a.Error.Code, a.retry)
		}
	}
	// The /24 has 2 failures left; then its other addresses are refused too.
	send("192.0.2.2", "junk")
	send("192.0.2.3", "junk")
	if a := send("192.0.2.4", "junk"); a.status != http.StatusTooManyRequests || a.Error.Code != "rate_limited" {
		t.Fatalf("junk from a /24 over its budget = %d %q, want 429 rate_limited", a.status, a.Error.Code)
	}
	// Another network's good and bad tokens are its own; good ones are free.
	for range 10 {
		if a := send("198.51.100.1", "good"); a.status != http.StatusOK {
			t.Fatalf("good token elsewhere = %d %q", a.status, a.Error.Code)
		}
	}
	if a := serve(t, aud, "GET", "/api/v1/rooms/r/events", "198.51.100.1", map[string]string{"Authorization": "Bearer good"}, nil); a.status != http.StatusOK {
		t.Fatalf("event stream with a good token = %d %q", a.status, a.Error.Code)
	}
	// Requests without a token are not the limiter's business.
	if a := serve(t, aud, "GET", "/api/v1/rooms/r", "192.0.2.1", nil, nil); a.status != http.StatusOK {
		t.Fatalf("request without a token from a limited address = %d %q", a.status, a.Error.Code)
	}
	mu.Lock()
	now = now.Add(3 * time.Second)
	mu.Unlock()
	if a := send("192.0.2.1", "good"); a.status != http.StatusOK {
		t.Fatalf("good token after the refill = %d %q", a.status, a.Error.Code)
	}
}

// joinGuard is an audience guard admitting joins to one live room, with the
// waiting room on a test clock; next answers 200 with a ticket.
type joinGuard struct {
	aud   *Audience
	det   *overload.Detector
	room  string
	mu    sync.Mutex
	clock time.Time
}

func newJoinGuard(t *testing.T, rate float64) *joinGuard {
	t.Helper()
	st, rm := liveStoreRoom(t, "replay")
	key := make([]byte, 32)
	g := &joinGuard{det: overload.New(overload.Config{}), room: rm.ID, clock: time.Now()}
	wide := admission.Rate{PerSecond: 1e6, Burst: 1e6}
	g.aud = NewAudience(AudienceConfig{
		Rooms:    storePeeker{st},
		Tickets:  testSigner(t),
		Waiting:  admission.NewWaitingRoom(admission.WaitingConfig{Key: key, Rate: rate, Burst: 1, Now: g.now}),
		PoW:      admission.NewPoW(key),
		Joins:    admission.NewLimiter(admission.LimiterConfig{PerIP: wide, PerPrefix: wide}),
		Leases:   admission.NewLeases(),
		Overload: g.det,
		PoWBits:  [3]int{4, 4, 4}, // cheap to solve: the policy is what this tests
	}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"ticket": "t"})
	}))
	return g
}

func (g *joinGuard) now() time.Time { g.mu.Lock(); defer g.mu.Unlock(); return g.clock }

func (g *joinGuard) advance(d time.Duration) { g.mu.Lock(); g.clock = g.clock.Add(d); g.mu.Unlock() }

func (g *joinGuard) join(t *testing.T, addr string, hdr map[string]string) guardAnswer {
	t.Helper()
	return serve(t, g.aud, "POST", "/api/v1/rooms/"+g.room+"/join", addr, hdr, nil)
}

// TestQueueTokenReplayNeedsPoW: under elevated load a queue token exempts
// its holder from the puzzle only while it holds a place: replayed after
// its admission, or from another address than the one that solved the
// puzzle for it, it is answered pow_required.
func TestQueueTokenReplayNeedsPoW(t *testing.T) {
	g := newJoinGuard(t, 1)
	g.det.Force(overload.Elevated)
	const holder, other = "192.0.2.1", "198.51.100.9"
	paidJoin := func(addr string, hdr map[string]string) guardAnswer {
		t.Helper()
		a := g.join(t, addr, hdr)
		if a.status != http.StatusTooManyRequests || a.Error.Code != "pow_required" || a.PoW.Challenge == "" {
			t.Fatalf("join without work at elevated = %d %q, want pow_required", a.status, a.Error.Code)
		}
		h := map[string]string{HeaderPoW: admission.Solve(a.PoW.Challenge)}
		for k, v := range hdr {
			h[k] = v
		}
		return g.join(t, addr, h)
	}
	if a := paidJoin(holder, nil); a.status != http.StatusOK {
		t.Fatalf("first paid join (the burst) = %d %q", a.status, a.Error.Code)
	}
	q := paidJoin(holder, nil)
	if q.status != http.StatusTooManyRequests || q.Error.Code != "queued" || q.Queue.Token == "" {
		t.Fatalf("second paid join = %d %q, want queued", q.status, q.Error.Code)
	}
	tok := map[string]string{HeaderQueue: q.Queue.Token}
	// Its holder retries early without work: still its place.
	if a := g.join(t, holder, tok); a.Error.Code != "queued" || a.Queue.Token != q.Queue.Token {
		t.Fatalf("holder early = %d %q, want queued with the same token", a.status, a.Error.Code)
	}
	// The token taken elsewhere exempts no one.
	if a := g.join(t, other, tok); a.Error.Code != "pow_required" {
		t.Fatalf("token from another address = %d %q, want pow_required", a.status, a.Error.Code)
	}
	g.advance(time.Duration(q.Queue.WaitMS) * time.Millisecond)
	if a := g.join(t, holder, tok); a.status != http.StatusOK {
		t.Fatalf("holder at its turn = %d %q, want 200", a.status, a.Error.Code)
	}
	// Used: replayed, by its holder or anyone, it is no exemption.
	for _, addr := range []string{holder, other} {
		if a := g.join(t, addr, tok); a.status != http.StatusTooManyRequests || a.Error.Code != "pow_required" {
			t.Fatalf("used token replayed from %s = %d %q, want pow_required", addr, a.status, a.Error.Code)
		}
	}
	// Paying again with the used token is a new arrival (a new place).
	if a := paidJoin(holder, tok); a.Error.Code != "queued" || a.Queue.Token == q.Queue.Token {
		t.Fatalf("used token with a new puzzle = %d %q, want a new place", a.status, a.Error.Code)
	}

	// A token taken at normal load (no puzzle) expires like any: past its
	// turn's grace it exempts no one either.
	g.det.Force(overload.Normal)
	g.advance(time.Minute)
	g.join(t, other, nil) // the burst
	n := g.join(t, other, nil)
	if n.Error.Code != "queued" || n.Queue.Token == "" {
		t.Fatalf("join at normal beyond the rate = %d %q, want queued", n.status, n.Error.Code)
	}
	g.det.Force(overload.Elevated)
	g.advance(time.Duration(n.Queue.WaitMS)*time.Millisecond + time.Minute)
	if a := g.join(t, other, map[string]string{HeaderQueue: n.Queue.Token}); a.Error.Code != "pow_required" {
		t.Fatalf("expired token at elevated = %d %q, want pow_required", a.status, a.Error.Code)
	}
}
