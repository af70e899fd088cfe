package program

import "errors"

// Source gives listeners a room's program: the live rooms of an origin
// (live.Manager) or the rooms an edge takes from the cluster (edge.Edge). The listen path
// (httpapi.Listen), its audience guard, leases and caps are the same on both
// roles; only the Source differs.
type Source interface {
	// Acquire returns room's program for one more listener; release must
	// run exactly once, when that listener's stream has ended. An error
	// says why the room cannot be heard here (ErrNotLive, ErrUnavailable).
	Acquire(room string) (p *Program, release func(), err error)
}

// Errors a Source returns.
var (
	// ErrNotLive: the room has no program here (not started, or ended).
	ErrNotLive = errors.New("room not live here")
	// ErrUnavailable: the source takes no listeners now (shutting down).
	ErrUnavailable = errors.New("program source unavailable")
)
