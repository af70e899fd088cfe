package room

import (
	"errors"
	"fmt"
	"time"
)

// Domain errors; the HTTP layer maps each to a stable code.
var (
	ErrForbidden      = errors.New("not allowed")
	ErrRoomNotFound   = errors.New("room not found")
	ErrUserNotFound   = errors.New("user not found")
	ErrNotLive        = errors.New("room not live")
	ErrEnded          = errors.New("room ended")
	ErrStageFull      = errors.New("stage full")
	ErrCohostsFull    = errors.New("co-host seats full")
	ErrBlocked        = errors.New("blocked from this room")
	ErrNoRequest      = errors.New("no pending request")
	ErrForcedMute     = errors.New("muted by a host")
	ErrBadEmoji       = errors.New("reaction not allowed")
	ErrRateLimited    = errors.New("too many reactions")
	ErrBadTarget      = errors.New("not possible for this member")
	ErrSuspended      = errors.New("account suspended")
	ErrTooManyAsks    = errors.New("too many pending requests")
	ErrBadSchedule    = errors.New("bad scheduled time")
	ErrAlreadyOnStage = errors.New("already on stage")
	ErrShutdown       = errors.New("server shutting down")
	ErrRoomQuota      = errors.New("too many open rooms")
	ErrNoStartTime    = errors.New("room has no start time")
)

// CreateLimitError is a room creation refused for coming too fast; Retry
// says when the user may create the next room.
type CreateLimitError struct{ Retry time.Duration }

func (e *CreateLimitError) Error() string {
	return fmt.Sprintf("rooms created too fast; retry in %v", e.Retry)
}

// Actor is who acts: a user (or the admin token) with a platform role.
type Actor struct {
	ID        string
	Platform  string
	Suspended bool
	// Cred names the credential the request came with (account.Principal.Cred):
	// a stage session remembers it, so revoking that credential ends it.
	Cred string
}

// String is for logs.
func (a Actor) String() string { return fmt.Sprintf("%s(%s)", a.ID, a.Platform) }
