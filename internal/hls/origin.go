package hls

import (
	"context"
	"strconv"
	"sync"
	"time"

	"majlis/internal/program"
)

// Config configures the LL-HLS renditions of a process.
type Config struct {
	Timing Timing
	// Programs returns a room's program when the room is live here, else nil.
	Programs func(room string) *program.Program
	// Bandwidth is the rendition's peak bit rate for the multivariant
	// playlist (default 64000: the program's Opus plus fMP4 overhead).
	Bandwidth int
	// KeepEnded is how long an ended room's rendition (with EXT-X-ENDLIST)
	// is still served, so players end cleanly (default 2 minutes).
	KeepEnded time.Duration
	Now       func() time.Time // tests
}

// Origin holds the LL-HLS rendition of every live room of the process
// that has HLS listeners. A room's packager starts with its first HLS
// request and reads the program from the oldest chunk the program still
// holds; it stops when the program closes. Origin owns those goroutines:
// Close stops them and waits.
type Origin struct {
	cfg    Config
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	rooms sync.Map   // room id → *Packager: lookups take no lock
	mu    sync.Mutex // serialises starting packagers and Close
	shut  bool
}

// New returns an Origin; cfg.Programs is required.
func New(cfg Config) *Origin {
	cfg.Timing = cfg.Timing.normalized()
	if cfg.Bandwidth <= 0 {
		cfg.Bandwidth = 64000
	}
	if cfg.KeepEnded <= 0 {
		cfg.KeepEnded = 2 * time.Minute
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Origin{cfg: cfg, ctx: ctx, cancel: cancel}
}

// Timing is the shape of every rendition of o.
func (o *Origin) Timing() Timing { return o.cfg.Timing }

// Rendition returns room's packager, starting it when the room is live
// here and has none. An ended room's rendition is served for KeepEnded;
// then, or for a room not live here, the error is program.ErrNotLive.
func (o *Origin) Rendition(room string) (*Packager, error) {
	prog := o.cfg.Programs(room)
	if v, ok := o.rooms.Load(room); ok {
		p := v.(*Packager)
		if prog == nil && p.prog.Closed() && !p.Ended() {
			// The room just ended: its packager is publishing the last part.
			select {
			case <-p.done:
			case <-time.After(time.Second):
			}
		}
		if p.prog == prog || (prog == nil && o.servesEnded(p)) {
			return p, nil
		}
	}
	if prog == nil {
		return nil, program.ErrNotLive
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.shut {
		return nil, program.ErrUnavailable
	}
	if v, ok := o.rooms.Load(room); ok && v.(*Packager).prog == prog {
		return v.(*Packager), nil
	}
	o.sweep()
	p := newPackager(prog, o.cfg.Timing)
	o.rooms.Store(room, p)
	o.wg.Add(1)
	go func() {
		defer o.wg.Done()
		p.run(o.ctx, o.cfg.Now)
	}()
	return p, nil
}

// servesEnded reports whether an ended rendition is still served.
func (o *Origin) servesEnded(p *Packager) bool {
	return p.Ended() && o.cfg.Now().Sub(time.Unix(0, p.endAt.Load())) < o.cfg.KeepEnded
}

// sweep forgets ended renditions past KeepEnded (under o.mu).
func (o *Origin) sweep() {
	o.rooms.Range(func(k, v any) bool {
		if p := v.(*Packager); p.Ended() && !o.servesEnded(p) {
			o.rooms.CompareAndDelete(k, v)
		}
		return true
	})
}

// Close stops every packager and waits for them (shutdown): their
// playlists end (EXT-X-ENDLIST).
func (o *Origin) Close() {
	o.mu.Lock()
	o.shut = true
	o.mu.Unlock()
	o.cancel()
	o.wg.Wait()
}

// Multivariant is the multivariant playlist (index.m3u8): one rendition,
// the media playlist beside it.
func (o *Origin) Multivariant() []byte {
	b := []byte("#EXTM3U\n#EXT-X-VERSION:9\n#EXT-X-INDEPENDENT-SEGMENTS\n#EXT-X-STREAM-INF:BANDWIDTH=")
	b = strconv.AppendInt(b, int64(o.cfg.Bandwidth), 10)
	b = append(b, ",CODECS=\"opus\"\nmedia.m3u8\n"...)
	return b
}

// MultivariantCacheControl: the multivariant playlist never changes.
const MultivariantCacheControl = "public, max-age=3600"
