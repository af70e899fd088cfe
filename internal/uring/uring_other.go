//go:build !(linux && (amd64 || arm64))

package uring

import "errors"

// ErrUnsupported is returned by New when the kernel offers no usable io_uring.
var ErrUnsupported = errors.New("io_uring unavailable")

// Ring is not available on this platform.
type Ring struct{}

// New always fails here.
func New(entries uint32) (*Ring, error) { return nil, ErrUnsupported }

// Close does nothing.
func (r *Ring) Close() error { return nil }

// Entries is zero.
func (r *Ring) Entries() int { return 0 }

// Send always fails here.
func (r *Ring) Send(fds []int32, bufs [][]byte, res []int32) error { return ErrUnsupported }
