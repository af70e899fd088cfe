package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"majlis/internal/admission"
	"majlis/internal/httpapi"
	"majlis/internal/live"
	"majlis/internal/metrics"
	"majlis/internal/overload"
	"majlis/internal/proxyproto"
	"majlis/internal/room"
)

// AdmissionConfig configures the audience plane's defences and the separate
// stage plane (docs/operations.md). Zero fields take the defaults in parentheses.
type AdmissionConfig struct {
	// TrustedProxies are the reverse proxies (CIDRs or addresses) whose
	// X-Forwarded-For, -Host, -Proto or Forwarded are believed (httpapi.Proxies).
	TrustedProxies []string
	// ProxyProtocol requires the PROXY protocol header (v1 or v2) from
	// the trusted proxies on the public ports (audience and stage) and
	// takes the client's address from it (internal/proxyproto), before
	// the connection caps count it. Other peers are never read for one.
	ProxyProtocol bool
	// StageHTTPAddr, when set, serves the stage plane (WHIP, host and stage
	// members' API) on its own listener, accept queue, connection cap and
	// http.Server, apart from the audience port (--http).
	StageHTTPAddr string
	JoinRate      float64 // joins admitted per room per second at full health (100)
	JoinBurst     float64 // joins admitted at once when nobody waits (JoinRate)
	// AudienceMaxConns caps open connections on the audience port (RLIMIT_NOFILE − 1024);
	// AudienceConnsPerIP caps them per source address (256: carrier-grade NAT puts many people behind one address).
	AudienceMaxConns    int
	AudienceConnsPerIP  int
	AudienceConnsPerNet int // per /24 or /48 (4 × AudienceConnsPerIP)
	// AudienceAcceptRate bounds new audience connections per second (2000);
	// the kernel backlog holds the excess (operations.md: size it with somaxconn).
	AudienceAcceptRate float64
	StageMaxConns      int             // stage port cap (1024)
	JoinsPerIP         admission.Rate  // join token bucket per address (5/s, burst 20)
	JoinsPerPrefix     admission.Rate  // per /24 or /48 (100/s, burst 500)
	ReactionsPerIP     admission.Rate  // (5/s, burst 20)
	ReactionsPerPrefix admission.Rate  // (200/s, burst 1000)
	Overload           overload.Config // detector thresholds
	// PoWBits is the puzzle difficulty at the elevated, high and critical
	// levels (16, 18, 20); RateFactor scales the admission rate there (0.5, 0.25, 0.1).
	PoWBits    [3]int
	RateFactor [3]float64
	// ForceLevel pins the overload level from start (tests, an operator
	// expecting an attack); negative or zero means measured.
	ForceLevel overload.Level

	// AuthFailuresPerIP and AuthFailuresPerPrefix budget the audience port's
	// requests whose bearer token failed (401): beyond them an address is
	// refused 429 before its next token lookup (1/s, burst 10; 10/s, burst 100).
	AuthFailuresPerIP, AuthFailuresPerPrefix admission.Rate

	// ReportsPerIP and ReportsPerPrefix bound notices (POST /api/v1/reports)
	// per address and per /24 or /48 (0.1/s, burst 5; 1/s, burst 50).
	ReportsPerIP, ReportsPerPrefix admission.Rate
}

// planes holds the audience plane's guard and the stage plane's server.
type planes struct {
	audience  *httpapi.Audience
	handler   http.Handler // the audience port's: the guard behind the trusted proxies' rewriting
	detector  *overload.Detector
	audLn     *overload.Listener
	audPP     *proxyproto.Listener // under audLn, with ProxyProtocol
	stagePP   *proxyproto.Listener // under stageLn, with ProxyProtocol
	stageLn   net.Listener
	stageSrv  *http.Server
	stageTLS  *tls.Config // the stage port's TLS, as the audience port's (nil: none)
	reactions *admission.Limiter
	cancel    context.CancelFunc
	wg        sync.WaitGroup
}

// Defaults of AdmissionConfig's zero fields (config.Default uses them too).
const (
	DefaultAudienceConnsPerIP = 256
	DefaultAudienceAcceptRate = 2000
)

// Default join buckets; read only.
var (
	DefaultJoinsPerIP     = admission.Rate{PerSecond: 5, Burst: 20}
	DefaultJoinsPerPrefix = admission.Rate{PerSecond: 100, Burst: 500}

	// Notices: a few from one address, a burst of a classroom's from one network.
	DefaultReportsPerIP     = admission.Rate{PerSecond: 0.1, Burst: 5}
	DefaultReportsPerPrefix = admission.Rate{PerSecond: 1, Burst: 50}

	DefaultAuthFailuresPerIP     = admission.Rate{PerSecond: 1, Burst: 10}
	DefaultAuthFailuresPerPrefix = admission.Rate{PerSecond: 10, Burst: 100}
)

func orRate(r, def admission.Rate) admission.Rate {
	if r.PerSecond <= 0 {
		return def
	}
	return r
}

// audienceDeps is what the audience plane guards: the same on an origin and
// an edge, except that only an origin admits joins (it has rooms and a
// store; an edge's listeners join at the origin).
type audienceDeps struct {
	ln      net.Listener // the bound audience port
	ac      AdmissionConfig
	met     *metrics.Metrics
	tickets *admission.Signer
	key     []byte        // the shared ticket key: waiting-room and PoW tokens agree across processes
	next    http.Handler  // the API (origin) or the listen path (edge)
	rooms   *room.Service // nil on an edge: no joins there
	live    *live.Manager
	proxies httpapi.Proxies
}

// roomPeeker keeps a nil *room.Service a nil interface (an edge's guard then admits no joins).
func roomPeeker(r *room.Service) httpapi.RoomPeeker {
	if r == nil {
		return nil
	}
	return r
}

// newAudiencePlane wraps the bound audience listener in its caps and builds
// the audience guard: one listen path, one set of defences for both roles.
func newAudiencePlane(d audienceDeps) *planes {
	ac := d.ac
	p := &planes{}
	perIP := ac.AudienceConnsPerIP
	if perIP <= 0 {
		perIP = DefaultAudienceConnsPerIP
	}
	acceptRate := ac.AudienceAcceptRate
	if acceptRate <= 0 {
		acceptRate = DefaultAudienceAcceptRate
	}
	ln := d.ln
	if ac.ProxyProtocol {
		// Under the caps: they count the client the header names.
		p.audPP = proxyproto.NewListener(ln, proxyproto.Config{Trusted: d.proxies.Trusts})
		ln = p.audPP
	}
	p.audLn = overload.NewListener(ln, overload.ListenerConfig{Max: ac.AudienceMaxConns, PerIP: perIP, PerPrefix: ac.AudienceConnsPerNet, AcceptRate: acceptRate})
	oc := ac.Overload
	oc.ConnUse = func() (int, int) { return p.audLn.Open(), p.audLn.Max() }
	var waiting *admission.WaitingRoom
	if d.rooms != nil {
		waiting = admission.NewWaitingRoom(admission.WaitingConfig{Key: d.key, Rate: ac.JoinRate, Burst: ac.JoinBurst})
		oc.Backlog = waiting.Backlog
	}
	p.detector = overload.New(oc)
	if ac.ForceLevel > 0 {
		p.detector.Force(ac.ForceLevel)
	}
	p.reactions = admission.NewLimiter(admission.LimiterConfig{
		PerIP:     orRate(ac.ReactionsPerIP, admission.Rate{PerSecond: 5, Burst: 20}),
		PerPrefix: orRate(ac.ReactionsPerPrefix, admission.Rate{PerSecond: 200, Burst: 1000})})
	p.audience = httpapi.NewAudience(httpapi.AudienceConfig{
		Rooms:   roomPeeker(d.rooms),
		Tickets: d.tickets,
		Waiting: waiting,
		PoW:     admission.NewPoW(d.key),
		Joins: admission.NewLimiter(admission.LimiterConfig{
			PerIP:     orRate(ac.JoinsPerIP, DefaultJoinsPerIP),
			PerPrefix: orRate(ac.JoinsPerPrefix, DefaultJoinsPerPrefix)}),
		Reactions:      p.reactions,
		Leases:         admission.NewLeases(),
		Overload:       p.detector,
		Live:           d.live,
		Metrics:        d.met,
		PoWBits:        ac.PoWBits,
		StageElsewhere: ac.StageHTTPAddr != "",
		RateFactor:     ac.RateFactor,
		AuthFailures: admission.NewLimiter(admission.LimiterConfig{
			PerIP:     orRate(ac.AuthFailuresPerIP, DefaultAuthFailuresPerIP),
			PerPrefix: orRate(ac.AuthFailuresPerPrefix, DefaultAuthFailuresPerPrefix)}),
		Reports: admission.NewLimiter(admission.LimiterConfig{
			PerIP:     orRate(ac.ReportsPerIP, DefaultReportsPerIP),
			PerPrefix: orRate(ac.ReportsPerPrefix, DefaultReportsPerPrefix)}),
		// An HLS player beats every 10 s: 30/s is a NAT of 300 players.
		Heartbeats: admission.NewLimiter(admission.LimiterConfig{
			PerIP:     admission.Rate{PerSecond: 30, Burst: 60},
			PerPrefix: admission.Rate{PerSecond: 300, Burst: 600}}),
	}, d.next)
	p.handler = d.proxies.Wrap(p.audience)
	p.register(d.met.Registry)
	return p
}

// newPlanes builds the origin's planes: the audience plane over the bound
// public port and, when configured, the stage plane's own listener.
func (s *Server) newPlanes(key []byte, tickets *admission.Signer) error {
	ac := s.cfg.Admission
	proxies, err := httpapi.ParseProxies(ac.TrustedProxies)
	if err != nil {
		return err
	}
	p := newAudiencePlane(audienceDeps{ln: s.httpLn, ac: ac, met: s.met, tickets: tickets, key: key, next: s.api, rooms: s.rooms, live: s.live, proxies: proxies})
	s.httpLn = p.audLn
	if ac.StageHTTPAddr != "" {
		ln, err := net.Listen("tcp", ac.StageHTTPAddr)
		if err != nil {
			return fmt.Errorf("stage listen: %w", err)
		}
		max := ac.StageMaxConns
		if max <= 0 {
			max = 1024
		}
		var inner net.Listener = ln
		if ac.ProxyProtocol {
			p.stagePP = proxyproto.NewListener(ln, proxyproto.Config{Trusted: proxies.Trusts})
			inner = p.stagePP
		}
		p.stageLn = overload.NewListener(inner, overload.ListenerConfig{Max: max, PerIP: max, PerPrefix: max})
		// The stage port limits failed bearer tokens too, on a budget of its own.
		stageAuth := admission.NewLimiter(admission.LimiterConfig{
			PerIP:     orRate(ac.AuthFailuresPerIP, DefaultAuthFailuresPerIP),
			PerPrefix: orRate(ac.AuthFailuresPerPrefix, DefaultAuthFailuresPerPrefix)})
		p.stageSrv = publicServer(proxies.Wrap(httpapi.StageOnly(s.api, stageAuth)), s.log)
		p.stageTLS = tlsOf(s.certs)
	}
	s.planes = p
	return nil
}

// register exports the audience plane's gauges.
func (p *planes) register(reg *prometheus.Registry) {
	reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "majlis_overload_level", Help: "Audience overload level: 0 normal, 1 elevated, 2 high, 3 critical."},
			func() float64 { return float64(p.detector.Level()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "majlis_audience_conns", Help: "Open connections on the audience port."},
			func() float64 { return float64(p.audLn.Open()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "majlis_audience_conns_refused_total", Help: "Audience connections closed at accept for being over a cap."},
			func() float64 { return float64(p.audLn.Refused()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "majlis_sched_latency_p99_seconds", Help: "Goroutine scheduling delay p99 over the last overload sample."},
			func() float64 { return p.detector.Signals().SchedP99.Seconds() }),
		// The other inputs of the level, to tune the thresholds against (docs/operations.md).
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "majlis_overload_cpu_share", Help: "Process CPU as a share of GOMAXPROCS over the last overload sample."},
			func() float64 { return p.detector.Signals().CPU }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "majlis_audience_requests_per_second", Help: "Audience requests per second over the last overload sample."},
			func() float64 { return p.detector.Signals().RPS }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "majlis_overload_pressure", Help: "Level CPU and scheduling delay ask for in the last sample (0-3); it raises the level once held for the sustain time."},
			func() float64 { return float64(p.detector.Signals().Pressure) }),
	)
	if p.audPP != nil {
		reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "majlis_proxy_headers_rejected_total",
			Help: "Connections from trusted proxies closed for a missing, malformed or late PROXY protocol header (audience and stage ports)."},
			func() float64 {
				n := p.audPP.Rejected()
				if p.stagePP != nil {
					n += p.stagePP.Rejected()
				}
				return float64(n)
			}))
	}
}

// http2Limits bounds HTTP/2 (used when TLS is terminated here): streams per
// connection and header table sizes.
func http2Limits() *http.HTTP2Config {
	return &http.HTTP2Config{MaxConcurrentStreams: 100, MaxDecoderHeaderTableSize: 4096, MaxEncoderHeaderTableSize: 4096,
		MaxReadFrameSize: 16 << 10, MaxReceiveBufferPerConnection: 1 << 20, MaxReceiveBufferPerStream: 256 << 10}
}

// servePlanes starts the overload detector and the stage server.
func (s *Server) servePlanes(errc chan<- error) { s.planes.serve(errc) }

// serve starts the overload detector and the stage server (if any).
func (p *planes) serve(errc chan<- error) {
	ctx, cancel := context.WithCancel(context.Background())
	p.cancel = cancel
	p.wg.Add(1)
	go func() { defer p.wg.Done(); p.detector.Run(ctx) }()
	if p.stageSrv != nil {
		go func() { errc <- servePort(p.stageSrv, p.stageLn, p.stageTLS) }()
	}
}

// shutdownPlanes stops what servePlanes started.
func (s *Server) shutdownPlanes(ctx context.Context) { s.planes.shutdown(ctx, s.log) }

// shutdown stops what serve started.
func (p *planes) shutdown(ctx context.Context, log *slog.Logger) {
	if p.stageSrv != nil {
		if err := p.stageSrv.Shutdown(ctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
			log.Debug("stage shutdown", "err", err)
		}
	}
	if p.cancel != nil {
		p.cancel()
	}
	p.wg.Wait()
}

// closeListeners releases the stage listener when Serve never ran.
func (p *planes) closeListeners() {
	if p != nil && p.stageLn != nil {
		p.stageLn.Close()
	}
}
