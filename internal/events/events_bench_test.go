package events

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
)

// BenchmarkStreamReaders: one event (a counts event) published to a stream
// and read by every one of R readers, as an origin's events readers read a
// room's stream (room.Subscription): each reader is woken and reads the new
// event, in a new slice per read (Since) or in its own buffer passed back
// each time (SinceInto, what the subscriptions do). ns/op is per event until
// every reader has it.
func BenchmarkStreamReaders(b *testing.B) {
	for _, readers := range []int{1, 1000} {
		for _, into := range []bool{false, true} {
			name := "Since"
			if into {
				name = "SinceInto"
			}
			b.Run(fmt.Sprintf("%s/readers=%d", name, readers), func(b *testing.B) { benchReaders(b, readers, into) })
		}
	}
}

func benchReaders(b *testing.B, readers int, into bool) {
	s := NewStream(0, 0)
	var left atomic.Int64 // reads of the current event still to come
	all := make(chan struct{}, 1)
	var wg sync.WaitGroup
	for range readers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var buf []Item
			var last uint64
			for {
				var r Read
				if into {
					r = s.SinceInto(last, buf)
					buf = r.Events
				} else {
					r = s.Since(last)
				}
				last = r.Last
				if n := int64(len(r.Events)); n > 0 && left.Add(-n) == 0 {
					all <- struct{}{}
				}
				if r.Closed {
					return
				}
				<-r.Wake
			}
		}()
	}
	data := map[string]int{"listeners": 123456, "peak": 234567, "unique": 345678}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		left.Store(int64(readers))
		s.Publish("counts", data)
		<-all
	}
	b.StopTimer()
	s.Close()
	wg.Wait()
}
