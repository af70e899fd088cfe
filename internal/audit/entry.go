package audit

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Entry is one action to record.
type Entry struct {
	// Actor is who acted: a user id, "admin" (the admin token) or
	// "system" (the server on its own: an automatic end, a retention sweep).
	Actor string `json:"actor"`
	// Action is a stable dotted verb: "room.mute", "room.block",
	// "room.end", "account.suspend", "safety.decide", "evidence.access"…
	// (docs/audit.md lists them).
	Action string `json:"action"`
	// Target is what was acted on, as kind:id ("room:abc", "user:xyz",
	// "notice:n1", "clip:c1").
	Target string `json:"target"`
	// Room is the room the action concerns, when there is one (queries
	// filter on it).
	Room string `json:"room,omitempty"`
	// Reason is the actor's stated reason or ground, if any.
	Reason string `json:"reason,omitempty"`
	// Detail is a small JSON-encodable map of facts (a duration, a decision
	// id, an offset); nil for none.
	Detail map[string]any `json:"detail,omitempty"`
}

// Row is a recorded entry: its place in the chain and its hash.
type Row struct {
	Seq uint64    `json:"seq"`
	At  time.Time `json:"at"`
	Entry
	Prev string `json:"prev"` // hex SHA-256 of the previous row ("" for the first)
	Hash string `json:"hash"` // hex SHA-256 over Prev and this row's fields
}

// Recorder is what the domains record actions through. Record returns only
// after the row is durable: an action acknowledged to a client has its
// audit row on disk.
type Recorder interface {
	Record(ctx context.Context, e Entry) (Row, error)
}

// Unavailable is err, from a Recorder, as ErrUnavailable (if it is not already).
func Unavailable(err error) error {
	if err == nil || errors.Is(err, ErrUnavailable) {
		return err
	}
	return fmt.Errorf("%w: %w", ErrUnavailable, err)
}
