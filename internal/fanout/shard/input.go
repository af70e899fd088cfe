package shard

import (
	"syscall"
	"time"
)

// Client input readiness: a WebSocket listener may send pings or a close
// frame, but almost never does, and a read that finds nothing costs as
// much as a chunk write. So each shard watches its talking listeners with
// one edge-triggered epoll instance and, once per round, asks it (one
// epoll_wait with no timeout) which of them sent something; only those are
// read. A listener whose input did not fit in one readClient is read again
// next round (no new edge comes for bytes already there), and every
// listener is still read every inputSafetyRead in case of a missed edge.
// Without epoll (it failed to set up) every talking listener is read every
// clientReadEvery, as before.

// inputSafetyRead is how often a watched listener's input is read anyway.
const inputSafetyRead = 10 * time.Second

// inputs is a shard's epoll watch over its talking listeners.
type inputs struct {
	ep     int // -1: none (not set up yet, or failed)
	failed bool
	byFD   map[int32]*listener
	events []syscall.EpollEvent
}

// watch starts watching l's input and marks l watched; without an epoll
// l stays unwatched and is read every clientReadEvery.
func (sh *shard) watch(l *listener) {
	in := &sh.inputs
	if in.ep < 0 {
		if in.failed {
			return
		}
		ep, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
		if err != nil {
			in.failed = true
			sh.e.cfg.Logger.Warn("shard: no epoll for client input; reading it every second", "err", err)
			return
		}
		in.ep, in.byFD, in.events = ep, make(map[int32]*listener), make([]syscall.EpollEvent, 128)
	}
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN | syscall.EPOLLRDHUP | epollET, Fd: l.fd}
	if err := syscall.EpollCtl(in.ep, syscall.EPOLL_CTL_ADD, int(l.fd), &ev); err != nil {
		return
	}
	in.byFD[l.fd] = l
	l.watched = true
}

// epollET is EPOLLET as the unsigned event mask (syscall declares it negative).
const epollET = 1 << 31

// unwatch stops watching l (before its descriptor is closed).
func (sh *shard) unwatch(l *listener) {
	in := &sh.inputs
	if in.ep < 0 || in.byFD[l.fd] != l {
		return
	}
	delete(in.byFD, l.fd)
	_ = syscall.EpollCtl(in.ep, syscall.EPOLL_CTL_DEL, int(l.fd), nil)
}

// pollInputs marks the watched listeners that sent something as due for a read.
func (sh *shard) pollInputs() {
	in := &sh.inputs
	if in.ep < 0 || len(in.byFD) == 0 {
		return
	}
	for {
		n, err := syscall.EpollWait(in.ep, in.events, 0)
		if err != nil {
			return // EINTR: the next round asks again
		}
		for _, ev := range in.events[:n] {
			if l := in.byFD[ev.Fd]; l != nil {
				l.nextRead = 0
				l.g.dirty = true
			}
		}
		if n < len(in.events) {
			return
		}
	}
}

// closeInputs releases the shard's epoll instance.
func (sh *shard) closeInputs() {
	if sh.inputs.ep >= 0 {
		syscall.Close(sh.inputs.ep)
		sh.inputs.ep = -1
		sh.inputs.byFD = nil
	}
}
