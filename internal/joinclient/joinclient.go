// Package joinclient joins a majlis room the way a well-behaved client must:
// it solves the proof-of-work puzzle when asked, waits its turn in the
// waiting room with the queue token, honours Retry-After and backs off with
// full jitter otherwise (internal/backoff). Tests, the load generator and the
// attack simulator's legitimate joiners use it; docs/api.md ("Admission")
// describes the same protocol for browser clients.
package joinclient

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"majlis/internal/admission"
	"majlis/internal/backoff"
)

// DefaultTimeout bounds each join request of a Join given no Client: one
// POST the server answers at once (a ticket, a queue place or a puzzle), so a
// server that never answers costs a retry, not a hang.
const DefaultTimeout = 10 * time.Second

// Options tune Join. Zero values take defaults.
type Options struct {
	Client  *http.Client   // a client with a DefaultTimeout timeout
	Backoff backoff.Policy // full jitter, 250 ms .. 30 s
	// MaxAttempts bounds the requests (0: unlimited until ctx ends).
	MaxAttempts int
	// QueueToken is a token from an earlier answer (a lobby token taken before the start).
	QueueToken string
}

// Result is a successful join and how it went.
type Result struct {
	Ticket    string `json:"ticket"`
	ExpiresAt string `json:"expires_at"`
	Listen    struct {
		Ogg string `json:"ogg"`
		WS  string `json:"ws"`
	} `json:"listen"`
	Attempts int           `json:"-"` // requests made
	Queued   bool          `json:"-"` // waited in the waiting room
	Puzzles  int           `json:"-"` // proofs of work solved
	Solving  time.Duration `json:"-"` // time spent solving
	Took     time.Duration `json:"-"` // from the first request to the ticket
	Answers  []string      `json:"-"` // the error code of each refused attempt, in order
}

// Error is a join refused for good (404, 410, 400...).
type Error struct {
	Status int
	Code   string
}

func (e *Error) Error() string { return fmt.Sprintf("join: %d %s", e.Status, e.Code) }

type answer struct {
	Error struct {
		Code string `json:"code"`
	} `json:"error"`
	Queue struct {
		Token  string `json:"token"`
		WaitMS int64  `json:"wait_ms"`
	} `json:"queue"`
	PoW struct {
		Challenge string `json:"challenge"`
	} `json:"pow"`
}

// setDefaults fills the options left zero that Join needs filled.
func (o *Options) setDefaults() {
	if o.Client == nil {
		o.Client = &http.Client{Timeout: DefaultTimeout}
	}
}

// Join joins room at base (http://host:port) and returns its ticket.
func Join(ctx context.Context, base, room string, o Options) (Result, error) {
	o.setDefaults()
	start := time.Now()
	var res Result
	queueTok, pow := o.QueueToken, ""
	fails := 0
	url := strings.TrimSuffix(base, "/") + "/api/v1/rooms/" + room + "/join"
	for {
		if o.MaxAttempts > 0 && res.Attempts >= o.MaxAttempts {
			return res, fmt.Errorf("join: gave up after %d attempts", res.Attempts)
		}
		res.Attempts++
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, nil)
		if err != nil {
			return res, err
		}
		if queueTok != "" {
			req.Header.Set("Majlis-Queue", queueTok)
		}
		if pow != "" {
			req.Header.Set("Majlis-Pow", pow)
			pow = ""
		}
		resp, err := o.Client.Do(req)
		if err != nil {
			if ctx.Err() != nil {
				return res, ctx.Err()
			}
			fails++
			if !backoff.Sleep(ctx.Done(), o.Backoff.Next(fails, nil)) {
				return res, ctx.Err()
			}
			continue
		}
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			if err := json.Unmarshal(body, &res); err != nil {
				return res, fmt.Errorf("join answer: %w", err)
			}
			res.Took = time.Since(start)
			return res, nil
		}
		var a answer
		json.Unmarshal(body, &a)
		res.Answers = append(res.Answers, a.Error.Code)
		wait := time.Duration(-1)
		switch a.Error.Code {
		case "pow_required":
			t0 := time.Now()
			pow = admission.Solve(a.PoW.Challenge)
			res.Solving += time.Since(t0)
			res.Puzzles++
			continue
		case "queued", "room_not_live":
			if a.Queue.Token == "" { // an older server: not live means not live
				return res, &Error{resp.StatusCode, a.Error.Code}
			}
			queueTok = a.Queue.Token
			res.Queued = res.Queued || a.Error.Code == "queued"
			// The turn is a time: come back right at it (Retry-After is rounded up to seconds).
			wait = time.Duration(a.Queue.WaitMS)*time.Millisecond + 10*time.Millisecond
		case "queue_full", "rate_limited", "shed", "overloaded":
			fails++
			wait = o.Backoff.Next(fails, resp)
		default:
			if resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests {
				fails++
				wait = o.Backoff.Next(fails, resp)
			} else {
				return res, &Error{resp.StatusCode, a.Error.Code}
			}
		}
		if !backoff.Sleep(ctx.Done(), wait) {
			return res, ctx.Err()
		}
	}
}
