package httpapi

import (
	"io"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"majlis/internal/recording"
	"majlis/internal/room"
)

// maxReasonLen bounds the reason a moderator gives for hearing evidence.
const maxReasonLen = 500

func (a *API) routeEvidence(m *http.ServeMux) {
	m.HandleFunc("GET /api/v1/evidence", a.handle(a.listEvidence))
	m.HandleFunc("GET /api/v1/evidence/{seg}", a.handle(a.playEvidence))
}

// listEvidence lists a room's evidence segments around a time range
// (?room=ID&from=RFC3339&to=RFC3339; default the last hour): platform
// moderators and admins only.
func (a *API) listEvidence(w http.ResponseWriter, r *http.Request) error {
	p, err := a.auth(r)
	if err != nil {
		return err
	}
	if err := room.PlayEvidence(p.actor()); err != nil {
		return err
	}
	q := r.URL.Query()
	to, from := time.Now(), time.Now().Add(-time.Hour)
	for _, f := range []struct {
		name string
		t    *time.Time
	}{{"from", &from}, {"to", &to}} {
		if v := q.Get(f.name); v != "" {
			t, err := time.Parse(time.RFC3339, v)
			if err != nil {
				return errorf(http.StatusBadRequest, "bad_range", "from and to must be RFC 3339 times")
			}
			*f.t = t
		}
	}
	segs := a.ev.Find(q.Get("room"), from, to)
	if segs == nil {
		segs = []recording.Segment{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"segments": segs})
	return nil
}

// playEvidence serves one finished segment (GET /api/v1/evidence/{id}.ogg
// ?reason=…) to a platform moderator or admin; the access is recorded
// (the Access hook) before a byte is sent.
func (a *API) playEvidence(w http.ResponseWriter, r *http.Request) error {
	p, err := a.auth(r)
	if err != nil {
		return err
	}
	if err := room.PlayEvidence(p.actor()); err != nil {
		return err
	}
	id, ok := strings.CutSuffix(r.PathValue("seg"), ".ogg")
	if !ok {
		return errorf(http.StatusNotFound, "not_found", "evidence is served as ID.ogg")
	}
	reason := r.URL.Query().Get("reason")
	if utf8.RuneCountInString(reason) > maxReasonLen || !utf8.ValidString(reason) {
		return errorf(http.StatusBadRequest, "bad_reason", "reason must be at most 500 characters")
	}
	o, seg, err := a.ev.Open(recording.Access{Actor: p.ID, Segment: id, Reason: reason})
	if err != nil {
		return err
	}
	defer o.Close()
	h := w.Header()
	h.Set("Content-Type", "audio/ogg")
	h.Set("Cache-Control", "private, no-store")
	http.ServeContent(w, r, "", seg.End, io.NewSectionReader(o, 0, o.Size()))
	return nil
}
