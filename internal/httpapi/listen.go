package httpapi

import (
	"context"
	"net/http"
	"sync"
	"sync/atomic"

	"majlis/internal/admission"
	"majlis/internal/fanout"
	"majlis/internal/metrics"
	"majlis/internal/program"
)

// ListenConfig holds the listen path's dependencies.
type ListenConfig struct {
	Tickets  *admission.Signer
	Fanout   *fanout.Hub
	Programs program.Source
	Metrics  *metrics.Metrics
	// Joined, when set, records a listener connection by its ticket nonce
	// (the room's unique-listener count). It must not block: it runs on
	// every listen request.
	Joined func(room string, nonce uint64)
	// Connected, when set, records a listener connection with ticket t
	// (t.User is "" for an anonymous one); remove ends the stream (a
	// block), the func it returns runs when the stream ends. It must not
	// block.
	Connected func(room string, t admission.Ticket, remove func()) (left func())
	// Removed, when set, reports whether the ticket's user was removed
	// from the room (blocked, suspended) after it was issued: the stream is
	// refused 403 listener_removed. It must not block.
	Removed func(room string, t admission.Ticket) bool
	// Events, when set, serves the rooms' event streams here too (an
	// edge: its mirror of the origin's streams, edge.Edge.Subscribe). The
	// func it returns ends the subscription.
	Events func(ctx context.Context, room string, since uint64) (EventSubscription, func(), error)
}

// Listen serves a room's listener streams (listen.ogg, listen.ws) from a
// program.Source, on an origin and on an edge alike. It sits behind the audience guard (Audience), which has
// already verified the ticket and taken its one-connection lease.
type Listen struct{ cfg ListenConfig }

// NewListen returns the listen path.
func NewListen(cfg ListenConfig) *Listen { return &Listen{cfg: cfg} }

// Route registers the listener endpoints on m.
func (l *Listen) Route(m *http.ServeMux) {
	m.HandleFunc("GET /api/v1/rooms/{id}/listen.ogg", l.handle(func(w http.ResponseWriter, r *http.Request, p *program.Program, end func(), stop *fanout.Stop) {
		// The sharded writer keeps no goroutine per listener: this returns
		// at once and end runs when the stream ends.
		l.cfg.Fanout.ServeOggDetached(w, r, p, end, stop)
	}, false))
	m.HandleFunc("GET /api/v1/rooms/{id}/listen.ws", l.handle(func(w http.ResponseWriter, r *http.Request, p *program.Program, end func(), stop *fanout.Stop) {
		l.cfg.Fanout.ServeWSDetached(w, r, p, end, stop)
	}, true))
	if l.cfg.Events != nil {
		m.HandleFunc("GET /api/v1/rooms/{id}/events", l.events)
	}
}

// events streams a room's events from cfg.Events, as the origin's API
// streams them from the room service.
func (l *Listen) events(w http.ResponseWriter, r *http.Request) {
	since, err := parseSince(r)
	if err == nil {
		var sub EventSubscription
		var end func()
		if sub, end, err = l.cfg.Events(r.Context(), r.PathValue("id"), since); err == nil {
			defer end()
			serveEvents(w, r, sub)
			return
		}
	}
	ae := toAPIError(err)
	if l.cfg.Metrics != nil {
		l.cfg.Metrics.HTTPErrors.WithLabelValues(ae.Code).Inc()
	}
	writeAPIError(w, ae)
}

func (l *Listen) handle(serve serveFunc, ws bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := l.listen(w, r, serve, ws); err != nil {
			ae := toAPIError(err)
			if l.cfg.Metrics != nil {
				l.cfg.Metrics.HTTPErrors.WithLabelValues(ae.Code).Inc()
			}
			writeAPIError(w, ae)
		}
	}
}

// serveFunc serves one listener stream; end runs when it ends, stop ends it early.
type serveFunc func(w http.ResponseWriter, r *http.Request, p *program.Program, end func(), stop *fanout.Stop)

func (l *Listen) listen(w http.ResponseWriter, r *http.Request, serve serveFunc, ws bool) error {
	room := r.PathValue("id")
	tk, err := listenTicket(r, l.cfg.Tickets, room)
	if err != nil {
		return err
	}
	if ws && r.Header.Get("Upgrade") == "" {
		return errNotWebSocket
	}
	removed := func() bool { return l.cfg.Removed != nil && tk.User != "" && l.cfg.Removed(room, tk) }
	if removed() {
		return errListenerRemoved
	}
	if l.cfg.Joined != nil {
		l.cfg.Joined(room, tk.Nonce)
	}
	p, release, err := l.cfg.Programs.Acquire(room)
	if err != nil {
		return err
	}
	left := func() {}
	var stop *fanout.Stop
	if l.cfg.Connected != nil {
		stop = fanout.NewStop()
		left = l.cfg.Connected(room, tk, stop.Stop)
	}
	// Asked again once the stream is recorded: a removal meanwhile either
	// finds it among Connected's streams or is seen here.
	if removed() {
		left()
		release()
		return errListenerRemoved
	}
	// One connection per ticket lasts as long as the stream, not the handler.
	endLease := detachLease(r)
	serve(w, r, p, func() { left(); release(); endLease() }, stop)
	return nil
}

// listenTicket is the request's ticket as the audience guard verified it,
// or (without a guard in front) verified here: once per request either way.
func listenTicket(r *http.Request, tickets *admission.Signer, room string) (admission.Ticket, error) {
	if l, _ := r.Context().Value(leaseKey{}).(*streamLease); l != nil {
		return l.ticket, nil
	}
	return tickets.Verify(r.URL.Query().Get("t"), room)
}

// streamLease is a listen request's verified ticket and its lease for one
// listener stream.
type streamLease struct {
	ticket   admission.Ticket
	release  func() // nil: no lease held (no Leases configured)
	detached atomic.Bool
	once     sync.Once
}

func (l *streamLease) end() {
	if l.release != nil {
		l.once.Do(l.release)
	}
}

type leaseKey struct{}

func withLease(ctx context.Context, l *streamLease) context.Context {
	return context.WithValue(ctx, leaseKey{}, l)
}

// detachLease is for a listener handler whose stream outlives it (the
// sharded writer): the ticket's lease is then released by the returned
// func, which must run when the stream ends, instead of when the handler returns.
func detachLease(r *http.Request) (end func()) {
	l, _ := r.Context().Value(leaseKey{}).(*streamLease)
	if l == nil {
		return func() {}
	}
	l.detached.Store(true)
	return l.end
}
