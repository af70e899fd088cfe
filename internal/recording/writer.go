package recording

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"majlis/internal/program"
)

// writer records one stretch of a room's program: from the moment
// recording was turned on (or the room started) to the moment it was
// turned off, the program closed or the process stopped.
//
// Two goroutines, both owned by the Manager (its WaitGroup) and stopped by
// closing stop or by the program's end: follow reads the program's ring
// like any listener and never blocks; run writes the file. Between them
// the queue is bounded (Config.QueueChunks, 60 s of audio at the smallest
// chunk length by default): when the disk is so slow that it fills, follow
// drops the chunk, counts it (majlis_recording_dropped_chunks_total and
// Meta.Dropped) and goes on. The recording then skips that audio instead
// of the mixer or the listeners ever waiting on the disk.
type writer struct {
	m    *Manager
	e    *entry
	prog *program.Program

	queue chan *program.Chunk
	stop  chan struct{}
	once  sync.Once
	done  chan struct{}

	dropped atomic.Int64

	// Owned by run.
	file, idx Appender
	meta      Meta // the working copy
	buf, ibuf []byte
	nextIdx   int64
	failed    bool
	lastSync  time.Time
}

func (w *writer) halt() { w.once.Do(func() { close(w.stop) }) }

// follow copies the program's chunks into the queue from pos (the live
// edge when recording was turned on) on.
func (w *writer) follow(pos uint64) {
	defer w.m.wg.Done()
	defer close(w.queue)
	// It wakes every FlushEvery, not for every chunk: the ring holds at
	// least 128 chunks (5 s at the shortest), and a recording needs no
	// chunk sooner than its next flush.
	tick := time.NewTicker(w.m.cfg.FlushEvery)
	defer tick.Stop()
	for {
		closed := w.prog.Closed()
		for head := w.prog.Head(); pos < head; pos++ {
			c := w.prog.Chunk(pos)
			if c == nil { // overwritten before this goroutine ran: lost to the recording
				w.drop()
				continue
			}
			select {
			case w.queue <- c:
			default: // full: the disk is behind; see the type's comment
				w.drop()
			}
		}
		if closed {
			return
		}
		select {
		case <-tick.C:
		case <-w.stop:
			return
		}
	}
}

func (w *writer) drop() {
	w.dropped.Add(1)
	w.m.met.dropped.Inc()
}

// run writes the queue to the file until follow closes it.
func (w *writer) run(prev *writer) {
	defer w.m.wg.Done()
	defer close(w.done)
	if prev != nil {
		<-prev.done // the previous stretch finishes the file first
	}
	if err := w.open(); err != nil {
		w.fail(err)
		for range w.queue {
		}
		w.end()
		return
	}
	tick := time.NewTicker(w.m.cfg.FlushEvery)
	defer tick.Stop()
	w.lastSync = time.Now()
	for {
		select {
		case c, ok := <-w.queue:
			if !ok {
				w.flush()
				w.end()
				return
			}
			w.add(c)
		case <-tick.C:
			w.flush()
			if time.Since(w.lastSync) >= w.m.cfg.SyncEvery {
				w.sync()
			}
		}
	}
}

// open starts or resumes the file. The meta says "recording" on disk
// before any audio is appended, so a crash from here on is repaired at the
// next start.
func (w *writer) open() error {
	w.e.mu.Lock()
	w.meta = w.e.meta
	w.e.mu.Unlock()
	meta := &w.meta
	fresh := meta.File == ""
	if fresh {
		meta.File = "recordings/" + meta.Room + "/program.ogg"
		meta.Index = "recordings/" + meta.Room + "/program.idx"
		meta.Serial = rand.Uint32() | 1
	}
	meta.State = StateRecording
	if err := w.m.setMeta(w.e, *meta); err != nil {
		return fmt.Errorf("recording meta: %w", err)
	}
	var err error
	if fresh {
		if w.file, err = w.m.st.Create(meta.File); err != nil {
			return err
		}
		if w.idx, err = w.m.st.Create(meta.Index); err != nil {
			return err
		}
		hdr := headers(w.prog, meta.Serial)
		if _, err := w.file.Write(hdr); err != nil {
			return err
		}
		meta.Seq, meta.Samples, meta.DataEnd = 2, 0, int64(len(hdr))
	} else {
		if w.file, err = w.m.st.Append(meta.File); err != nil {
			return err
		}
		// Drop the end-of-stream page: the stream goes on.
		if err := w.file.Truncate(meta.DataEnd); err != nil {
			return err
		}
		if w.idx, err = w.m.st.Append(meta.Index); err != nil {
			return err
		}
	}
	w.nextIdx = meta.Samples // index the first page of every stretch
	w.e.flushed.Store(meta.DataEnd)
	w.e.samples.Store(meta.Samples)
	return nil
}

// add frames one chunk's page into the file's stream: the page's bytes as
// the program framed them, with this file's granule position, serial and
// sequence number (a recording starts at 0 whenever it was turned on).
func (w *writer) add(c *program.Chunk) {
	if w.failed {
		return
	}
	meta := &w.meta
	if meta.Samples >= w.nextIdx {
		w.ibuf = appendIndex(w.ibuf, indexEntry{Granule: meta.Samples, Offset: meta.DataEnd + int64(len(w.buf))})
		w.nextIdx = meta.Samples - meta.Samples%indexEvery + indexEvery
	}
	meta.Samples += pageSamples(c)
	w.buf = appendPage(w.buf, c.Ogg, 0, meta.Samples, meta.Serial, meta.Seq)
	meta.Seq++
}

// flush writes the pages gathered since the last flush (FlushEvery): they
// are in the file, and survive the process, from here on.
func (w *writer) flush() {
	if w.failed || len(w.buf) == 0 && len(w.ibuf) == 0 {
		w.buf, w.ibuf = w.buf[:0], w.ibuf[:0]
		return
	}
	if _, err := w.file.Write(w.buf); err != nil {
		w.fail(err)
		return
	}
	w.meta.DataEnd += int64(len(w.buf))
	w.m.met.bytes.Add(float64(len(w.buf)))
	w.e.flushed.Store(w.meta.DataEnd)
	w.e.samples.Store(w.meta.Samples)
	if len(w.ibuf) > 0 {
		if _, err := w.idx.Write(w.ibuf); err != nil {
			w.fail(err)
			return
		}
	}
	w.buf, w.ibuf = w.buf[:0], w.ibuf[:0]
}

// sync makes the file durable (SyncEvery): a power cut loses at most that.
func (w *writer) sync() {
	w.lastSync = time.Now()
	if w.failed {
		return
	}
	if err := w.file.Sync(); err != nil {
		w.fail(err)
		return
	}
	if err := w.idx.Sync(); err != nil {
		w.fail(err)
	}
}

// fail reports a write error (metric, log, the room's state) and stops
// writing; the queue is still drained, so nothing upstream notices.
func (w *writer) fail(err error) {
	if w.failed {
		return
	}
	w.failed = true
	w.m.met.errors.Inc()
	w.m.log.Error("recording write failed", "room", w.meta.Room, "err", err)
	w.e.mu.Lock()
	w.e.meta.Err = err.Error()
	w.e.meta.On = false // not recording any more; turning it on again retries
	w.e.mu.Unlock()
	w.halt() // the stretch ends (the file is repaired); the program goes on
	w.m.changed(w.meta.Room)
}

// end finishes the stretch: the end-of-stream page, a last sync, the meta.
// After a write error the file is repaired from its pages instead (or left
// for the next start's repair when even that fails).
func (w *writer) end() {
	meta := &w.meta
	meta.Dropped += w.dropped.Load()
	var err error
	if !w.failed {
		eos := appendEOS(nil, meta.Samples, meta.Serial, meta.Seq)
		if _, err = w.file.Write(eos); err == nil {
			err = w.file.Sync()
		}
		if err == nil {
			err = w.idx.Sync()
		}
		meta.Bytes = meta.DataEnd + int64(len(eos))
	}
	if w.file != nil {
		w.file.Close()
	}
	if w.idx != nil {
		w.idx.Close()
	}
	if w.failed || err != nil {
		if err != nil {
			w.fail(err)
		}
		fixed, rerr := w.m.repair(*meta)
		if rerr != nil {
			w.m.log.Error("recording repair failed", "room", meta.Room, "err", rerr)
			w.m.finishStretch(w, *meta, false)
			return
		}
		*meta = fixed
	}
	w.m.finishStretch(w, *meta, true)
}
