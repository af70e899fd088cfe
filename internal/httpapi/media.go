package httpapi

import (
	"errors"
	"io"
	"mime"
	"net/http"
	"time"

	"majlis/internal/stage"
)

func mediaType(r *http.Request) string {
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	return mt
}

func readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return nil, errBodyTooLarge
	}
	if err != nil {
		return nil, errorf(http.StatusBadRequest, "bad_body", "could not read the request body")
	}
	return b, nil
}

// whipPost is RFC 9725 ingest: an SDP offer in, 201 + SDP answer + Location
// out. The room decides who may publish and starts the session (the offer is
// checked after the permission, so a refused publisher learns nothing about
// its offer).
func (a *API) whipPost(w http.ResponseWriter, r *http.Request) error {
	p, err := a.auth(r)
	if err != nil {
		return err
	}
	if mediaType(r) != contentSDP {
		return errUnsupportedCT
	}
	body, err := readBody(w, r, maxSDPBody)
	if err != nil {
		return err
	}
	id := r.PathValue("id")
	sess, answer, err := a.rooms.Publish(r.Context(), p.actor(), id, string(body))
	if err != nil {
		return err
	}
	w.Header().Set("Location", apiPrefix+"/rooms/"+id+"/whip/"+sess)
	w.Header().Set("Content-Type", contentSDP)
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusCreated)
	io.WriteString(w, answer)
	return nil
}

func (a *API) whipOptions(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Allow", "OPTIONS, POST")
	w.Header().Set("Accept-Post", contentSDP)
	w.WriteHeader(http.StatusNoContent)
}

// whipSession returns the caller's session named in the path.
func (a *API) whipSession(r *http.Request) (*stage.Session, error) {
	p, err := a.auth(r)
	if err != nil {
		return nil, err
	}
	s := a.stage.Session(r.PathValue("session"))
	if s == nil || s.Room() != r.PathValue("id") {
		return nil, errSessionGone
	}
	if !p.isAdmin() && s.Member() != p.ID {
		return nil, errForbidden
	}
	return s, nil
}

func (a *API) whipPatch(w http.ResponseWriter, r *http.Request) error {
	s, err := a.whipSession(r)
	if err != nil {
		return err
	}
	if mediaType(r) != contentFrag {
		return errUnsupportedCT
	}
	body, err := readBody(w, r, maxSDPBody)
	if err != nil {
		return err
	}
	if err := s.Trickle(string(body)); err != nil {
		if errors.Is(err, stage.ErrICERestartUnsupported) {
			return err
		}
		return errorf(http.StatusBadRequest, "bad_sdpfrag", err.Error())
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (a *API) whipDelete(w http.ResponseWriter, r *http.Request) error {
	s, err := a.whipSession(r)
	if err != nil {
		return err
	}
	s.Close()
	w.WriteHeader(http.StatusOK)
	return nil
}

// Placement picks the edge a joined listener connects to (cluster.Fleet).
type Placement interface {
	// EdgeFor returns an edge's base URL (http(s)://host:port) for a new
	// listener of room; ok is false when the origin serves it itself.
	EdgeFor(room string) (base string, ok bool)
}

// join mints a ticket for a live room. Its listen URLs are paths on this
// server, or absolute URLs on an edge when a Placement chooses one.
func (a *API) join(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	// A room running here is live: an anonymous join then costs no store
	// read (a surge of joins into a popular room is the common case). A
	// room not running here gets the store's answer: 404, 409 or 410.
	if a.live.Get(id) == nil {
		rm, err := a.rooms.Peek(r.Context(), id)
		if err != nil {
			return err
		}
		if _, err := a.liveRoom(r.Context(), rm); err != nil {
			return err
		}
	}
	user, err := a.joinAllowed(r, id)
	if err != nil {
		return err
	}
	// A signed-in join's ticket names its user: the room's hosts then see
	// them among its listeners (room.Service.ListenerConnected).
	tok, t, err := a.tickets.IssueFor(id, user)
	if err != nil {
		return err
	}
	a.met.TicketsIssued.Inc()
	base := apiPrefix + "/rooms/" + id
	if a.place != nil {
		if edge, ok := a.place.EdgeFor(id); ok {
			base = edge + base // absolute: the listener connects to that edge
		}
	}
	listen := map[string]string{
		"ogg": base + "/listen.ogg?t=" + tok,
		"ws":  base + "/listen.ws?t=" + tok,
	}
	if a.hls != nil {
		listen["hls"], listen["hls_heartbeat"] = a.hls.listen(id, tok)
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"ticket":     tok,
		"expires_at": t.Expires.UTC().Format(time.RFC3339),
		"listen":     listen,
		// The room's events, on the same server as the listen URLs: an
		// edge serves them from its mirror, so an audience placed on edges
		// holds no stream at the origin.
		"events": base + "/events",
	})
	return nil
}
