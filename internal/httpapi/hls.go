package httpapi

import (
	"crypto/subtle"
	"errors"
	"net/http"
	"strconv"
	"time"

	"majlis/internal/admission"
	"majlis/internal/hls"
	"majlis/internal/metrics"
	"majlis/internal/overload"
	"majlis/internal/room"
)

// HeaderCDNSecret carries the --hls-cdn-secret from the cache to the origin.
const HeaderCDNSecret = "Majlis-Cdn-Secret"

// HLSConfig holds the LL-HLS endpoints' dependencies.
type HLSConfig struct {
	Origin  *hls.Origin
	Tokens  *hls.Tokens
	Tickets *admission.Signer
	Metrics *metrics.Metrics
	// Rooms counts HLS listeners by their heartbeats.
	Rooms *room.Service
	// CDNSecret, when set, is required in HeaderCDNSecret on every media
	// and playlist request: only the cache fills from the origin.
	CDNSecret string
	// BaseURL prefixes the join answer's listen.hls (a CDN in front of the
	// origin, e.g. https://cdn.example.org); empty: the origin's own path.
	BaseURL string
}

// hlsPrevGrace bounds, in ticket lifetimes, how long after its expiry a
// renewed ticket may be named in a heartbeat's prev: a player renews when
// a beat is answered expired_ticket, within a beat interval or a few retries.
const hlsPrevGrace = 2

// hlsAPI serves a room's LL-HLS rendition (docs/api.md, "LL-HLS"). Its URLs
// are the same for every listener of a room: /hls/{token}/…, where the
// token is room-scoped and changes once per token window, so a cache keys
// them by path and the delivery directives only.
type hlsAPI struct{ cfg HLSConfig }

func (h *hlsAPI) route(m *http.ServeMux) {
	m.HandleFunc("GET /api/v1/rooms/{id}/hls/index.m3u8", func(w http.ResponseWriter, r *http.Request) {
		h.fail(w, errHLSToken)
	})
	m.HandleFunc("GET /api/v1/rooms/{id}/hls/{token}/{name}", h.serve)
	m.HandleFunc("POST /api/v1/rooms/{id}/hls/heartbeat", h.heartbeat)
}

var (
	errHLSToken       = errorf(http.StatusUnauthorized, "bad_hls_token", "HLS URLs carry the room's token: take listen.hls from the join answer")
	errHLSCDNOnly     = errorf(http.StatusForbidden, "cdn_only", "this origin serves HLS to its cache only")
	errHLSBad         = errorf(http.StatusBadRequest, "bad_hls_request", "_HLS_msn and _HLS_part must be decimal numbers (_HLS_part with _HLS_msn), _HLS_skip YES or v2")
	errHLSTooFar      = errorf(http.StatusBadRequest, "hls_too_far_ahead", "the asked segment or part is too far ahead of the playlist")
	errHLSNotFound    = errorf(http.StatusNotFound, "hls_not_found", "no such part, segment or file in this rendition")
	errHLSTimeout     = errorf(http.StatusServiceUnavailable, "hls_timeout", "the asked part did not appear in time").Retry(time.Second)
	errHLSSessionShed = errorf(http.StatusServiceUnavailable, "shed", "new HLS sessions are paused while the server is under load").Retry(5 * time.Second)
	errHLSFull        = errorf(http.StatusServiceUnavailable, "hls_full", "this room counts no more HLS listeners now").Retry(10 * time.Second)
	errHLSBadPrev     = errorf(http.StatusBadRequest, "bad_prev_ticket", "prev must be the ticket this player held before, of this room and expired less than two ticket lifetimes ago")
)

// hlsErrors maps the rendition's errors to their API form.
func hlsError(err error) *apiError {
	switch {
	case errors.Is(err, hls.ErrBadRequest):
		return errHLSBad
	case errors.Is(err, hls.ErrTooFarAhead):
		return errHLSTooFar
	case errors.Is(err, hls.ErrNotFound):
		return errHLSNotFound
	case errors.Is(err, hls.ErrTimeout):
		return errHLSTimeout
	}
	return toAPIError(err)
}

func (h *hlsAPI) fail(w http.ResponseWriter, e *apiError) {
	if h.cfg.Metrics != nil {
		h.cfg.Metrics.HTTPErrors.WithLabelValues(e.Code).Inc()
	}
	writeAPIError(w, e)
}

// shedPolls reports whether the guard marked the request as arriving at
// the high overload level or above (HeaderShed holds the level's name).
func shedPolls(r *http.Request) bool {
	l := r.Header.Get(HeaderShed)
	return l == overload.High.String() || l == overload.Critical.String()
}

func (h *hlsAPI) serve(w http.ResponseWriter, r *http.Request) {
	if h.cfg.CDNSecret != "" && subtle.ConstantTimeCompare([]byte(r.Header.Get(HeaderCDNSecret)), []byte(h.cfg.CDNSecret)) != 1 {
		h.fail(w, errHLSCDNOnly)
		return
	}
	id := r.PathValue("id")
	if !h.cfg.Tokens.Valid(id, r.PathValue("token")) {
		h.fail(w, errHLSToken)
		return
	}
	name := r.PathValue("name")
	var req hls.Request
	if name == "media.m3u8" {
		var err error
		if req, err = hls.ParseRequest(r.URL.Query()); err != nil {
			h.fail(w, hlsError(err))
			return
		}
	}
	p, err := h.cfg.Origin.Rendition(id)
	if err != nil {
		h.fail(w, hlsError(err))
		return
	}
	switch name {
	case "index.m3u8":
		writeHLS(w, "application/vnd.apple.mpegurl", hls.MultivariantCacheControl, h.cfg.Origin.Multivariant())
	case "media.m3u8":
		// Shedding: at high load a blocking reload is answered at once (the
		// request holds no connection waiting); parts are never shed.
		pl, err := p.MediaPlaylist(r.Context(), req, shedPolls(r))
		if err != nil {
			if r.Context().Err() != nil {
				return // the client left
			}
			h.fail(w, hlsError(err))
			return
		}
		writeHLS(w, "application/vnd.apple.mpegurl", pl.CacheControl, pl.Body)
	default:
		b, err := p.Media(r.Context(), name)
		if err != nil {
			if r.Context().Err() != nil {
				return
			}
			h.fail(w, hlsError(err))
			return
		}
		writeHLS(w, "audio/mp4", hls.MediaCacheControl, b) // fMP4: init section, segment or part
	}
}

func writeHLS(w http.ResponseWriter, contentType, cacheControl string, body []byte) {
	hd := w.Header()
	hd.Set("Content-Type", contentType)
	hd.Set("Cache-Control", cacheControl)
	hd.Set("Content-Length", strconv.Itoa(len(body)))
	// Players on other origins (a web app on its own host, a CDN's).
	hd.Set("Access-Control-Allow-Origin", "*")
	w.WriteHeader(http.StatusOK)
	w.Write(body)
}

// heartbeat counts an HLS player (room.Service.HLSHeartbeat): the ticket of
// its join, every room.HLSBeat. The guard limits beats per address; while
// the process sheds polling, beats of a new session are refused. The first
// beat after a renewal names the ticket it replaces in prev
// (room.Service.HLSRenewed): signed for this room, expired less than
// hlsPrevGrace ago; any other prev is refused, and nothing is counted.
func (h *hlsAPI) heartbeat(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	q := r.URL.Query()
	t, err := h.cfg.Tickets.Verify(q.Get("t"), id)
	if err != nil {
		h.fail(w, toAPIError(err))
		return
	}
	// Playlists and parts are the same for every listener (cached): the
	// beat is where a player of a user blocked from the room, or removed
	// since the ticket was issued (a suspension), is stopped.
	if h.cfg.Rooms.ListenerRemoved(id, t.User, h.cfg.Tickets.Issued(t)) {
		h.fail(w, errListenerRemoved)
		return
	}
	var ok, renewed bool
	var old admission.Ticket
	if prev := q.Get("prev"); prev != "" {
		var perr error
		old, perr = h.cfg.Tickets.VerifyLapsed(prev, id, hlsPrevGrace*h.cfg.Tickets.TTL())
		if perr != nil {
			h.fail(w, errHLSBadPrev)
			return
		}
		renewed = true
		ok, err = h.cfg.Rooms.HLSRenewed(id, old.Nonce, t.Nonce, !shedPolls(r))
	} else {
		ok, err = h.cfg.Rooms.HLSHeartbeat(id, t.Nonce, !shedPolls(r))
	}
	switch {
	case err != nil:
		h.fail(w, toAPIError(err))
		return
	case !ok && shedPolls(r):
		h.fail(w, errHLSSessionShed)
		return
	case !ok:
		h.fail(w, errHLSFull)
		return
	}
	if t.User != "" { // a signed-in player: listed for the room's moderators
		h.cfg.Rooms.HLSListening(id, t.Nonce, t.User, old.Nonce, renewed)
	}
	writeJSON(w, http.StatusOK, map[string]any{"every_ms": room.HLSBeat.Milliseconds()})
}

// hlsListen is the join answer's HLS entries for a room and a ticket.
func (h *hlsAPI) listen(id, ticket string) (playlist, heartbeat string) {
	base := apiPrefix + "/rooms/" + id + "/hls/"
	return h.cfg.BaseURL + base + h.cfg.Tokens.Mint(id) + "/index.m3u8", base + "heartbeat?t=" + ticket
}
