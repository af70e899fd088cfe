package recording

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"

	"majlis/internal/program"
)

// writer records one stretch of a room's program: from the moment
// recording was turned on (or the room started) to the moment it was
// turned off, the program closed or the process stopped.
//
// It is a job of the Manager's pump, which owns no goroutine per writer:
// pull (the pump's pull goroutine) copies the program's new chunks into
// the bounded queue (Config.QueueChunks, 60 s of audio at the smallest
// chunk length by default) like any listener and never blocks; write and
// sync (the disk goroutine and its sync workers) write the file. When the
// disk is so slow that the queue fills, pull drops the chunk, counts it
// (majlis_recording_dropped_chunks_total and Meta.Dropped) and goes on.
// The recording then skips that audio instead of the mixer or the
// listeners ever waiting on the disk.
type writer struct {
	m    *Manager
	e    *entry
	prog *program.Program
	prev *writer // the previous stretch of the file, finished before this one opens

	halted atomic.Bool
	done   chan struct{} // closed when the stretch is finished

	qmu     sync.Mutex // guards the fields below (pull and write)
	pos     uint64     // the next chunk to take
	q       []*program.Chunk
	eof     bool // no more input: the program closed or the writer was halted
	busy    bool // the disk goroutine is writing this file
	dropped int64

	// Owned by the disk goroutine (and a sync worker while it waits).
	opened    bool
	spare     []*program.Chunk
	file, idx Appender
	meta      Meta // the working copy
	buf, ibuf []byte
	nextIdx   int64
	failed    bool
	dirty     bool // written since the last sync
}

// halt ends the stretch at the next disk pass (soon: it asks for one).
func (w *writer) halt() {
	if w.halted.CompareAndSwap(false, true) {
		w.m.pump.kick()
	}
}

// pull copies the program's chunks from pos (the live edge when recording
// was turned on) into the queue. The pull goroutine calls it every
// FlushEvery, the disk goroutine at each pass.
func (w *writer) pull() {
	w.qmu.Lock()
	defer w.qmu.Unlock()
	if w.eof {
		return
	}
	closed := w.prog.Closed()
	if w.halted.Load() && !closed {
		// Turned off (or shutting down) while live: the stretch ends
		// here. A closed program is taken to its end first.
		w.eof = true
		return
	}
	head := w.prog.Head()
	for ; w.pos < head; w.pos++ {
		c := w.prog.Chunk(w.pos)
		full := len(w.q) >= w.m.cfg.QueueChunks
		if c != nil && full && !w.busy {
			// A burst, not a stall: the rest waits in the ring for the
			// disk goroutine's next pull.
			break
		}
		if c == nil || full {
			// Overwritten before it was pulled, or the queue is full while
			// the disk goroutine is stuck writing this file (see the
			// type's comment): lost to the recording.
			w.dropped++
			w.m.met.dropped.Inc()
			continue
		}
		w.q = append(w.q, c)
	}
	if closed && w.pos == head {
		w.eof = true
	}
}

// write writes what came since the last pass; at the end of the input it
// finishes the stretch.
func (w *writer) write() bool {
	if !w.opened {
		if w.prev != nil {
			select {
			case <-w.prev.done: // the previous stretch finishes the file first
			default:
				return false
			}
		}
		w.opened, w.prev = true, nil
		if err := w.open(); err != nil {
			w.fail(err)
		}
	}
	var eof bool
	for {
		w.pull() // up to now: the replay is there as soon as the room ended
		w.qmu.Lock()
		batch := w.q
		w.q = w.spare[:0]
		w.busy = true
		eof = w.eof
		w.qmu.Unlock()
		for _, c := range batch {
			w.add(c)
		}
		n := len(batch)
		clear(batch)
		w.spare = batch[:0]
		w.flush()
		if eof || n < w.m.cfg.QueueChunks {
			break
		}
		// A full queue: more may wait in the ring.
	}
	w.qmu.Lock()
	w.busy = false
	w.qmu.Unlock()
	if !eof {
		return false
	}
	w.end()
	close(w.done)
	return true
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
	w.dirty = true
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

// sync makes the file durable (every SyncEvery): a power cut loses at most
// that. The index is synced only at the end of the stretch: a repair
// rebuilds it from the pages.
func (w *writer) sync() {
	if w.failed || !w.dirty {
		return
	}
	w.dirty = false
	if err := w.file.Sync(); err != nil {
		w.fail(err)
	}
}

// fail reports a write error (metric, log, the room's state) and stops
// writing; the queue is still emptied, so nothing upstream notices.
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
	w.qmu.Lock()
	meta.Dropped += w.dropped
	w.qmu.Unlock()
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
