package loadgen

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// HLSConfig is an LL-HLS run (`majlis loadgen --proto hls`): players that
// each load the media playlist once, then ask for ever the next part with a
// blocking reload and fetch that part once, as a low-latency player does.
// One join gives the room's HLS URL: it is the same for every listener.
type HLSConfig struct {
	Origin   string        `json:"origin"`    // where the join goes
	ListenAt string        `json:"listen_at"` // where the players fetch (a cache); default Origin
	Room     string        `json:"room"`
	Players  int           `json:"players"`
	Ramp     float64       `json:"ramp_per_s"` // new players per second (0: all at once)
	Duration time.Duration `json:"duration"`
}

// HLSReport summarizes an LL-HLS run.
type HLSReport struct {
	Config     HLSConfig      `json:"config"`
	Started    string         `json:"started"`
	Players    int            `json:"players"`
	Playing    int            `json:"playing"`        // players that got at least one part
	Parts      int            `json:"parts"`          // parts fetched, all players
	PartsMin   int            `json:"parts_min"`      // fewest parts a playing player fetched
	PartsMax   int            `json:"parts_max"`      //
	Missed     int            `json:"missed"`         // parts a player skipped (its reload came back past them)
	Stalls     int            `json:"stalls"`         // parts that came later than PART-HOLD-BACK + a part behind live: the player ran dry
	Requests   int            `json:"requests"`       // HTTP requests, all players
	PartMS     float64        `json:"part_ms"`        // the rendition's part target
	LatencyP50 float64        `json:"latency_p50_ms"` // program-date-time of a part's first frame to the part received
	LatencyP99 float64        `json:"latency_p99_ms"`
	LatencyMax float64        `json:"latency_max_ms"`
	Errors     map[string]int `json:"errors,omitempty"`
}

// RunHLS runs c and reports. Every target must be a loopback address.
func RunHLS(ctx context.Context, c HLSConfig) (HLSReport, error) {
	if c.ListenAt == "" {
		c.ListenAt = c.Origin
	}
	if c.Players <= 0 || c.Players > MaxListeners || c.Duration <= 0 || c.Duration > MaxDuration {
		return HLSReport{}, fmt.Errorf("players %d, duration %v: want 1..%d players, up to %v", c.Players, c.Duration, MaxListeners, MaxDuration)
	}
	if c.Room == "" || strings.ContainsAny(c.Room, "/?#") {
		return HLSReport{}, fmt.Errorf("room %q", c.Room)
	}
	for _, t := range []string{c.Origin, c.ListenAt} {
		if err := loopbackURL(t); err != nil {
			return HLSReport{}, err
		}
	}
	tr := &http.Transport{MaxIdleConnsPerHost: c.Players + 8, MaxConnsPerHost: c.Players + 8, IdleConnTimeout: 30 * time.Second,
		DialContext: (&net.Dialer{Timeout: dialTimeout}).DialContext}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr, Timeout: respTimeout}
	playlist, err := hlsJoin(ctx, hc, c.Origin, c.Room)
	if err != nil {
		return HLSReport{}, err
	}
	media := c.ListenAt + strings.TrimSuffix(playlist, "index.m3u8") + "media.m3u8"

	started := time.Now()
	ctx, cancel := context.WithDeadline(ctx, started.Add(c.Duration))
	defer cancel()
	players := make([]hlsPlayer, c.Players)
	var wg sync.WaitGroup
	for i := range players {
		if c.Ramp > 0 {
			if d := time.Until(started.Add(time.Duration(float64(i) / c.Ramp * float64(time.Second)))); d > 0 {
				select {
				case <-time.After(d):
				case <-ctx.Done():
				}
			}
		}
		if ctx.Err() != nil {
			break
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			players[i].play(ctx, hc, media)
		}()
	}
	wg.Wait()
	return summarizeHLS(c, started, players), nil
}

func hlsJoin(ctx context.Context, hc *http.Client, origin, room string) (string, error) {
	req, _ := http.NewRequestWithContext(ctx, "POST", origin+"/api/v1/rooms/"+room+"/join", nil)
	resp, err := hc.Do(req)
	if err != nil {
		return "", fmt.Errorf("join: %w", err)
	}
	defer resp.Body.Close()
	var j struct {
		Listen struct {
			HLS string `json:"hls"`
		} `json:"listen"`
	}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode != http.StatusOK || json.Unmarshal(b, &j) != nil || j.Listen.HLS == "" {
		return "", fmt.Errorf("join: %d %.200s", resp.StatusCode, b)
	}
	return j.Listen.HLS, nil
}

// hlsPlayer is one player's tally.
type hlsPlayer struct {
	parts, missed, stalls, requests int
	latency                         []float64 // ms
	partMS                          float64
	err                             string
}

// hlsPart is the last part of a playlist.
type hlsPart struct {
	msn, part int
	k         int // msn × parts per segment + part: the part's number
	uri       string
	pdt       time.Time // wall time of its first frame
}

// hlsPlaylist is what a player reads from a media playlist.
type hlsPlaylist struct {
	last     hlsPart
	perSeg   int
	partDur  time.Duration
	holdBack time.Duration
	ended    bool
}

func (p *hlsPlayer) play(ctx context.Context, hc *http.Client, media string) {
	body, err := p.get(ctx, hc, media)
	if err != nil {
		p.fail(ctx, err)
		return
	}
	pl, err := parseHLS(body)
	if err != nil {
		p.fail(ctx, err)
		return
	}
	dir := media[:strings.LastIndexByte(media, '/')+1]
	last := pl.last
	p.partMS = float64(pl.partDur.Milliseconds())
	for ctx.Err() == nil && !pl.ended {
		next := fmt.Sprintf("%s?_HLS_msn=%d&_HLS_part=%d", media, last.msn, last.part+1)
		if body, err = p.get(ctx, hc, next); err != nil {
			p.fail(ctx, err)
			return
		}
		if pl, err = parseHLS(body); err != nil {
			p.fail(ctx, err)
			return
		}
		if pl.last.k <= last.k {
			continue // an answer at once without the part (the origin sheds): ask again
		}
		p.missed += pl.last.k - last.k - 1
		last = pl.last
		if _, err := p.get(ctx, hc, dir+last.uri); err != nil {
			p.fail(ctx, err)
			return
		}
		lat := time.Since(last.pdt)
		p.parts++
		p.latency = append(p.latency, float64(lat.Microseconds())/1000)
		if lat > pl.holdBack+pl.partDur {
			p.stalls++
		}
	}
}

func (p *hlsPlayer) fail(ctx context.Context, err error) {
	if ctx.Err() == nil {
		p.err = err.Error()
	}
}

func (p *hlsPlayer) get(ctx context.Context, hc *http.Client, url string) ([]byte, error) {
	req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
	p.requests++
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("%s: %d", url[strings.LastIndexByte(url, '/')+1:], resp.StatusCode)
	}
	return b, err
}

// parseHLS reads the last part of a media playlist and the timing it needs.
func parseHLS(body []byte) (hlsPlaylist, error) {
	var pl hlsPlaylist
	seg, idx := 0, -1
	var segPDT time.Time
	var offset time.Duration // from the segment's start to the current part
	sc := bufio.NewScanner(bytes.NewReader(body))
	for sc.Scan() {
		line := sc.Text()
		tag, val, _ := strings.Cut(line, ":")
		switch tag {
		case "#EXT-X-MEDIA-SEQUENCE":
			seg, _ = strconv.Atoi(val)
		case "#EXT-X-SKIP":
			n, _ := strconv.Atoi(strings.TrimPrefix(val, "SKIPPED-SEGMENTS="))
			seg += n
		case "#EXT-X-PART-INF":
			f, _ := strconv.ParseFloat(strings.TrimPrefix(val, "PART-TARGET="), 64)
			pl.partDur = time.Duration(f * float64(time.Second))
		case "#EXT-X-SERVER-CONTROL":
			for _, kv := range strings.Split(val, ",") {
				if v, ok := strings.CutPrefix(kv, "PART-HOLD-BACK="); ok {
					f, _ := strconv.ParseFloat(v, 64)
					pl.holdBack = time.Duration(f * float64(time.Second))
				}
			}
		case "#EXT-X-PROGRAM-DATE-TIME":
			segPDT, _ = time.Parse(time.RFC3339Nano, val)
			offset = 0
		case "#EXT-X-PART":
			idx++
			var dur time.Duration
			var uri string
			for _, kv := range strings.Split(val, ",") {
				if v, ok := strings.CutPrefix(kv, "DURATION="); ok {
					f, _ := strconv.ParseFloat(v, 64)
					dur = time.Duration(f * float64(time.Second))
				} else if v, ok := strings.CutPrefix(kv, "URI="); ok {
					uri = strings.Trim(v, `"`)
				}
			}
			pl.last = hlsPart{msn: seg, part: idx, uri: uri, pdt: segPDT.Add(offset)}
			pl.perSeg = max(pl.perSeg, idx+1)
			offset += dur
		case "#EXT-X-ENDLIST":
			pl.ended = true
		default:
			if line != "" && !strings.HasPrefix(line, "#") {
				seg++
				idx = -1
			}
		}
	}
	if pl.last.uri == "" || pl.partDur <= 0 {
		return pl, fmt.Errorf("playlist without parts")
	}
	pl.last.k = pl.last.msn*pl.perSeg + pl.last.part
	return pl, nil
}

func summarizeHLS(c HLSConfig, started time.Time, ps []hlsPlayer) HLSReport {
	rep := HLSReport{Config: c, Started: started.UTC().Format(time.RFC3339), Players: len(ps), Errors: map[string]int{}}
	for _, p := range ps {
		rep.PartMS = max(rep.PartMS, p.partMS)
	}
	var lat []float64
	rep.PartsMin = -1
	for _, p := range ps {
		rep.Requests += p.requests
		if p.err != "" {
			e := p.err
			if len(e) > 80 {
				e = e[:80]
			}
			rep.Errors[e]++
		}
		if p.parts == 0 {
			continue
		}
		rep.Playing++
		rep.Parts += p.parts
		rep.Missed += p.missed
		rep.Stalls += p.stalls
		rep.PartsMax = max(rep.PartsMax, p.parts)
		if rep.PartsMin < 0 || p.parts < rep.PartsMin {
			rep.PartsMin = p.parts
		}
		lat = append(lat, p.latency...)
	}
	rep.PartsMin = max(rep.PartsMin, 0)
	slices.Sort(lat)
	if n := len(lat); n > 0 {
		rep.LatencyP50, rep.LatencyP99, rep.LatencyMax = lat[n/2], lat[min(n-1, n*99/100)], lat[n-1]
	}
	if len(rep.Errors) == 0 {
		rep.Errors = nil
	}
	return rep
}
