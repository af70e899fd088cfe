// Package overload tells the audience plane how loaded the process is and
// keeps floods of connections from exhausting it.
//
// A Detector samples real signals a few times a second: goroutine scheduling
// delay (runtime/metrics /sched/latencies:seconds, the p99 of the last
// interval), process CPU (getrusage against GOMAXPROCS), and the audience
// port's connection use against its cap (file descriptors), and the waiting
// room's backlog (a join flood shows there first). Each signal maps
// to a Level; the Detector's level is the highest, raised at once and lowered
// one step at a time after a quiet hold, so shedding does not flap.
//
// Proof of work (from Elevated) is for when the process is short of
// capacity, not for a crowd: a surge the process absorbs is not taxed. So
// the request rate never raises the level by itself; CPU and scheduling
// delay do, and only when all of these hold: the audience is pressing
// (requests above a floor, so a compile next door does not count), the
// signal stays at the level for a sustain time (a second: one burst or one
// long collection does not count), CPU is saturated rather than busy (90%
// of GOMAXPROCS), the scheduling delay reaches a mixer frame (20 ms, where
// the stage's ticks start running late), and the delay is the process's own
// (it uses at least half its cores: delay while mostly idle is a neighbour
// taking the machine, and making joiners pay would not give it back).
// Connection use and the waiting room's backlog are the audience's own
// pressure and count at once.
//
// The audience middleware (internal/httpapi) reads Level to decide, in
// order, what to shed: reactions and event detail first, then new joins
// (lower admission rate, proof of work), then polling, and existing
// listeners never. The stage plane does not consult it.
//
// Listener wraps the audience port's net.Listener: it caps open connections
// in total and per source address and closes the excess at once, so
// slowloris and idle-socket floods cannot take the descriptors the stage,
// the store and the mixer need.
package overload
