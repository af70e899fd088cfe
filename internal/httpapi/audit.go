package httpapi

import (
	"context"
	"net/http"
	"net/url"
	"strconv"

	"majlis/internal/audit"
)

// AuditReader reads the audit log (*audit.Log implements it).
type AuditReader interface {
	Query(ctx context.Context, f audit.Filter) ([]audit.Row, error)
}

var errBadAuditQuery = errorf(http.StatusBadRequest, "bad_query", "audit filters: after is a row's seq (a decimal number), limit 1-1000, room, actor, action and target at most 1024 bytes each")

func (a *API) routeAudit(m *http.ServeMux) {
	m.HandleFunc("GET /api/v1/audit", a.handle(a.readAudit))
}

// readAudit answers GET /api/v1/audit?room=&actor=&action=&target=&after=&limit=
// with the matching rows, oldest first; the next page is after=next_after.
func (a *API) readAudit(w http.ResponseWriter, r *http.Request) error {
	p, err := a.auth(r)
	if err != nil {
		return err
	}
	f, err := parseAuditFilter(r.URL.Query())
	if err != nil {
		return err
	}
	if err := a.rooms.ReadAudit(r.Context(), p.actor(), f.Room); err != nil {
		return err
	}
	rows, err := a.audit.Query(r.Context(), f)
	if err != nil {
		return err
	}
	next := f.AfterSeq
	if len(rows) > 0 {
		next = rows[len(rows)-1].Seq
	}
	writeJSON(w, http.StatusOK, map[string]any{"rows": rows, "next_after": next})
	return nil
}

// parseAuditFilter reads the audit query's parameters (each given at most once).
func parseAuditFilter(q url.Values) (audit.Filter, error) {
	var f audit.Filter
	for _, v := range q {
		if len(v) != 1 {
			return f, errBadAuditQuery
		}
	}
	for _, s := range []struct {
		name string
		to   *string
	}{{"room", &f.Room}, {"actor", &f.Actor}, {"action", &f.Action}, {"target", &f.Target}} {
		v := q.Get(s.name)
		if len(v) > audit.MaxField {
			return f, errBadAuditQuery
		}
		*s.to = v
	}
	if v := q.Get("after"); v != "" {
		n, err := strconv.ParseUint(v, 10, 63)
		if err != nil {
			return f, errBadAuditQuery
		}
		f.AfterSeq = n
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > audit.MaxLimit {
			return f, errBadAuditQuery
		}
		f.Limit = n
	}
	return f, nil
}
