package httpapi

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"

	"majlis/internal/admission"
	"majlis/internal/apierror"
	"majlis/internal/live"
	"majlis/internal/metrics"
	"majlis/internal/overload"
	"majlis/internal/room"
)

// Admission headers (docs/api.md, "Admission").
const (
	HeaderPoW   = "Majlis-Pow"   // "<challenge>:<solution>"
	HeaderQueue = "Majlis-Queue" // a queue token from an earlier 429/409
	// HeaderShed is set on requests reaching the handlers while the process
	// sheds event detail and reactions (level ≥ elevated): handlers may send less.
	HeaderShed = "Majlis-Shed"
	// maxAudienceBody bounds every request body on the audience port.
	maxAudienceBody = 64 << 10
	// bodyReadTimeout bounds reading a request body (at most maxAudienceBody),
	// which the guard does before the request takes an in-flight slot.
	bodyReadTimeout = 10 * time.Second
	roomCacheTTL    = time.Second
	roomCacheMax    = 10000
	powBacklog      = 2 * time.Second
)

// AudienceConfig holds the audience plane's admission dependencies.
type AudienceConfig struct {
	Rooms     RoomPeeker // nil on an edge: no joins there
	Tickets   *admission.Signer
	Waiting   *admission.WaitingRoom
	PoW       *admission.PoW
	Joins     *admission.Limiter // per-IP and per-prefix join buckets
	Reactions *admission.Limiter // per-IP and per-prefix reaction buckets (nil: not limited here)
	Leases    *admission.Leases
	Overload  *overload.Detector
	Live      *live.Manager // seen live here means started: a cached "scheduled" is stale
	Metrics   *metrics.Metrics
	// PoWBits is the puzzle difficulty at Elevated, High and Critical (16, 18, 20).
	PoWBits [3]int
	// RateFactor scales the admission rate at Elevated, High and Critical (0.5, 0.25, 0.1).
	RateFactor [3]float64
	// StageElsewhere says the stage plane has its own port (--stage-http):
	// the audience port then refuses WHIP and start/end outright, so junk
	// aimed at them costs no token lookup.
	StageElsewhere bool
	// MaxInFlight bounds the audience's short requests (joins, API reads,
	// reactions, polls) being handled at once: the audience's goroutine
	// budget; beyond it requests get 503 at once (256). A request takes its
	// slot once its body is read (slow senders hold none). Streams (listen,
	// events) are bounded by the connection cap instead.
	MaxInFlight int
	// AuthFailures counts, per IP and per prefix, requests whose bearer token
	// failed (answered 401): an address out of budget is refused 429 before
	// its next token lookup (nil: not limited).
	AuthFailures *admission.Limiter
	// Heartbeats limits HLS players' heartbeats per address and prefix (nil: not limited here).
	Heartbeats *admission.Limiter
	// Reports limits notices (POST /api/v1/reports) per address and prefix
	// (nil: not limited here); under load, a notice without credentials
	// also pays the proof of work.
	Reports *admission.Limiter
}

// RoomPeeker reads a room's record without loading it (room.Service.Peek).
type RoomPeeker interface {
	Peek(ctx context.Context, id string) (room.Info, error)
}

// Audience guards the audience plane: it sits in front of the API on the
// audience port and applies, per request, the limits and the shedding order
// (internal/overload): reactions and event detail first, joins through the
// waiting room (rate, queue, proof of work), polling next, existing
// listeners never. The stage plane does not go through it.
type Audience struct {
	cfg      AudienceConfig
	next     http.Handler
	inFlight chan struct{} // a slot per short request being handled; full: 503

	mu    sync.Mutex
	rooms map[string]cachedRoom
}

// Room states as the guard compares them (its handlers name their room id "room").
const (
	roomLive  = room.StateLive
	roomEnded = room.StateEnded
)

type cachedRoom struct {
	state   string
	started time.Time
	at      time.Time
}

// NewAudience wraps next (the API) with the audience guard.
func NewAudience(cfg AudienceConfig, next http.Handler) *Audience {
	if cfg.PoWBits == [3]int{} {
		cfg.PoWBits = [3]int{16, 18, 20}
	}
	if cfg.RateFactor == [3]float64{} {
		cfg.RateFactor = [3]float64{0.5, 0.25, 0.1}
	}
	if cfg.MaxInFlight <= 0 {
		cfg.MaxInFlight = 256
	}
	return &Audience{cfg: cfg, next: next, rooms: make(map[string]cachedRoom), inFlight: make(chan struct{}, cfg.MaxInFlight)}
}

// ClientAddr is the request's source address (the TCP peer; majlis does not
// trust forwarding headers: put limits on the proxy when there is one).
func ClientAddr(r *http.Request) netip.Addr {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}

// audienceRoute classifies a path of the audience plane.
type audienceRoute int

const (
	routeOther audienceRoute = iota
	routeJoin
	routeListen
	routeReaction
	routeEvents
	routePoll  // HLS playlists and parts
	routeStage // WHIP, start, end: the stage plane
	// routeReplay: recording.ogg, its HLS VOD rendition and clips' audio, files a player may hold
	// open for long: outside the in-flight budget, shed at high load.
	routeReplay
	// routeReport: notices and their status (/api/v1/reports…): the
	// audience's, never the stage plane's.
	routeReport
)

func classify(r *http.Request) (audienceRoute, string) {
	p := r.URL.Path
	if strings.HasPrefix(p, apiPrefix+"/clips/") && strings.HasSuffix(p, ".ogg") {
		return routeReplay, ""
	}
	if p == apiPrefix+"/reports" || strings.HasPrefix(p, apiPrefix+"/reports/") {
		return routeReport, ""
	}
	if !strings.HasPrefix(p, apiPrefix+"/rooms/") {
		return routeOther, ""
	}
	rest := p[len(apiPrefix+"/rooms/"):]
	id, tail, _ := strings.Cut(rest, "/")
	switch {
	case tail == "join" && r.Method == http.MethodPost:
		return routeJoin, id
	case tail == "listen.ogg" || tail == "listen.ws":
		return routeListen, id
	case tail == "recording.ogg" || tail == "recording.m3u8" || strings.HasPrefix(tail, "recording/hls/"):
		return routeReplay, id
	case strings.HasPrefix(tail, "reactions"):
		return routeReaction, id
	case strings.HasPrefix(tail, "events"):
		return routeEvents, id
	case strings.HasPrefix(tail, "hls/") || strings.HasSuffix(tail, ".m3u8"):
		return routePoll, id
	case tail == "whip" || strings.HasPrefix(tail, "whip/") || tail == "start" || tail == "end":
		return routeStage, id
	}
	return routeOther, id
}

var errBodyTimeout = errorf(http.StatusRequestTimeout, "body_timeout", "the request body did not arrive whole in time")

func (a *Audience) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	a.cfg.Overload.Request()
	level := a.cfg.Overload.Level()
	route, room := classify(r)
	r.Header.Del(HeaderShed)
	if level >= overload.Elevated {
		r.Header.Set(HeaderShed, level.String())
	}
	if route == routeStage && a.cfg.StageElsewhere {
		apierror.Write(w, errStageElsewhere)
		return
	}
	conn := w // the server's own writer: the body reader marks it on a body too large
	// Listen paths take a ticket, never a bearer token (and need the
	// connection's own writer: they hijack it).
	if route != routeListen {
		gw, done, ok := authFailureGate(a.cfg.AuthFailures, w, r, func(retry time.Duration) {
			a.refuse(w, http.StatusTooManyRequests, "rate_limited", errAuthFailuresMessage, retry, nil)
		})
		if !ok {
			return
		}
		defer done()
		w = gw
	}
	// Refusals that need no body come before it is read: a shed or
	// rate-limited request costs no body read and holds no slot.
	if a.refuseEarly(w, r, route, level) || !a.readBody(conn, r) {
		return
	}
	// HLS GETs may wait for a part (at most three target durations): like
	// streams they are bounded by the connection caps, not by this budget.
	if route != routeListen && route != routeEvents && route != routeReplay && !(route == routePoll && r.Method == http.MethodGet) {
		select {
		case a.inFlight <- struct{}{}:
			defer func() { <-a.inFlight }()
		default:
			a.refuse(w, http.StatusServiceUnavailable, "overloaded", "the server is busy; retry after Retry-After", time.Second, nil)
			return
		}
	}
	switch route {
	case routeJoin:
		a.join(w, r, room, level)
		return
	case routeListen:
		a.listen(w, r, room)
		return
	}
	a.next.ServeHTTP(w, r)
}

// refuseEarly answers the refusals decided by the route and the overload
// level alone (shedding, per-address rate limits), before the body is read;
// true means it answered. A refused request's unread body closes its
// connection rather than being read.
func (a *Audience) refuseEarly(w http.ResponseWriter, r *http.Request, route audienceRoute, level overload.Level) bool {
	refuse := func(status int, code, msg string, retry time.Duration) bool {
		if r.ContentLength != 0 {
			w.Header().Set("Connection", "close")
		}
		a.refuse(w, status, code, msg, retry, nil)
		return true
	}
	switch route {
	case routeReaction:
		if level >= overload.Elevated {
			return refuse(http.StatusServiceUnavailable, "shed", "reactions are paused while the server is under load", 5*time.Second)
		}
		if a.cfg.Reactions != nil && r.Method == http.MethodPost {
			if ok, retry := a.cfg.Reactions.Allow(ClientAddr(r)); !ok {
				return refuse(http.StatusTooManyRequests, "rate_limited", "too many reactions from your network", retry)
			}
		}
	case routeEvents:
		// A stream already open goes on; new polls and streams wait.
		if level >= overload.High {
			return refuse(http.StatusServiceUnavailable, "shed", "event updates are paused while the server is under load", 5*time.Second)
		}
	case routeReplay:
		if level >= overload.High {
			return refuse(http.StatusServiceUnavailable, "shed", "replays and clips are paused while the server is under load", 5*time.Second)
		}
	case routeReport:
		if r.Method == http.MethodPost && !a.admitReport(w, r, level) {
			return true
		}
	case routePoll:
		// At high load the HLS handler answers blocking reloads at once and
		// refuses new HLS sessions (hls.go); parts are never shed.
		if r.Method == http.MethodPost && a.cfg.Heartbeats != nil {
			if ok, retry := a.cfg.Heartbeats.Allow(ClientAddr(r)); !ok {
				return refuse(http.StatusTooManyRequests, "rate_limited", "too many HLS heartbeats from your network", retry)
			}
		}
	}
	return false
}

// readBody reads the request's body (at most maxAudienceBody, within
// bodyReadTimeout) into memory and hands it on in r.Body: a request takes
// its in-flight slot only with its body in hand, so connections trickling a
// body hold a goroutine and the bytes they sent, but no slot. false means
// the body was too large or did not arrive, and that was answered.
func (a *Audience) readBody(w http.ResponseWriter, r *http.Request) bool {
	if r.Body == nil || r.Body == http.NoBody {
		return true
	}
	rc := http.NewResponseController(w)
	// A writer without deadlines (a test recorder) leaves the server's ReadTimeout alone.
	deadline := rc.SetReadDeadline(time.Now().Add(bodyReadTimeout)) == nil
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxAudienceBody))
	if deadline {
		// The body is in: no deadline for the rest (the server sets the next request's).
		rc.SetReadDeadline(time.Time{})
	}
	if err != nil {
		ae := errBodyTimeout
		if mbe := (*http.MaxBytesError)(nil); errors.As(err, &mbe) {
			ae = errBodyTooLarge
		}
		if a.cfg.Metrics != nil {
			a.cfg.Metrics.HTTPErrors.WithLabelValues(ae.Code).Inc()
		}
		apierror.Write(w, ae)
		return false
	}
	r.Body = http.NoBody
	if len(b) > 0 {
		r.Body = io.NopCloser(bytes.NewReader(b))
	}
	return true
}

const errAuthFailuresMessage = "too many requests with a bad token from your network"

// authFailureGate limits failed bearer tokens per address (lim; nil: no
// limit): a request with a bearer token from an address over its budget
// is refused (refuse) before any token lookup, and one answered 401 spends
// from the budget when done runs. It returns the writer to serve with.
func authFailureGate(lim *admission.Limiter, w http.ResponseWriter, r *http.Request, refuse func(retry time.Duration)) (http.ResponseWriter, func(), bool) {
	if lim == nil || bearer(r) == "" {
		return w, func() {}, true
	}
	addr := ClientAddr(r)
	if ok, retry := lim.Peek(addr); !ok {
		refuse(retry)
		return nil, nil, false
	}
	sw := &statusWriter{ResponseWriter: w}
	return sw, func() {
		if sw.status == http.StatusUnauthorized {
			lim.Allow(addr)
		}
	}, true
}

// statusWriter notes the status answered (the bearer-failure count).
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection (flushes, deadlines).
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// refuse answers an admission error with Retry-After and optional extra JSON fields.
func (a *Audience) refuse(w http.ResponseWriter, status int, code, msg string, retry time.Duration, extra map[string]any) {
	if a.cfg.Metrics != nil {
		a.cfg.Metrics.HTTPErrors.WithLabelValues(code).Inc()
	}
	// Every refusal of the guard asks the client to come back (at least 1 s).
	apierror.Write(w, &apierror.Error{Status: status, Code: code, Message: msg, RetryAfter: max(retry, time.Nanosecond), Extra: extra})
}

// listen verifies a listener's ticket (the only verification of the
// request), takes the ticket's one-connection lease and hands both to the
// listen path in the request's context.
func (a *Audience) listen(w http.ResponseWriter, r *http.Request, room string) {
	t, err := a.cfg.Tickets.Verify(r.URL.Query().Get("t"), room)
	if err != nil {
		ae := toAPIError(err)
		if a.cfg.Metrics != nil {
			a.cfg.Metrics.HTTPErrors.WithLabelValues(ae.Code).Inc()
		}
		apierror.Write(w, ae)
		return
	}
	l := &streamLease{ticket: t}
	if a.cfg.Leases != nil {
		release, ok := a.cfg.Leases.Acquire(t.Nonce)
		if !ok {
			a.refuse(w, http.StatusConflict, "ticket_in_use", "this ticket already has a listener connected; join again for another", time.Second, nil)
			return
		}
		l.release = release
	}
	a.next.ServeHTTP(w, r.WithContext(withLease(r.Context(), l)))
	if !l.detached.Load() {
		l.end()
	}
}

func (a *Audience) join(w http.ResponseWriter, r *http.Request, room string, level overload.Level) {
	if a.cfg.Waiting == nil { // no joins here (an edge): the handler answers
		a.next.ServeHTTP(w, r)
		return
	}
	if ok, retry := a.cfg.Joins.Allow(ClientAddr(r)); !ok {
		a.refuse(w, http.StatusTooManyRequests, "rate_limited", "too many joins from your network", retry, nil)
		return
	}
	qtok := r.Header.Get(HeaderQueue)
	from := ClientAddr(r)
	holds := a.cfg.Waiting.Holds(room, qtok, from)
	rm, err := a.room(r.Context(), room, holds)
	if err != nil || rm.state == roomEnded {
		a.next.ServeHTTP(w, r) // 404, 410 or a store error: the API answers
		return
	}
	live := rm.state == roomLive
	factor := 1.0
	if level > overload.Normal {
		factor = a.cfg.RateFactor[min(int(level), 3)-1]
	}
	// A room whose queue already holds more than powBacklog of turns taxes
	// arrivals at once, without waiting for the detector's next sample: a
	// join flood that takes turns and never comes back books little.
	powLevel := level
	if powLevel == overload.Normal && a.cfg.Waiting.RoomBacklog(room) > powBacklog {
		powLevel = overload.Elevated
	}
	arr := admission.Arrival{Live: live, Started: rm.started, Token: qtok, From: from, Factor: factor}
	bits := 0
	if powLevel > overload.Normal {
		bits = a.cfg.PoWBits[min(int(powLevel), 3)-1]
	}
	if bits > 0 {
		// Proof of work: for arrivals, not for people holding their place
		// (a queue token not used yet, bound to them if they paid for it).
		switch {
		case holds:
			arr.HolderOnly = true
		case a.cfg.PoW.Verify(r.Header.Get(HeaderPoW), bits) == nil:
			arr.Paid = true
		default:
			a.refusePoW(w, bits)
			return
		}
	}
	d := a.cfg.Waiting.Join(room, arr)
	if d.NeedPoW { // the token's place went to a concurrent request with it
		a.refusePoW(w, bits)
		return
	}
	queue := func(state string) map[string]any {
		return map[string]any{"queue": map[string]any{"token": d.Token, "position": d.Position, "wait_ms": d.Wait.Milliseconds(), "state": state}}
	}
	switch {
	case d.Admit:
		a.next.ServeHTTP(w, r)
	case d.Lobby:
		a.refuse(w, http.StatusConflict, "room_not_live", "the room has not started yet; keep the queue token and join again", d.Wait, queue("lobby"))
	case d.Full:
		a.refuse(w, http.StatusServiceUnavailable, "queue_full", "the waiting room is full; try again later", d.Wait, queue("full"))
	default:
		a.refuse(w, http.StatusTooManyRequests, "queued", "you are in the waiting room; join again with the Majlis-Queue header after Retry-After", d.Wait, queue("waiting"))
	}
}

// refusePoW asks for a puzzle of bits.
func (a *Audience) refusePoW(w http.ResponseWriter, bits int) {
	a.refusePoWFor(w, bits, "solve the puzzle and join again with the Majlis-Pow header")
}

func (a *Audience) refusePoWFor(w http.ResponseWriter, bits int, msg string) {
	a.refuse(w, http.StatusTooManyRequests, "pow_required", msg, 0,
		map[string]any{"pow": map[string]any{"algorithm": "sha256-leading-zero-bits", "challenge": a.cfg.PoW.Challenge(bits), "difficulty": bits}})
}

// admitReport applies a notice's limits: the per-address and per-prefix
// report buckets, then, while the server is under load, the proof of work
// for a notice sent without credentials. false means it was refused (and
// answered).
func (a *Audience) admitReport(w http.ResponseWriter, r *http.Request, level overload.Level) bool {
	if a.cfg.Reports != nil {
		if ok, retry := a.cfg.Reports.Allow(ClientAddr(r)); !ok {
			a.refuse(w, http.StatusTooManyRequests, "rate_limited", "too many notices from your network", retry, nil)
			return false
		}
	}
	if level > overload.Normal && !hasCredentials(r) && a.cfg.PoW != nil {
		bits := a.cfg.PoWBits[min(int(level), 3)-1]
		if a.cfg.PoW.Verify(r.Header.Get(HeaderPoW), bits) != nil {
			a.refusePoWFor(w, bits, "solve the puzzle and send the notice again with the Majlis-Pow header (or sign in)")
			return false
		}
	}
	return true
}

// room returns the room's state from a cache, so a join flood costs the
// store one read per room per second. A room not live yet is re-read after
// 200 ms, or 20 ms for people holding a queue token (the lobby waiting for
// the start: at most 50 reads a second per room, whatever the lobby's size).
func (a *Audience) room(ctx context.Context, id string, holder bool) (cachedRoom, error) {
	now := time.Now()
	a.mu.Lock()
	c, ok := a.rooms[id]
	a.mu.Unlock()
	// Live rooms (the flood case) are cached a second; others briefly, so a start is seen at once.
	ttl := roomCacheTTL
	if c.state != room.StateLive {
		ttl = roomCacheTTL / 5
		if holder {
			ttl = roomCacheTTL / 50
		}
	}
	if ok && now.Sub(c.at) < ttl && !(c.state == room.StateScheduled && a.cfg.Live != nil && a.cfg.Live.Get(id) != nil) {
		return c, nil
	}
	rm, err := a.cfg.Rooms.Peek(ctx, id)
	if err != nil {
		return cachedRoom{}, err
	}
	c = cachedRoom{state: rm.State, started: rm.StartedAt, at: now}
	a.mu.Lock()
	if len(a.rooms) >= roomCacheMax {
		clear(a.rooms)
	}
	a.rooms[id] = c
	a.mu.Unlock()
	return c, nil
}

// StageOnly serves the stage plane (--stage-http): everything but the
// audience's endpoints (join, listen streams, notices), which live on the audience port.
// Failed bearer tokens are limited per address there too (authFailures;
// nil: not limited), with a budget of the stage port's own.
func StageOnly(next http.Handler, authFailures *admission.Limiter) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if route, _ := classify(r); route == routeJoin || route == routeListen || route == routeReport {
			apierror.Write(w, errAudienceElsewhere)
			return
		}
		gw, done, ok := authFailureGate(authFailures, w, r, func(retry time.Duration) {
			apierror.Write(w, errorf(http.StatusTooManyRequests, "rate_limited", errAuthFailuresMessage).Retry(max(retry, time.Nanosecond)))
		})
		if !ok {
			return
		}
		defer done()
		next.ServeHTTP(gw, r)
	})
}
