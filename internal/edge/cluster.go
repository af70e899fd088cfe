package edge

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"time"

	"majlis/internal/cluster"
)

// Timing of a room fed from the cluster.
const (
	defaultReportEvery = time.Second
	frameDur           = 20 * time.Millisecond
	// holdSlack: the program is held (silence) when no chunk has come for
	// the last chunk's length plus this.
	holdSlack = 500 * time.Millisecond
	// firstHold: how long a new room waits for its first chunk before holding.
	firstHold = time.Second
	// holdTick: while holding, silence is written this often (5 frames).
	holdTick = 100 * time.Millisecond
	// stateTimeout and stateEvery: how long the origin has to answer "is
	// the room live?", and how often it is asked while the room is held.
	stateTimeout = 500 * time.Millisecond
	stateEvery   = 2 * time.Second
	// sketchResend: a room's sketch goes out again this often even when
	// unchanged (delivery is at most once; merging is idempotent).
	sketchResend = 10 * time.Second
	// endGrace: once the room's end is heard, chunks still on their way
	// are taken this long. The end comes on the events subject and the
	// chunks on the program subject, each subscription delivered on its
	// own goroutine: the end can overtake the room's last chunks a little.
	endGrace = 100 * time.Millisecond
	// maxSketches bounds the rooms whose unique listeners an edge counts.
	maxSketches = 10000
)

// roomSketch is a room's unique listener tickets on this edge since the
// edge learnt the origin's epoch for it. Guarded by Edge.mu.
type roomSketch struct {
	sk     *cluster.Sketch
	epoch  uint64 // 0: not known yet (not reported)
	dirty  bool
	sentAt time.Time
}

func randomID() string {
	var b [8]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// runCluster feeds rl's program from the cluster until the room ends at
// the origin (nil) or ctx ends. It is the only writer of rl.prog.
//
// Frames are written in order; frames lost in the cluster are a gap, and
// old or repeated ones are dropped. When the program stops coming (the
// origin restarts, the cluster is cut off) the room is held: silence at the
// program's pace, so listeners stay connected and hear silence, until
// frames come again; meanwhile the origin is asked every 2 s whether the
// room is still live, and a room it says is not live ends.
func (e *Edge) runCluster(ctx context.Context, rl *relay) error {
	c := e.cfg.Cluster
	feed, err := c.Follow(rl.room)
	if err != nil {
		return err
	}
	defer feed.Close()
	// Subscribed first, then asked: no chunk published meanwhile is missed.
	var epoch uint64
	if st, err := c.RoomState(rl.room, stateTimeout); err == nil {
		if st.State != cluster.StateLive {
			return nil // not live (never started, or ended): listeners see the end
		}
		epoch = st.Epoch
		e.setEpoch(rl.room, epoch)
	}
	silence := []byte{0xF8, 0xFF, 0xFE} // a CELT-only 20 ms frame with no payload: silence
	if rl.prog.Config().Channels == 2 {
		silence[0] |= 0x04
	}

	var next uint64
	started := false
	wait := time.NewTimer(firstHold)
	defer wait.Stop()
	var tick *time.Ticker
	var tickC <-chan time.Time
	stopHold := func() {
		if tick != nil {
			tick.Stop()
			tick, tickC = nil, nil
		}
	}
	defer stopHold()
	var holdStart, lastAsk time.Time
	var held int64
	var ending <-chan time.Time // the room ended: the last chunks' grace
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-ending:
			return nil
		case m := <-feed.C:
			if m.Event != nil {
				if m.Event.Kind == cluster.EventRoomEnded && ending == nil {
					stopHold()
					wait.Stop()
					ending = time.After(endGrace)
				}
				continue
			}
			p := m.Program
			if p.Epoch != epoch { // the origin restarted the room's program: numbering starts again
				epoch, started = p.Epoch, false
				e.setEpoch(rl.room, epoch)
			}
			for _, l := range p.Levels {
				rl.prog.NoteLevel(l.Speaker, l.Level)
			}
			for i, f := range p.Frames {
				seq := p.FirstSeq + uint64(i)
				if started && seq < next {
					continue
				}
				started, next = true, seq+1
				rl.prog.WriteFrame(f)
			}
			stopHold()
			if ending == nil {
				wait.Reset(time.Duration(len(p.Frames))*frameDur + holdSlack)
			}
		case now := <-wait.C:
			holdStart, held, lastAsk = now, 0, time.Time{}
			tick = time.NewTicker(holdTick)
			tickC = tick.C
		case now := <-tickC:
			for due := int64(now.Sub(holdStart) / frameDur); held < due; held++ {
				rl.prog.WriteFrame(silence)
			}
			if now.Sub(lastAsk) >= stateEvery {
				lastAsk = now
				if st, err := c.RoomState(rl.room, stateTimeout); err == nil && st.State != cluster.StateLive {
					return nil
				}
			}
		}
	}
}

// setEpoch records the origin's epoch of room for its sketch: a new epoch
// (the origin restarted, after storing the counts it had) starts the
// sketch again.
func (e *Edge) setEpoch(room string, epoch uint64) {
	e.mu.Lock()
	defer e.mu.Unlock()
	rs := e.sketches[room]
	if rs == nil {
		if len(e.sketches) >= maxSketches {
			return
		}
		rs = &roomSketch{sk: cluster.NewSketch()}
		e.sketches[room] = rs
	}
	if rs.epoch != 0 && rs.epoch != epoch {
		rs.sk = cluster.NewSketch()
		rs.dirty = false
	}
	rs.epoch = epoch
}

// Joined records a listener's ticket nonce in the room's unique-listener
// sketch (httpapi.ListenConfig.Joined: called once per listen request with
// a valid ticket; it never blocks on the network).
func (e *Edge) Joined(room string, nonce uint64) {
	e.mu.Lock()
	defer e.mu.Unlock()
	rs := e.sketches[room]
	if rs == nil {
		if len(e.sketches) >= maxSketches {
			return
		}
		rs = &roomSketch{sk: cluster.NewSketch()}
		e.sketches[room] = rs
	}
	rs.sk.Insert(nonce)
	rs.dirty = true
}

// report sends this edge's load every ReportEvery, and the sketches that
// changed (or every sketchResend), until the edge closes.
func (e *Edge) report() {
	defer e.wg.Done()
	t := time.NewTicker(e.cfg.ReportEvery)
	defer t.Stop()
	var buf []byte
	type sketchOut struct {
		room  string
		epoch uint64
		b     []byte
	}
	for {
		select {
		case <-e.ctx.Done():
			return
		case <-t.C:
		}
		now := time.Now()
		r := cluster.LoadReport{Edge: e.cfg.ID, BaseURL: e.cfg.PublicURL}
		var outs []sketchOut
		e.mu.Lock()
		var conns int
		for id, rl := range e.relays {
			r.Rooms = append(r.Rooms, cluster.RoomLoad{Room: id, Listeners: uint32(max(rl.listeners, 0))})
			conns += rl.listeners
		}
		r.Connections = uint32(max(conns, 0))
		for room, rs := range e.sketches {
			if rs.epoch != 0 && (rs.dirty || now.Sub(rs.sentAt) >= sketchResend) {
				if b, err := rs.sk.MarshalBinary(); err == nil {
					outs = append(outs, sketchOut{room, rs.epoch, b})
				}
				rs.dirty, rs.sentAt = false, now
			}
			if e.relays[room] == nil && (!rs.dirty || rs.epoch == 0) {
				// Sent (or, the origin's epoch never learnt, not sendable):
				// a later listener starts a new one (merging is a union).
				delete(e.sketches, room)
			}
		}
		e.mu.Unlock()
		buf = e.cfg.Cluster.PublishLoad(buf, r)
		for _, o := range outs {
			buf = e.cfg.Cluster.PublishSketch(buf, cluster.SketchReport{Edge: e.cfg.ID, Room: o.room, Epoch: o.epoch, Sketch: o.b})
		}
	}
}
