// Package overload tells the audience plane how loaded the process is and
// keeps floods of connections from exhausting it.
//
// A Detector samples real signals a few times a second: goroutine scheduling
// delay (runtime/metrics /sched/latencies:seconds, the p99 of the last
// interval), process CPU (getrusage against GOMAXPROCS), and the audience
// port's connection use against its cap (file descriptors), and the waiting
// room's backlog (a join flood shows there first). Each signal maps
// to a Level; the Detector's level is the highest, raised at once and lowered
// one step at a time after a quiet hold, so shedding does not flap. CPU and
// scheduling delay alone raise the level only while the audience is actually
// pressing (audience requests above a floor): a busy neighbour process
// or a compile on the same box does not make listeners solve puzzles.
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
