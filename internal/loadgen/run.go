package loadgen

import (
	"context"
	"encoding/json"
	"fmt"
	"majlis/internal/joinclient"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"majlis/internal/admission"
)

// Bounds of a run.
const (
	MaxListeners = 200_000
	MaxDuration  = 30 * time.Minute
	dialTimeout  = 10 * time.Second
	// respTimeout bounds the time from connect to the response head.
	respTimeout = 15 * time.Second
)

// Config is one run (or one worker's share of it).
type Config struct {
	Origin    string   `json:"origin"`               // http://127.0.0.1:8080: where joins go
	Room      string   `json:"room"`                 // room id, or several, comma-separated: listener n joins the (n mod count)-th
	ListenAt  []string `json:"listen_at"`            // bases of listen URLs (edges); default Origin
	Listeners int      `json:"listeners"`            // how many listeners
	Proto     string   `json:"proto"`                // "ogg", "ws" or "mix" (alternate)
	Ramp      float64  `json:"ramp_per_s"`           // new listeners per second (0: all at once)
	Duration  Duration `json:"duration"`             // run length from the first connect
	Sources   []string `json:"sources"`              // local source IPs (127.0.0.x); default the system's choice
	Ticket    string   `json:"ticket,omitempty"`     // reuse this ticket instead of joining per listener
	TicketKey []byte   `json:"ticket_key,omitempty"` // mint a ticket per listener with the server's key instead of joining
	Tolerance Duration `json:"tolerance"`            // player buffer of the Verifier
	Offset    int      `json:"offset"`               // number of this worker's first listener
	signer    *admission.Signer
	Stride    int `json:"stride"` // listener numbers step (the worker count), so sources and protocols interleave
	// Reconnect: a listener whose stream ends before the run does joins
	// again and connects where the new answer says, as a player does (an
	// edge died). A refused join (the room ended) is final: the verdict is
	// then the last stream's.
	Reconnect bool `json:"reconnect,omitempty"`
}

// Reconnects of one listener: at most maxReconnects, reconnectWait apart.
const (
	maxReconnects = 100
	reconnectWait = 100 * time.Millisecond
)

// Duration is a time.Duration that reads and writes JSON as "1m30s".
type Duration time.Duration

// MarshalJSON writes the duration as a string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// UnmarshalJSON reads a duration string.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	v, err := time.ParseDuration(s)
	*d = Duration(v)
	return err
}

// Validate checks bounds and that every target and source is a loopback address.
func (c *Config) Validate() error {
	if c.Listeners <= 0 || c.Listeners > MaxListeners {
		return fmt.Errorf("listeners %d: want 1..%d", c.Listeners, MaxListeners)
	}
	if d := time.Duration(c.Duration); d <= 0 || d > MaxDuration {
		return fmt.Errorf("duration %v: want up to %v", d, MaxDuration)
	}
	switch c.Proto {
	case "ogg", "ws", "mix":
	default:
		return fmt.Errorf("proto %q: want ogg, ws or mix", c.Proto)
	}
	for _, r := range strings.Split(c.Room, ",") {
		if r == "" || strings.ContainsAny(r, "/?#") {
			return fmt.Errorf("room %q", c.Room)
		}
	}
	for _, t := range append([]string{c.Origin}, c.ListenAt...) {
		if err := loopbackURL(t); err != nil {
			return err
		}
	}
	for _, s := range c.Sources {
		ip := net.ParseIP(s)
		if ip == nil || !ip.IsLoopback() {
			return fmt.Errorf("source %q: only loopback addresses", s)
		}
	}
	return nil
}

// loopbackURL refuses anything but http:// on a literal loopback address
// (or localhost), so the tool cannot be pointed at someone else.
func loopbackURL(s string) error {
	u, err := url.Parse(s)
	if err != nil || u.Scheme != "http" || u.Host == "" {
		return fmt.Errorf("target %q: want http://127.x.x.x:PORT", s)
	}
	h := u.Hostname()
	if h == "localhost" {
		return nil
	}
	ip := net.ParseIP(h)
	if ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("target %q: only loopback targets are allowed", s)
	}
	return nil
}

// Run runs c in this process and returns one Result per listener. It stops
// when c.Duration has passed since the first connect or ctx is done.
func Run(ctx context.Context, c Config) ([]Result, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	if len(c.ListenAt) == 0 {
		c.ListenAt = []string{c.Origin}
	}
	if len(c.TicketKey) > 0 {
		s, err := admission.NewSigner(c.TicketKey, time.Duration(c.Duration)+time.Minute)
		if err != nil {
			return nil, err
		}
		c.signer = s
	}
	start := time.Now()
	end := start.Add(time.Duration(c.Duration))
	ctx, cancel := context.WithDeadline(ctx, end)
	defer cancel()

	// Joins share a small pool of keep-alive connections, like a front proxy would.
	tr := &http.Transport{MaxIdleConnsPerHost: 32, MaxConnsPerHost: 64, IdleConnTimeout: 10 * time.Second,
		DialContext: (&net.Dialer{Timeout: dialTimeout}).DialContext}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr, Timeout: respTimeout}

	// Streams go to the receive loops once their response head has come;
	// the loops stop at the run's end and close every connection.
	rcv, err := newReceiver(ctx, end)
	if err != nil {
		return nil, err
	}
	defer func() { cancel(); rcv.wait() }()

	results := make([]Result, c.Listeners)
	var pending sync.WaitGroup // listeners without a verdict yet
	for i := range c.Listeners {
		if c.Ramp > 0 {
			at := start.Add(time.Duration(float64(i) / c.Ramp * float64(time.Second)))
			if d := time.Until(at); d > 0 {
				select {
				case <-time.After(d):
				case <-ctx.Done():
				}
			}
		}
		if ctx.Err() != nil {
			for j := i; j < c.Listeners; j++ {
				results[j].Err = "not started: run ended during the ramp"
			}
			break
		}
		pending.Add(1)
		go c.listener(ctx, hc, rcv, c.Offset+i*max(c.Stride, 1), end, &results[i], pending.Done)
	}
	pending.Wait()
	return results, nil
}

// listener connects listener number n and hands its stream to rcv. Its
// verdict goes to out when the stream ends or the run does (at end), then
// done is called (with Reconnect, after the last of its streams).
func (c *Config) listener(ctx context.Context, hc *http.Client, rcv *receiver, n int, end time.Time, out *Result, done func()) {
	c.listen(ctx, hc, rcv, n, end, out, done, 0, nil)
}

// listen is one attempt of listener n; prev is the verdict of its last
// stream when this attempt is a reconnect.
func (c *Config) listen(ctx context.Context, hc *http.Client, rcv *receiver, n int, end time.Time, out *Result, done func(), reconnects int, prev *Result) {
	if c.Reconnect {
		final := done
		done = func() {
			refused := strings.HasPrefix(out.Err, "join: ")
			if refused && prev != nil {
				// Joining again was refused (the room ended): the last
				// stream's verdict stands.
				*out = *prev
				out.Reconnects = reconnects - 1
				final()
				return
			}
			if ctx.Err() == nil && out.Err != "" && !refused && reconnects < maxReconnects {
				last := *out
				go func() {
					select {
					case <-time.After(reconnectWait):
						c.listen(ctx, hc, rcv, n, end, out, final, reconnects+1, &last)
					case <-ctx.Done():
						out.Reconnects = reconnects
						final()
					}
				}()
				return
			}
			out.Reconnects = reconnects
			final()
		}
	}
	proto := c.Proto
	if proto == "mix" {
		proto = [2]string{"ogg", "ws"}[n%2]
	}
	base := c.ListenAt[n%len(c.ListenAt)]
	s := newStream(proto, base, time.Now(), time.Duration(c.Tolerance), out, done)

	path, err := c.listenPath(ctx, hc, proto, c.roomOf(n))
	if err != nil {
		s.fail("join: " + err.Error())
		return
	}
	target := base + path
	if strings.HasPrefix(path, "http://") || strings.HasPrefix(path, "https://") {
		target = path // the join placed the listener on an edge
		if err := loopbackURL(target); err != nil {
			s.fail(err.Error())
			return
		}
	}
	u, err := url.Parse(target)
	if err != nil {
		s.fail(err.Error())
		return
	}
	d := net.Dialer{Timeout: dialTimeout}
	if len(c.Sources) > 0 {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(c.Sources[n%len(c.Sources)])}
	}
	conn, err := d.DialContext(ctx, "tcp", u.Host)
	if err != nil {
		s.fail("dial: " + err.Error())
		return
	}
	// Until the handoff the run's end (or ctx) closes the connection; a
	// response head must come within respTimeout.
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	_ = conn.SetReadDeadline(time.Now().Add(respTimeout))
	rest, err := handshake(conn, u, s)
	if !stop() { // the run ended
		conn.Close()
		s.finish(ctx, nil, end)
		return
	}
	if err == nil {
		_ = conn.SetReadDeadline(time.Time{}) // the head came; the verifier judges the rest
		if len(rest) > 0 {
			err = s.feed(rest, time.Now(), conn)
		}
	}
	if err != nil {
		conn.Close()
		s.finish(ctx, err, end)
		return
	}
	rcv.add(conn, s)
}

// roomOf is the room listener n listens to.
func (c *Config) roomOf(n int) string {
	rooms := strings.Split(c.Room, ",")
	return rooms[n%len(rooms)]
}

// listenPath gets a listen path of room with a ticket: a join, or the fixed ticket.
func (c *Config) listenPath(ctx context.Context, hc *http.Client, proto, room string) (string, error) {
	if c.Ticket != "" {
		return "/api/v1/rooms/" + room + "/listen." + proto + "?t=" + url.QueryEscape(c.Ticket), nil
	}
	if c.signer != nil {
		tok, _, err := c.signer.Issue(room)
		if err != nil {
			return "", err
		}
		return "/api/v1/rooms/" + room + "/listen." + proto + "?t=" + url.QueryEscape(tok), nil
	}
	// A behaving client: solves puzzles, waits its turn in the waiting room,
	// backs off with full jitter and honours Retry-After (joinclient).
	j, err := joinclient.Join(ctx, c.Origin, room, joinclient.Options{Client: hc})
	if err != nil {
		return "", err
	}
	if proto == "ws" {
		return j.Listen.WS, nil
	}
	return j.Listen.Ogg, nil
}
