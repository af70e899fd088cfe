package testkit

import (
	"syscall"
	"time"
)

// ProcessCPU is this process's user + system CPU time so far (getrusage),
// for benchmarks that report CPU per unit of work.
func ProcessCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// ContextSwitches is this process's context switches so far, voluntary
// and involuntary (getrusage).
func ContextSwitches() int64 {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return ru.Nvcsw + ru.Nivcsw
}
