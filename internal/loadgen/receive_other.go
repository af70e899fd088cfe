//go:build !linux

package loadgen

import (
	"context"
	"io"
	"net"
	"sync"
	"time"
)

// receiver is the portable receive path: one goroutine per stream with a
// small buffer, feeding the same incremental parsers as the epoll loops.
type receiver struct {
	ctx context.Context
	end time.Time
	wg  sync.WaitGroup
}

// fallbackBufSize is each stream's read buffer on this path.
const fallbackBufSize = 1024

func newReceiver(ctx context.Context, end time.Time) (*receiver, error) {
	return &receiver{ctx: ctx, end: end}, nil
}

func (r *receiver) wait() { r.wg.Wait() }

func (r *receiver) add(conn net.Conn, s *stream) {
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		defer context.AfterFunc(r.ctx, func() { conn.Close() })()
		buf := make([]byte, fallbackBufSize)
		for {
			n, err := conn.Read(buf)
			if n > 0 {
				if perr := s.feed(buf[:n], time.Now(), conn); perr != nil {
					conn.Close()
					s.finish(r.ctx, perr, r.end)
					return
				}
			}
			if err == io.EOF {
				err = s.eof()
			}
			if err != nil {
				conn.Close()
				s.finish(r.ctx, err, r.end)
				return
			}
		}
	}()
}
