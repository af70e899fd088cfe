package loadgen

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"
)

// MaxRooms bounds the rooms one run opens (CreateRooms).
const MaxRooms = 10_000

// roomWorkers is how many room requests CreateRooms and EndRooms have in flight.
const roomWorkers = 8

// CreateRooms opens n live rooms on origin for a run, with token (a bearer
// allowed to create that many: the platform admin's, whose rooms are not
// limited per user), and returns their ids in order. The rooms have no
// speaker: their programs are silence until someone publishes. If a room
// cannot be made, the ones already made are ended and the error says why
// (the server's code and message).
func CreateRooms(ctx context.Context, hc *http.Client, origin, token string, n int) ([]string, error) {
	if n <= 0 || n > MaxRooms {
		return nil, fmt.Errorf("rooms %d: want 1..%d", n, MaxRooms)
	}
	if token == "" {
		return nil, fmt.Errorf("rooms: a token that may create rooms is needed (the admin token)")
	}
	if err := loopbackURL(origin); err != nil {
		return nil, err
	}
	ids := make([]string, n)
	err := forEach(n, func(i int) error {
		var made struct {
			ID string `json:"id"`
		}
		body := fmt.Sprintf(`{"title":"loadgen %d"}`, i+1)
		if err := roomCall(ctx, hc, http.MethodPost, origin+"/api/v1/rooms", token, body, &made); err != nil {
			return fmt.Errorf("room %d: create: %w", i+1, err)
		}
		if made.ID == "" || strings.ContainsAny(made.ID, "/?#,") {
			return fmt.Errorf("room %d: create answered id %q", i+1, made.ID)
		}
		ids[i] = made.ID
		if err := roomCall(ctx, hc, http.MethodPost, origin+"/api/v1/rooms/"+made.ID+"/start", token, "", nil); err != nil {
			return fmt.Errorf("room %s: start: %w", made.ID, err)
		}
		return nil
	})
	if err != nil {
		var made []string
		for _, id := range ids {
			if id != "" {
				made = append(made, id)
			}
		}
		if eerr := EndRooms(context.WithoutCancel(ctx), hc, origin, token, made); eerr != nil {
			err = fmt.Errorf("%w (and ending the rooms made: %v)", err, eerr)
		}
		return nil, err
	}
	return ids, nil
}

// EndRooms ends the rooms CreateRooms opened. A room that has already
// ended counts as ended.
func EndRooms(ctx context.Context, hc *http.Client, origin, token string, ids []string) error {
	return forEach(len(ids), func(i int) error {
		err := roomCall(ctx, hc, http.MethodPost, origin+"/api/v1/rooms/"+ids[i]+"/end", token, "", nil)
		if se, ok := err.(*statusError); ok && se.code == "room_ended" {
			return nil
		}
		if err != nil {
			return fmt.Errorf("room %s: end: %w", ids[i], err)
		}
		return nil
	})
}

// forEach runs f(0..n-1) on roomWorkers goroutines and returns the first
// error; after one, no new call starts.
func forEach(n int, f func(int) error) error {
	var (
		mu    sync.Mutex
		next  int
		first error
		wg    sync.WaitGroup
	)
	for range min(roomWorkers, n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				mu.Lock()
				if next >= n || first != nil {
					mu.Unlock()
					return
				}
				i := next
				next++
				mu.Unlock()
				if err := f(i); err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	return first
}

// statusError is an API error answer: its status and the body's code and message.
type statusError struct {
	status        int
	code, message string
}

func (e *statusError) Error() string {
	return fmt.Sprintf("%d %s: %s", e.status, e.code, e.message)
}

// roomCall makes one API request with a bearer token and decodes a 2xx
// answer into out (if not nil). Every call has its own deadline.
func roomCall(ctx context.Context, hc *http.Client, method, url, token, body string, out any) error {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		var e struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		}
		_ = json.Unmarshal(b, &e)
		return &statusError{status: resp.StatusCode, code: e.Code, message: e.Message}
	}
	if out != nil {
		return json.NewDecoder(bytes.NewReader(b)).Decode(out)
	}
	return nil
}

// Hold keeps a run of rooms without listeners for d and measures the
// server processes meanwhile (the idle-room figures): CPU, RSS and context
// switches over the window from settle after the start to margin before
// its end.
func Hold(ctx context.Context, d time.Duration, serverPIDs []int) (*ProcUsage, error) {
	if d <= 0 || d > MaxDuration {
		return nil, fmt.Errorf("duration %v: want up to %v", d, MaxDuration)
	}
	start := time.Now()
	from, to := start.Add(settle), start.Add(d-margin)
	if to.Sub(from) < 2*time.Second {
		return nil, fmt.Errorf("duration %v: too short to measure (want at least %v)", d, settle+margin+2*time.Second)
	}
	u := measure(ctx, serverPIDs, from, to)
	if u == nil {
		return nil, fmt.Errorf("could not measure the server processes %v (gone, or interrupted)", serverPIDs)
	}
	return u, nil
}
