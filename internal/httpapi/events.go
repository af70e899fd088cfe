package httpapi

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/coder/websocket"

	"majlis/internal/events"
)

// eventWriteTimeout: a subscriber this slow is dropped.
const eventWriteTimeout = 10 * time.Second

// EventSubscription is one reader of a room's events: room.Subscription
// on an origin, edge.Subscription on an edge (which mirrors the origin's
// stream, numbered alike). done is true after the stream's last event.
// A batch is valid until the next call of Next (its array is reused, so a
// room's readers read without allocating): write it, do not keep it.
type EventSubscription interface {
	Next(ctx context.Context) (batch []events.Item, done bool, err error)
}

// parseSince reads ?since=SEQ (or Last-Event-ID): the cursor to resume after.
func parseSince(r *http.Request) (uint64, error) {
	s := r.URL.Query().Get("since")
	if s == "" {
		s = r.Header.Get("Last-Event-ID")
	}
	if s == "" {
		return 0, nil
	}
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, errorf(http.StatusBadRequest, "bad_since", "since must be an event sequence number")
	}
	return v, nil
}

// serveEvents streams sub: WebSocket when the request is an upgrade,
// Server-Sent Events otherwise. The stream is public and read-only (no
// cookie authority), so any origin may read it: a page of the origin reads
// it on an edge.
func serveEvents(w http.ResponseWriter, r *http.Request, sub EventSubscription) {
	if strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
		eventsWS(w, r, sub)
		return
	}
	eventsSSE(w, r, sub)
}

func eventsWS(w http.ResponseWriter, r *http.Request, sub EventSubscription) {
	// The stream is public and read-only (no cookie authority), so any origin may read it.
	c, err := websocket.Accept(w, r, &websocket.AcceptOptions{InsecureSkipVerify: true})
	if err != nil {
		return
	}
	c.SetReadLimit(1024)
	ctx := c.CloseRead(context.Background())
	for {
		batch, done, err := sub.Next(ctx)
		if err != nil && ctx.Err() != nil {
			c.CloseNow()
			return
		}
		if err != nil && !done {
			// An edge whose origin did not answer a snapshot request: the
			// reader resumes later with its cursor.
			c.Close(websocket.StatusTryAgainLater, "events unavailable, try again")
			return
		}
		for _, ev := range batch {
			wctx, cancel := context.WithTimeout(ctx, eventWriteTimeout)
			err := c.Write(wctx, websocket.MessageText, ev.Raw)
			cancel()
			if err != nil {
				c.CloseNow()
				return
			}
		}
		if done {
			if err != nil {
				c.Close(websocket.StatusGoingAway, "server shutting down")
			} else {
				c.Close(websocket.StatusNormalClosure, "room ended")
			}
			return
		}
	}
}

func eventsSSE(w http.ResponseWriter, r *http.Request, sub EventSubscription) {
	rc := http.NewResponseController(w)
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Accel-Buffering", "no")
	w.Header().Set("Access-Control-Allow-Origin", "*")
	w.WriteHeader(http.StatusOK)
	rc.Flush()
	for {
		batch, done, err := sub.Next(r.Context())
		if err != nil && !done {
			return // client gone
		}
		rc.SetWriteDeadline(time.Now().Add(eventWriteTimeout))
		for _, ev := range batch {
			if _, err := fmt.Fprintf(w, "id: %d\ndata: %s\n\n", ev.Seq, ev.Raw); err != nil {
				return
			}
		}
		if err := rc.Flush(); err != nil {
			return
		}
		if done {
			return
		}
	}
}
