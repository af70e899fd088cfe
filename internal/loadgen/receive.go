package loadgen

import (
	"context"
	"errors"
	"io"
	"time"
)

// stream is one listener once its response head has come: all the receive
// loop keeps of it (a few hundred bytes: the verifier and framing state).
type stream struct {
	v      Verifier
	ogg    oggStream
	ws     wsStream
	isWS   bool
	fd     int   // the socket, owned by the receive loop (-1: closed)
	bytes  int64 // read after the response head
	proto  string
	remote string
	out    *Result // where the verdict goes
	done   func()  // called once the verdict is written
}

func newStream(proto, remote string, began time.Time, tolerance time.Duration, out *Result, done func()) *stream {
	return &stream{v: *NewVerifier(began, tolerance), isWS: proto == "ws", fd: -1, proto: proto, remote: remote, out: out, done: done}
}

// feed parses the next body bytes, read at now; w takes ping answers.
func (s *stream) feed(p []byte, now time.Time, w io.Writer) error {
	s.bytes += int64(len(p))
	if s.isWS {
		return s.ws.feed(p, now, &s.v, w)
	}
	return s.ogg.feed(p, now, &s.v)
}

// eof is why the stream ended when the connection reached its end.
func (s *stream) eof() error {
	if s.isWS {
		return s.ws.eof()
	}
	return s.ogg.eof()
}

// fail writes the verdict of a listener that never got a stream.
func (s *stream) fail(msg string) {
	*s.out = Result{Proto: s.proto, Remote: s.remote, Err: msg}
	s.done()
}

// finish writes the verdict of a joined listener whose stream ended with
// err (io.EOF: a clean end); when ctx is done the run ended at end instead.
func (s *stream) finish(ctx context.Context, err error, end time.Time) {
	at := time.Now()
	if ctx.Err() != nil {
		at, err = end, nil // the run ended, not the stream
	}
	r := s.v.Finish(at)
	r.Proto, r.Remote, r.Joined, r.Bytes = s.proto, s.remote, true, s.bytes
	if err != nil && !errors.Is(err, io.EOF) {
		r.Err = err.Error()
	} else if err != nil {
		r.Err = "stream ended before the run"
	}
	*s.out = r
	s.done()
}
