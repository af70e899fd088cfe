package cluster

import (
	"errors"
	"fmt"

	"github.com/axiomhq/hyperloglog"
)

// sketch is a HyperLogLog of ticket nonces (axiomhq/hyperloglog at
// precision 14: 16384 registers, a standard error of 1.04/√16384 ≈ 0.81 %,
// 16 KiB encoded at most; sparse, and exact in practice, while small:
// 420 bytes for 100 nonces, 2.8 KiB for 1,000).
type sketch struct{ hll *hyperloglog.Sketch }

func newSketch() *sketch { return &sketch{hll: hyperloglog.New14()} }

// insert adds a ticket nonce. Nonces are random already; mixing them again
// keeps a patterned source from skewing the registers.
func (s *sketch) insert(nonce uint64) { s.hll.InsertHash(mix64(nonce)) }

func (s *sketch) estimate() uint64 { return s.hll.Estimate() }

func (s *sketch) merge(o *sketch) error { return s.hll.Merge(o.hll) }

func (s *sketch) marshal() ([]byte, error) { return s.hll.MarshalBinary() }

// parseSketch decodes a sketch from the network. The library is not
// written for hostile input: a panic in it is a bad message too.
func parseSketch(b []byte) (sk *sketch, err error) {
	if len(b) == 0 || len(b) > maxSketch {
		return nil, bad("sketch size")
	}
	defer func() {
		if r := recover(); r != nil {
			sk, err = nil, fmt.Errorf("%w: sketch: %v", ErrBadMessage, r)
		}
	}()
	h := hyperloglog.New14()
	if err := h.UnmarshalBinary(b); err != nil {
		return nil, errors.Join(ErrBadMessage, err)
	}
	s := &sketch{hll: h}
	// Merging checks the precision; a sketch of another precision is refused.
	if err := newSketch().merge(s); err != nil {
		return nil, errors.Join(ErrBadMessage, err)
	}
	return s, nil
}

// mix64 is SplitMix64's finaliser.
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	return x ^ x>>31
}

// Sketch is an edge's unique-listener count of one room.
type Sketch struct{ s *sketch }

// NewSketch returns an empty sketch.
func NewSketch() *Sketch { return &Sketch{s: newSketch()} }

// Insert adds a listener's ticket nonce. Not safe for concurrent use.
func (s *Sketch) Insert(nonce uint64) { s.s.insert(nonce) }

// Estimate is the estimated number of distinct nonces inserted.
func (s *Sketch) Estimate() uint64 { return s.s.estimate() }

// MarshalBinary encodes the sketch for a SketchReport.
func (s *Sketch) MarshalBinary() ([]byte, error) { return s.s.marshal() }
