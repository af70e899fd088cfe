package httpapi

import (
	"errors"
	"net/http"
	"time"

	"majlis/internal/account"
	"majlis/internal/admission"
	"majlis/internal/apierror"
	"majlis/internal/audit"
	"majlis/internal/edge"
	"majlis/internal/program"
	"majlis/internal/recording"
	"majlis/internal/room"
	"majlis/internal/safety"
	"majlis/internal/stage"
)

// apiError is an error with its stable API code and HTTP status (the one
// error shape of every port, internal/apierror).
type apiError = apierror.Error

func errorf(status int, code, message string) *apiError { return apierror.New(status, code, message) }

// Errors shared by several handlers.
var (
	errUnauthorized  = errorf(http.StatusUnauthorized, "unauthorized", "sign in: a valid session or bearer token is required")
	errForbidden     = errorf(http.StatusForbidden, "forbidden", "you may not do this in this room")
	errRoomNotFound  = errorf(http.StatusNotFound, "room_not_found", "no room has this id")
	errRoomEnded     = errorf(http.StatusGone, "room_ended", "the room has ended")
	errRoomNotLive   = errorf(http.StatusConflict, "room_not_live", "the room has not started yet")
	errBodyTooLarge  = errorf(http.StatusRequestEntityTooLarge, "body_too_large", "the request body is too large")
	errBadJSON       = errorf(http.StatusBadRequest, "bad_json", "the request body is not valid JSON for this endpoint")
	errSessionGone   = errorf(http.StatusNotFound, "session_not_found", "no stage session has this id")
	errInternal      = errorf(http.StatusInternalServerError, "internal", "internal error")
	errNotWebSocket  = errorf(http.StatusBadRequest, "websocket_required", "this endpoint needs a WebSocket upgrade")
	errUnsupportedCT = errorf(http.StatusUnsupportedMediaType, "unsupported_media_type", "wrong Content-Type for this endpoint")
	// errListenerRemoved: the ticket's user was blocked from the room
	// after it was issued; a player stops and does not retry.
	errListenerRemoved = errorf(http.StatusForbidden, "listener_removed", "a moderator removed you from this room")

	errCreateLimited = errorf(http.StatusTooManyRequests, "rate_limited", "rooms created too fast; retry after Retry-After")
	errShuttingDown  = errorf(http.StatusServiceUnavailable, "shutting_down", "the server is shutting down").Retry(time.Second)
	// errAuditUnavailable: the action took effect but its audit row could not be written.
	errAuditUnavailable = errorf(http.StatusServiceUnavailable, "audit_unavailable", "the action was done but could not be recorded in the audit log")

	errStageElsewhere    = errorf(http.StatusNotFound, "not_found", "stage endpoints are served on the stage port")
	errAudienceElsewhere = errorf(http.StatusNotFound, "not_found", "audience endpoints are served on the audience port")

	errSuspended      = errorf(http.StatusForbidden, "suspended", "this account is suspended")
	errCSRF           = errorf(http.StatusForbidden, "csrf", "cookie-authenticated changes need the X-Majlis-CSRF header or a same-origin Origin")
	errBadName        = errorf(http.StatusBadRequest, "bad_name", "name must be 1-64 bytes of letters of one script, digits, '.', '_' or '-'")
	errBadPassword    = errorf(http.StatusBadRequest, "bad_password", "password must be 8-256 bytes")
	errNameTaken      = errorf(http.StatusConflict, "name_taken", "a user with this name exists")
	errBadCredentials = errorf(http.StatusUnauthorized, "bad_credentials", "wrong name or password")
	errUserNotFound   = errorf(http.StatusNotFound, "user_not_found", "no user has this id")
	errLoginLimited   = errorf(http.StatusTooManyRequests, "rate_limited", "too many login attempts from your network; retry after Retry-After")
	errLoginPoW       = errorf(http.StatusTooManyRequests, "pow_required", "this account has had many failed logins: solve the puzzle and log in again with the Majlis-Pow header")
	errAccountsBusy   = errorf(http.StatusServiceUnavailable, "busy", "too many password checks at once; retry after Retry-After").Retry(account.DefaultHashWait)
)

// roomErrors maps the room domain's errors to their API form.
var roomErrors = []struct {
	err error
	api *apiError
}{
	{room.ErrForbidden, errForbidden},
	{room.ErrRoomNotFound, errRoomNotFound},
	{room.ErrUserNotFound, errUserNotFound},
	{room.ErrNotLive, errRoomNotLive},
	{room.ErrEnded, errRoomEnded},
	{room.ErrSuspended, errSuspended},
	{room.ErrStageFull, errorf(http.StatusConflict, "stage_full", "every speaker seat is taken")},
	{room.ErrCohostsFull, errorf(http.StatusConflict, "cohosts_full", "every co-host seat is taken")},
	{room.ErrBlocked, errorf(http.StatusForbidden, "blocked", "this user is blocked from the room")},
	{room.ErrNoRequest, errorf(http.StatusNotFound, "request_not_found", "no pending request to speak from this user")},
	{room.ErrForcedMute, errorf(http.StatusForbidden, "forced_mute", "a host muted you; only a host can unmute you")},
	{room.ErrBadEmoji, errorf(http.StatusBadRequest, "bad_emoji", "this reaction is not in the allowed set")},
	{room.ErrRateLimited, errorf(http.StatusTooManyRequests, "rate_limited", "too many reactions; slow down")},
	{room.ErrBadTarget, errorf(http.StatusConflict, "bad_target", "this action does not apply to this member")},
	{room.ErrTooManyAsks, errorf(http.StatusConflict, "requests_full", "too many pending requests to speak")},
	{room.ErrBadSchedule, errorf(http.StatusBadRequest, "bad_schedule", "scheduled_at must be from now to 14 days ahead")},
	{room.ErrAlreadyOnStage, errorf(http.StatusConflict, "already_on_stage", "this user already has a stage role")},
	{room.ErrNoStartTime, errorf(http.StatusConflict, "no_start_time", "the room was scheduled without a start time: there is nothing to put in a calendar")},
	{room.ErrRoomQuota, errorf(http.StatusConflict, "room_quota", "you host too many rooms that have not ended; end one first")},
	{room.ErrNoRecorder, errorf(http.StatusNotFound, "recording_unavailable", "recording is not available on this server")},
	{room.ErrClipsOff, errorf(http.StatusForbidden, "clips_off", "the host turned clips off in this room")},
	{room.ErrBadSearch, errBadSearch},
	{room.ErrAuditForbidden, errorf(http.StatusForbidden, "audit_forbidden", "only platform admins and moderators, and a room's host for their own room (room=ID), may read the audit log")},
}

// recordingErrors maps the recorder's errors to their API form.
var recordingErrors = []struct {
	err error
	api *apiError
}{
	{recording.ErrNotFound, errorf(http.StatusNotFound, "recording_not_found", "this room has no recording")},
	{recording.ErrDeleted, errorf(http.StatusGone, "recording_gone", "this recording or clip was deleted or has expired")},
	{recording.ErrWithheld, errorf(http.StatusUnavailableForLegalReasons, "recording_withheld", "this recording or clip was withheld by a moderation decision; its statement of reasons says why")},
	{recording.ErrInProgress, errorf(http.StatusConflict, "recording_in_progress", "the recording is being written; it is available when the room ends or recording is turned off")},
	{recording.ErrRange, errorf(http.StatusBadRequest, "bad_range", "nothing was recorded in this range")},
	{recording.ErrClipLength, errorf(http.StatusBadRequest, "bad_clip_length", "seconds must be more than 0 and at most 60")},
	{recording.ErrClipNotFound, errorf(http.StatusNotFound, "clip_not_found", "no clip has this id")},
	{recording.ErrBadRoom, errRoomNotFound},
	{recording.ErrClosed, errShuttingDown},
	{recording.ErrEvidenceNotFound, errorf(http.StatusNotFound, "evidence_not_found", "no finished evidence segment has this id")},
	{recording.ErrAccessRefused, errorf(http.StatusServiceUnavailable, "audit_unavailable", "the access could not be recorded in the audit log; try again")},
}

// safetyErrors maps the safety domain's errors to their API form.
var safetyErrors = []struct {
	err error
	api *apiError
}{
	{safety.ErrForbidden, errorf(http.StatusForbidden, "forbidden", "only platform moderators and admins may do this")},
	{safety.ErrUnauthorized, errorf(http.StatusUnauthorized, "unauthorized", "sign in, or give the notice's key (?key=)")},
	{safety.ErrNoticeNotFound, errorf(http.StatusNotFound, "notice_not_found", "no notice has this id (or the key is wrong)")},
	{safety.ErrDecisionNotFound, errorf(http.StatusNotFound, "decision_not_found", "no decision you may read has this id")},
	{safety.ErrComplaintNotFound, errorf(http.StatusNotFound, "complaint_not_found", "no complaint you may read has this id")},
	{safety.ErrClaimed, errorf(http.StatusConflict, "notice_claimed", "another moderator has claimed this notice")},
	{safety.ErrDecided, errorf(http.StatusConflict, "notice_decided", "this notice has been decided")},
	{safety.ErrWindowClosed, errorf(http.StatusGone, "complaint_window_closed", "complaints about this decision could be made for six months after it; that time has passed")},
	{safety.ErrDuplicate, errorf(http.StatusConflict, "complaint_exists", "you have already complained about this decision")},
	{safety.ErrNotComplainable, errorf(http.StatusForbidden, "not_complainable", "only the affected user, or the notifier of a decision to do nothing, may complain about it")},
	{safety.ErrSameDecider, errorf(http.StatusForbidden, "same_decider", "a moderator other than the one who decided must answer the complaint")},
	{safety.ErrComplaintDecided, errorf(http.StatusConflict, "complaint_decided", "this complaint has been answered")},
	{safety.ErrNoticesSuspended, errorf(http.StatusForbidden, "notices_suspended", "this account's notices are suspended for a while: too many were manifestly unfounded (Art. 23(2) DSA)")},
	{safety.ErrAuditUnavailable, errorf(http.StatusServiceUnavailable, "audit_unavailable", "the action could not be recorded in the audit log, so it was not taken; try again")},
}

// accountErrors maps the accounts domain's errors to their API form.
var accountErrors = []struct {
	err error
	api *apiError
}{
	{account.ErrUnauthorized, errUnauthorized},
	{account.ErrForbidden, errForbidden},
	{account.ErrSuspended, errSuspended},
	{account.ErrNotAUser, errorf(http.StatusBadRequest, "not_a_user", "the admin token has no account")},
	{account.ErrBadName, errBadName},
	{account.ErrBadRole, errorf(http.StatusBadRequest, "bad_role", "role must be user, moderator or admin")},
	{account.ErrBadPassword, errBadPassword},
	{account.ErrBadTokenName, errorf(http.StatusBadRequest, "bad_name", "token name must be 1-64 characters")},
	{account.ErrNameTaken, errNameTaken},
	{account.ErrBadCredentials, errBadCredentials},
	{account.ErrLoginLimited, errLoginLimited},
	{account.ErrPoWRequired, errLoginPoW},
	{account.ErrBusy, errAccountsBusy},
	{account.ErrNameReserved, errorf(http.StatusConflict, "name_reserved", "this name is reserved")},
	{account.ErrSignupDisabled, errorf(http.StatusForbidden, "signup_disabled", "self sign-up is disabled on this server")},
	{account.ErrUserNotFound, errUserNotFound},
	{account.ErrTokenNotFound, errorf(http.StatusNotFound, "token_not_found", "you have no token with this id")},
	{account.ErrSelfSuspend, errorf(http.StatusBadRequest, "bad_target", "you cannot suspend yourself")},
	{account.ErrSelfRole, errorf(http.StatusBadRequest, "bad_target", "you cannot change your own role")},
}

// toAPIError maps any error to its API form: this is the one place where
// package errors become stable codes.
func toAPIError(err error) *apiError {
	var ae *apiError
	var mbe *http.MaxBytesError
	var cle *room.CreateLimitError
	var sle *room.SearchLimitError
	switch {
	case errors.As(err, &ae):
		return ae
	case errors.As(err, &mbe):
		return errBodyTooLarge
	case errors.As(err, &cle):
		return errCreateLimited.Retry(max(cle.Retry, time.Nanosecond))
	case errors.As(err, &sle):
		return searchLimited(sle)
	case errors.Is(err, room.ErrShutdown):
		return errShuttingDown
	case errors.Is(err, audit.ErrUnavailable):
		return errAuditUnavailable
	case errors.Is(err, program.ErrNotLive):
		return errorf(http.StatusGone, "room_not_live", "the room is not live")
	case errors.Is(err, program.ErrUnavailable):
		return errShuttingDown
	case errors.Is(err, edge.ErrNoOrigin):
		return errorf(http.StatusServiceUnavailable, "origin_unavailable", "the origin did not answer; retry after Retry-After").Retry(2 * time.Second)
	case errors.Is(err, edge.ErrTooManyRooms):
		return errorf(http.StatusServiceUnavailable, "too_many_rooms", "this server serves too many rooms' events; retry after Retry-After").Retry(5 * time.Second)
	case errors.Is(err, admission.ErrExpiredTicket):
		return errorf(http.StatusUnauthorized, "expired_ticket", "the join ticket has expired; join again")
	case errors.Is(err, admission.ErrBadTicket):
		return errorf(http.StatusUnauthorized, "bad_ticket", "the join ticket is missing, malformed or not for this room")
	case errors.Is(err, stage.ErrNoOpus):
		return errorf(http.StatusBadRequest, "no_opus", err.Error())
	case errors.Is(err, stage.ErrBadOffer):
		return errorf(http.StatusBadRequest, "bad_sdp", err.Error())
	case errors.Is(err, stage.ErrICERestartUnsupported):
		// RFC 9725 §4.3.1: a server doing trickle but not restarts answers 422.
		return errorf(http.StatusUnprocessableEntity, "ice_restart_unsupported", "ICE restarts are not supported; publish again")
	}
	// A safety field refused (bad_*, facts_personal_data): the domain names
	// the code and says what is wrong with the field.
	var fe *safety.FieldError
	if errors.As(err, &fe) {
		return errorf(http.StatusBadRequest, fe.Code, fe.Message)
	}
	for _, se := range safetyErrors {
		if errors.Is(err, se.err) {
			return se.api
		}
	}
	for _, re := range roomErrors {
		if errors.Is(err, re.err) {
			return re.api
		}
	}
	for _, re := range recordingErrors {
		if errors.Is(err, re.err) {
			return re.api
		}
	}
	for _, e := range accountErrors {
		if errors.Is(err, e.err) {
			return accountDetail(err, e.api)
		}
	}
	return errInternal
}

// accountDetail adds what an account error carries to its API form: when
// to come back, the puzzle to solve.
func accountDetail(err error, ae *apiError) *apiError {
	var le *account.LimitError
	var pe *account.PoWError
	switch {
	case errors.As(err, &le):
		return ae.Retry(max(le.Retry, time.Nanosecond)) // Retry-After: at least 1
	case errors.As(err, &pe):
		return ae.With(map[string]any{"pow": map[string]any{"algorithm": "sha256-leading-zero-bits", "challenge": pe.Challenge, "difficulty": pe.Difficulty}})
	}
	return ae
}

// writeError answers with the JSON error format {"error":{"code","message"}}.
func (a *API) writeError(w http.ResponseWriter, r *http.Request, err error) {
	ae := toAPIError(err)
	if ae == errInternal || errors.Is(err, audit.ErrUnavailable) {
		a.log.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	a.met.HTTPErrors.WithLabelValues(ae.Code).Inc()
	apierror.Write(w, ae)
}

func writeAPIError(w http.ResponseWriter, e *apiError) { apierror.Write(w, e) }

func writeJSON(w http.ResponseWriter, status int, v any) { apierror.WriteJSON(w, status, v) }
