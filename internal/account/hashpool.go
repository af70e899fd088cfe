package account

import (
	"context"
	"runtime"
	"time"
)

// Password hashing pool defaults (Config.HashSlots, HashQueue, HashWait).
const (
	// DefaultHashQueue is how many requests may wait for a hashing slot
	// beyond those hashing; one more is answered ErrBusy at once.
	DefaultHashQueue = 32
	// DefaultHashWait is the longest a request waits for a slot before it
	// is answered ErrBusy.
	DefaultHashWait = 2 * time.Second
)

// DefaultHashSlots is how many passwords are hashed at once by default:
// half the cores the Go scheduler may use, at least one, so a login flood
// leaves the rest to the mixer and the fan-out.
func DefaultHashSlots() int { return max(1, runtime.GOMAXPROCS(0)/2) }

// hashPool bounds password hashing: at most len(slots) hashes run at once
// (argon2id memory is then slots × cost), at most len(queue) requests are
// admitted (hashing or waiting), and none waits longer than wait. A request
// refused by either bound gets ErrBusy; nothing it holds grows with the load.
type hashPool struct {
	slots chan struct{} // a token per hash running
	queue chan struct{} // a token per request hashing or waiting; full: busy at once
	wait  time.Duration
	hook  func() // tests: called in the slot, before each hash
}

func newHashPool(slots, queue int, wait time.Duration) *hashPool {
	if slots <= 0 {
		slots = DefaultHashSlots()
	}
	if queue <= 0 {
		queue = DefaultHashQueue
	}
	if wait <= 0 {
		wait = DefaultHashWait
	}
	return &hashPool{slots: make(chan struct{}, slots), queue: make(chan struct{}, slots+queue), wait: wait}
}

// queued reports whether requests are waiting for a slot (every slot is
// hashing and more have come): the pool is the bottleneck, so strangers
// should prove work before they join the queue.
func (p *hashPool) queued() bool { return len(p.queue) > cap(p.slots) }

// do runs f (a hash or a check) in a slot, or answers ErrBusy when the
// queue is full or no slot frees up within the wait, or ctx's error when
// the caller goes away first (busy too: nobody reads the answer).
func (p *hashPool) do(ctx context.Context, f func()) error {
	select {
	case p.queue <- struct{}{}:
	default:
		return ErrBusy
	}
	defer func() { <-p.queue }()
	select {
	case p.slots <- struct{}{}:
	default:
		t := time.NewTimer(p.wait)
		defer t.Stop()
		select {
		case p.slots <- struct{}{}:
		case <-t.C:
			return ErrBusy
		case <-ctx.Done():
			return ErrBusy
		}
	}
	defer func() { <-p.slots }()
	if p.hook != nil {
		p.hook()
	}
	f()
	return nil
}
