package room

import "context"

// Media is the running media of rooms, as the domain needs it.
type Media interface {
	// Start starts a room's program.
	Start(room string) error
	// End stops a room's stage sessions and program (listeners are disconnected cleanly).
	End(room string)
	// Listeners is the number of connected listeners of a live room.
	Listeners(room string) int64
	// Publish starts a member's stage session from a WHIP offer and returns
	// it with the SDP answer. An offer that is not a valid audio offer is
	// refused with an error the caller maps (the room has already decided
	// the member may publish). A session of a member who is publishing
	// already is pending: the older one goes on until the new one connects,
	// then ends as a replacement (no LeftStage) and the media calls
	// Service.TookOver; a pending session that never connects just ends.
	Publish(ctx context.Context, room, member, offer string) (Published, string, error)
}

// Speakers is a Media that knows who is talking: the room publishes a
// "speaking" event when the set changes (at most every SpeakingInterval),
// for the pages that do not get the program's levels in its chunks (the
// studio, listen.ogg and LL-HLS listeners).
type Speakers interface {
	// Speaking lists the members of a live room talking now, in any order.
	Speaking(room string) []string
}

// Published is a member's running stage session and its mixer source.
type Published interface {
	// ID names the session (the WHIP resource).
	ID() string
	// SetMuted silences (or restores) the member's audio in the program.
	SetMuted(bool)
	// Close ends the session and waits for its teardown; it calls back into
	// LeftStage, so it is never called under a room's stage lock.
	Close()
	// Done is closed once the session has ended.
	Done() <-chan struct{}
	// Pending reports whether the session waits to take over from the
	// member's older session (see Media.Publish).
	Pending() bool
}

// running says whether a session has not ended yet.
func running(p Published) bool {
	select {
	case <-p.Done():
		return false
	default:
		return true
	}
}
