//go:build linux && (amd64 || arm64)

// Package uring sends many small buffers to many sockets with few system
// calls, through a minimal io_uring (Linux 5.6+): a batch of non-blocking
// sends is queued in shared memory and handed to the kernel with one
// io_uring_enter, which runs each send at once and posts its result.
//
// It does only that: IORING_OP_SEND with MSG_DONTWAIT, issued and reaped
// synchronously by one goroutine at a time. A send that would block
// completes at once with EAGAIN (MSG_DONTWAIT marks the request no-wait, so
// the kernel never parks it for later), and a short send completes with the
// bytes it took, so a batch never leaves work behind in the kernel.
package uring

import (
	"errors"
	"fmt"
	"runtime"
	"sync/atomic"
	"syscall"
	"unsafe"
)

const (
	sysSetup = 425 // io_uring_setup, the same number on amd64 and arm64
	sysEnter = 426

	opSend         = 26     // IORING_OP_SEND
	enterGetEvents = 1 << 0 // IORING_ENTER_GETEVENTS
	setupSubmitAll = 1 << 7 // IORING_SETUP_SUBMIT_ALL
	featSingleMMap = 1 << 0 // IORING_FEAT_SINGLE_MMAP
	featNoDrop     = 1 << 1 // IORING_FEAT_NODROP
	offSQRing      = 0      // IORING_OFF_SQ_RING
	offCQRing      = 0x8000000
	offSQEs        = 0x10000000
	msgDontWait    = 0x40   // MSG_DONTWAIT
	msgNoSignal    = 0x4000 // MSG_NOSIGNAL
)

// params is struct io_uring_params.
type params struct {
	sqEntries, cqEntries, flags, sqThreadCPU, sqThreadIdle, features, wqFD uint32
	resv                                                                   [3]uint32
	sqOff                                                                  sqOffsets
	cqOff                                                                  cqOffsets
}

type sqOffsets struct {
	head, tail, ringMask, ringEntries, flags, dropped, array, resv1 uint32
	userAddr                                                        uint64
}

type cqOffsets struct {
	head, tail, ringMask, ringEntries, overflow, cqes, flags, resv1 uint32
	userAddr                                                        uint64
}

// sqe is struct io_uring_sqe (64 bytes).
type sqe struct {
	opcode      uint8
	flags       uint8
	ioprio      uint16
	fd          int32
	off         uint64
	addr        uint64
	len         uint32
	msgFlags    uint32
	userData    uint64
	bufIndex    uint16
	personality uint16
	spliceFDIn  int32
	addr3       uint64
	pad         uint64
}

// cqe is struct io_uring_cqe (16 bytes).
type cqe struct {
	userData uint64
	res      int32
	flags    uint32
}

// Ring is one io_uring. Send may be called by one goroutine at a time.
type Ring struct {
	fd      int
	entries uint32

	ringMem []byte // SQ and CQ rings (one mapping, or the SQ one)
	cqMem   []byte // the CQ ring when not shared
	sqeMem  []byte

	sqHead, sqTail, sqMask *uint32
	sqArray                []uint32
	sqes                   []sqe
	cqHead, cqTail, cqMask *uint32
	cqes                   []cqe
}

// ErrUnsupported is returned by New when the kernel offers no usable io_uring.
var ErrUnsupported = errors.New("io_uring unavailable")

// New sets up a ring for batches of up to entries sends (a power of two, ≤ 4096).
func New(entries uint32) (*Ring, error) {
	if entries == 0 || entries > 4096 || entries&(entries-1) != 0 {
		return nil, fmt.Errorf("uring: entries %d: want a power of two up to 4096", entries)
	}
	var p params
	p.flags = setupSubmitAll
	fd, _, e := syscall.Syscall(sysSetup, uintptr(entries), uintptr(unsafe.Pointer(&p)), 0)
	if e == syscall.EINVAL {
		// Older kernels refuse SUBMIT_ALL; our batches never fail at
		// submission (bad descriptors fail in their completions).
		p = params{}
		fd, _, e = syscall.Syscall(sysSetup, uintptr(entries), uintptr(unsafe.Pointer(&p)), 0)
	}
	switch e {
	case 0:
	case syscall.ENOSYS, syscall.EPERM, syscall.EACCES:
		// No io_uring in this kernel, or disabled (kernel.io_uring_disabled, seccomp).
		return nil, fmt.Errorf("%w: io_uring_setup: %v", ErrUnsupported, e)
	default: // EMFILE, ENOMEM…: this ring, not the kernel
		return nil, fmt.Errorf("uring: io_uring_setup: %w", e)
	}
	r := &Ring{fd: int(fd), entries: p.sqEntries}
	if err := r.mmap(&p); err != nil {
		r.Close()
		return nil, err
	}
	if p.features&featNoDrop == 0 {
		r.Close()
		return nil, fmt.Errorf("%w: kernel too old (no IORING_FEAT_NODROP)", ErrUnsupported)
	}
	return r, nil
}

func (r *Ring) mmap(p *params) error {
	sqSize := int(p.sqOff.array + p.sqEntries*4)
	cqSize := int(p.cqOff.cqes + p.cqEntries*uint32(unsafe.Sizeof(cqe{})))
	single := p.features&featSingleMMap != 0
	if single {
		sqSize = max(sqSize, cqSize)
	}
	var err error
	prot, flags := syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_SHARED|syscall.MAP_POPULATE
	if r.ringMem, err = syscall.Mmap(r.fd, offSQRing, sqSize, prot, flags); err != nil {
		return fmt.Errorf("uring: mmap sq ring: %w", err)
	}
	cqMem := r.ringMem
	if !single {
		if r.cqMem, err = syscall.Mmap(r.fd, offCQRing, cqSize, prot, flags); err != nil {
			return fmt.Errorf("uring: mmap cq ring: %w", err)
		}
		cqMem = r.cqMem
	}
	sqeSize := int(p.sqEntries) * int(unsafe.Sizeof(sqe{}))
	if r.sqeMem, err = syscall.Mmap(r.fd, offSQEs, sqeSize, prot, flags); err != nil {
		return fmt.Errorf("uring: mmap sqes: %w", err)
	}
	u32 := func(mem []byte, off uint32) *uint32 { return (*uint32)(unsafe.Pointer(&mem[off])) }
	r.sqHead, r.sqTail, r.sqMask = u32(r.ringMem, p.sqOff.head), u32(r.ringMem, p.sqOff.tail), u32(r.ringMem, p.sqOff.ringMask)
	r.sqArray = unsafe.Slice(u32(r.ringMem, p.sqOff.array), p.sqEntries)
	r.sqes = unsafe.Slice((*sqe)(unsafe.Pointer(&r.sqeMem[0])), p.sqEntries)
	r.cqHead, r.cqTail, r.cqMask = u32(cqMem, p.cqOff.head), u32(cqMem, p.cqOff.tail), u32(cqMem, p.cqOff.ringMask)
	r.cqes = unsafe.Slice((*cqe)(unsafe.Pointer(&cqMem[p.cqOff.cqes])), p.cqEntries)
	return nil
}

// Close releases the ring.
func (r *Ring) Close() error {
	for _, m := range [][]byte{r.sqeMem, r.cqMem, r.ringMem} {
		if m != nil {
			_ = syscall.Munmap(m)
		}
	}
	r.sqeMem, r.cqMem, r.ringMem = nil, nil, nil
	if r.fd >= 0 {
		err := syscall.Close(r.fd)
		r.fd = -1
		return err
	}
	return nil
}

// Entries is the most sends one io_uring_enter carries.
func (r *Ring) Entries() int { return int(r.entries) }

// Send performs one non-blocking send of bufs[i] on socket fds[i] for every
// i, and sets res[i] to the bytes sent, or to minus the errno
// (-EAGAIN: the socket buffer is full). A zero-length buffer is not sent
// (res 0). The slices must have the same length. The error is for the ring
// itself failing, in which case res is not valid.
func (r *Ring) Send(fds []int32, bufs [][]byte, res []int32) error {
	if len(bufs) != len(fds) || len(res) != len(fds) {
		return errors.New("uring: Send: slices of different lengths")
	}
	if r.fd < 0 {
		return errors.New("uring: Send on a closed ring")
	}
	for start := 0; start < len(fds); start += int(r.entries) {
		end := min(start+int(r.entries), len(fds))
		if err := r.batch(fds[start:end], bufs[start:end], res[start:end]); err != nil {
			return err
		}
	}
	runtime.KeepAlive(bufs)
	return nil
}

func (r *Ring) batch(fds []int32, bufs [][]byte, res []int32) error {
	tail := atomic.LoadUint32(r.sqTail)
	mask := *r.sqMask
	queued := uint32(0)
	for i, b := range bufs {
		if len(b) == 0 {
			res[i] = 0
			continue
		}
		idx := (tail + queued) & mask
		r.sqes[idx] = sqe{
			opcode:   opSend,
			fd:       fds[i],
			addr:     uint64(uintptr(unsafe.Pointer(&b[0]))),
			len:      uint32(len(b)),
			msgFlags: msgDontWait | msgNoSignal,
			userData: uint64(i),
		}
		r.sqArray[idx] = idx
		queued++
	}
	if queued == 0 {
		return nil
	}
	atomic.StoreUint32(r.sqTail, tail+queued)
	submitted, done := uint32(0), uint32(0)
	for done < queued {
		toSubmit := queued - submitted
		// RawSyscall: the sends are non-blocking and a batch takes well
		// under a millisecond; the runtime's syscall bookkeeping would
		// have sysmon hand the P around meanwhile, which costs more.
		n, _, e := syscall.RawSyscall6(sysEnter, uintptr(r.fd), uintptr(toSubmit), uintptr(queued-done), enterGetEvents, 0, 0)
		switch e {
		case 0:
			submitted += uint32(n)
		case syscall.EINTR, syscall.EAGAIN, syscall.EBUSY:
			// Nothing consumed (or only completions pending): reap and retry.
		default:
			return fmt.Errorf("uring: io_uring_enter: %w", e)
		}
		done += r.reap(res)
	}
	return nil
}

// reap takes the posted completions into res and returns how many there were.
func (r *Ring) reap(res []int32) uint32 {
	head := atomic.LoadUint32(r.cqHead)
	tail := atomic.LoadUint32(r.cqTail)
	mask := *r.cqMask
	for h := head; h != tail; h++ {
		c := &r.cqes[h&mask]
		if c.userData < uint64(len(res)) {
			res[c.userData] = c.res
		}
	}
	atomic.StoreUint32(r.cqHead, tail)
	return tail - head
}
