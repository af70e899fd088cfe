package httpapi

import (
	"context"
	"math"
	"net/http"
	"strconv"
	"time"

	"majlis/internal/safety"
)

// routeSafety serves the trust and safety chain (docs/safety.md): notices
// from anyone, and the moderators' queue, decisions, complaints, trusted
// flaggers and the Transparency Database export.
func (a *API) routeSafety(m *http.ServeMux) {
	m.HandleFunc("POST /api/v1/reports", a.handle(a.report))
	m.HandleFunc("GET /api/v1/reports", a.handle(safetyList(a, "notices", (*safety.Service).MyNotices)))
	m.HandleFunc("GET /api/v1/reports/{id}", a.handle(a.reportStatus))
	m.HandleFunc("GET /api/v1/safety/categories", a.handle(a.safetyCategories))
	m.HandleFunc("GET /api/v1/safety/notices", a.handle(safetyList(a, "notices", (*safety.Service).Queue)))
	m.HandleFunc("GET /api/v1/safety/notices/{id}", a.handle(safetyOn(a, "id", (*safety.Service).Notice)))
	m.HandleFunc("POST /api/v1/safety/notices/{id}/claim", a.handle(safetyOn(a, "id", (*safety.Service).Claim)))
	m.HandleFunc("POST /api/v1/safety/notices/{id}/decision", a.handle(a.decideNotice))
	m.HandleFunc("POST /api/v1/safety/decisions", a.handle(a.decideOwn))
	m.HandleFunc("GET /api/v1/safety/decisions", a.handle(a.listDecisions))
	m.HandleFunc("GET /api/v1/safety/decisions/{id}", a.handle(safetyOn(a, "id", (*safety.Service).Decision)))
	m.HandleFunc("POST /api/v1/safety/decisions/{id}/complaints", a.handle(a.complain))
	m.HandleFunc("GET /api/v1/safety/complaints", a.handle(a.listComplaints))
	m.HandleFunc("GET /api/v1/safety/complaints/{id}", a.handle(safetyOn(a, "id", (*safety.Service).Complaint)))
	m.HandleFunc("POST /api/v1/safety/complaints/{id}/decision", a.handle(a.decideComplaint))
	m.HandleFunc("GET /api/v1/safety/trusted-flaggers", a.handle(safetyList(a, "trusted_flaggers", (*safety.Service).Flaggers)))
	m.HandleFunc("PUT /api/v1/safety/trusted-flaggers/{user}", a.handle(a.setFlagger))
	m.HandleFunc("DELETE /api/v1/safety/trusted-flaggers/{user}", a.handle(a.unsetFlagger))
	m.HandleFunc("GET /api/v1/safety/statements", a.handle(a.statements))
	m.HandleFunc("GET /api/v1/safety/users/{user}/misuse", a.handle(safetyOn(a, "user", (*safety.Service).MisuseOf)))
	m.HandleFunc("GET /api/v1/safety/standing", a.handle(a.myStanding))
	m.HandleFunc("GET /api/v1/safety/transparency", a.handle(a.transparency))
	m.HandleFunc("GET /api/v1/transparency", a.handle(a.publicTransparency))
}

// publicTransparency is the public transparency report of ?period= (a
// year or a half year; the current year so far by default), for anyone,
// as JSON or, with ?format=csv, in the 2024/2835 template's layout.
func (a *API) publicTransparency(w http.ResponseWriter, r *http.Request) error {
	period := r.URL.Query().Get("period")
	format, err := reportFormat(r)
	if err != nil {
		return err
	}
	rep, err := a.safety.PublicReport(r.Context(), period)
	if err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "public, max-age=60")
	return writeReport(w, rep, format, "transparency-"+rep.From.Format("2006-01-02")+"-"+rep.To.Format("2006-01-02"))
}

// reportFormat is ?format=: json (the default) or csv.
func reportFormat(r *http.Request) (string, error) {
	switch f := r.URL.Query().Get("format"); f {
	case "", "json":
		return "json", nil
	case "csv":
		return f, nil
	}
	return "", errorf(http.StatusBadRequest, "bad_format", "format is json or csv")
}

// writeReport answers a transparency report as JSON or as the template's CSV (a download named name.csv).
func writeReport(w http.ResponseWriter, rep safety.Report, format, name string) error {
	if format != "csv" {
		writeJSON(w, http.StatusOK, rep)
		return nil
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="`+name+`.csv"`)
	w.WriteHeader(http.StatusOK)
	rep.WriteCSV(w) // the status is out: a failed write is the client gone
	return nil
}

// transparency is the transparency report's counts for ?from=&to=
// (RFC 3339; default the last 182 days), for moderators and admins, as
// JSON or ?format=csv.
func (a *API) transparency(w http.ResponseWriter, r *http.Request) error {
	act, err := a.safetyActor(r)
	if err != nil {
		return err
	}
	to := time.Now()
	from := to.AddDate(0, 0, -182)
	for _, f := range []struct {
		name string
		t    *time.Time
	}{{"from", &from}, {"to", &to}} {
		if v := r.URL.Query().Get(f.name); v != "" {
			if *f.t, err = time.Parse(time.RFC3339, v); err != nil {
				return errorf(http.StatusBadRequest, "bad_range", "from and to must be RFC 3339 times")
			}
		}
	}
	if !from.Before(to) {
		return errorf(http.StatusBadRequest, "bad_range", "from must be before to")
	}
	format, err := reportFormat(r)
	if err != nil {
		return err
	}
	rep, err := a.safety.TransparencyReport(r.Context(), act, from, to)
	if err != nil {
		return err
	}
	return writeReport(w, rep, format, "transparency-"+rep.From.Format("20060102T150405Z")+"-"+rep.To.Format("20060102T150405Z"))
}

// safetyOn adapts a safety call on the item the path names (param): the
// caller, the call, its answer as JSON.
func safetyOn[T any](a *API, param string, f func(*safety.Service, context.Context, safety.Actor, string) (T, error)) func(http.ResponseWriter, *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		act, err := a.safetyActor(r)
		if err != nil {
			return err
		}
		v, err := f(a.safety, r.Context(), act, r.PathValue(param))
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, v)
		return nil
	}
}

// safetyList adapts a safety listing for the caller: the list as {key: [...]}.
func safetyList[T any](a *API, key string, f func(*safety.Service, context.Context, safety.Actor) ([]T, error)) func(http.ResponseWriter, *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		act, err := a.safetyActor(r)
		if err != nil {
			return err
		}
		v, err := f(a.safety, r.Context(), act)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, map[string]any{key: v})
		return nil
	}
}

// hasCredentials says whether the request carries a bearer token or a session cookie.
func hasCredentials(r *http.Request) bool {
	if bearer(r) != "" {
		return true
	}
	_, err := r.Cookie(sessionCookie)
	return err == nil
}

// safetyActor is the caller as the safety domain sees it: anonymous
// without credentials; a suspended account is let through (it reads its
// statements of reasons and complains), with no moderator's powers.
func (a *API) safetyActor(r *http.Request) (safety.Actor, error) {
	if !hasCredentials(r) {
		return safety.Actor{}, nil
	}
	p, err := a.authAny(r)
	if err != nil {
		return safety.Actor{}, err
	}
	return safety.Actor{ID: p.ID, Role: p.Role, Suspended: p.Suspended}, nil
}

type reportIn struct {
	Kind        string   `json:"kind"`
	Room        string   `json:"room"`
	Speaker     string   `json:"speaker"`
	Clip        string   `json:"clip"`
	From        *float64 `json:"from_s"`
	To          *float64 `json:"to_s"`
	Category    string   `json:"category"`
	Illegal     bool     `json:"illegal"`
	Law         string   `json:"law"`
	Explanation string   `json:"explanation"`
	Name        string   `json:"name"`
	Email       string   `json:"email"`
	GoodFaith   bool     `json:"good_faith"`
}

func statusURL(id, key string) string { return apiPrefix + "/reports/" + id + "?key=" + key }

func (a *API) report(w http.ResponseWriter, r *http.Request) error {
	act, err := a.safetyActor(r)
	if err != nil {
		return err
	}
	var in reportIn
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	rc, err := a.safety.Report(r.Context(), act, safety.NoticeInput(in))
	if err != nil {
		return err
	}
	w.Header().Set("Location", apiPrefix+"/reports/"+rc.Notice.ID)
	writeJSON(w, http.StatusCreated, map[string]any{"id": rc.Notice.ID, "key": rc.Key, "status": statusURL(rc.Notice.ID, rc.Key),
		"state": rc.Notice.State, "received_at": rc.Notice.Created, "trusted_flagger": rc.Notice.Trusted})
	return nil
}

func (a *API) reportStatus(w http.ResponseWriter, r *http.Request) error {
	act, err := a.safetyActor(r)
	if err != nil {
		return err
	}
	st, err := a.safety.Status(r.Context(), act, r.PathValue("id"), r.URL.Query().Get("key"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, st)
	return nil
}

func (a *API) safetyCategories(w http.ResponseWriter, r *http.Request) error {
	writeJSON(w, http.StatusOK, map[string]any{"categories": safety.Categories()})
	return nil
}

type decisionIn struct {
	Action      string   `json:"action"`
	Room        string   `json:"room"`
	User        string   `json:"user"`
	Clip        string   `json:"clip"`
	DurationS   float64  `json:"duration_s"`
	Category    string   `json:"category"`
	Ground      string   `json:"ground"`
	LegalGround string   `json:"legal_ground"`
	TermsGround string   `json:"terms_ground"`
	Explanation string   `json:"explanation"`
	AlsoIllegal bool     `json:"also_illegal"`
	Facts       string   `json:"facts"`
	Territory   []string `json:"territorial_scope"`
	OffsetS     float64  `json:"offset_s"`
	Manifest    bool     `json:"manifest"`
}

var errBadDuration = errorf(http.StatusBadRequest, "bad_duration", "duration_s must be seconds, a suspension from 3600 to 31536000")

func (in decisionIn) domain() (safety.DecisionInput, error) {
	if math.IsNaN(in.DurationS) || in.DurationS < 0 || in.DurationS > safety.MaxSuspension.Seconds()*2 {
		return safety.DecisionInput{}, errBadDuration
	}
	return safety.DecisionInput{Action: in.Action, Room: in.Room, User: in.User, Clip: in.Clip,
		Duration: time.Duration(in.DurationS * float64(time.Second)), Category: in.Category, Ground: in.Ground,
		LegalGround: in.LegalGround, TermsGround: in.TermsGround, Explanation: in.Explanation, AlsoIllegal: in.AlsoIllegal,
		Facts: in.Facts, Territory: in.Territory, Offset: in.OffsetS, Manifest: in.Manifest}, nil
}

func (a *API) decideNotice(w http.ResponseWriter, r *http.Request) error {
	act, err := a.safetyActor(r)
	if err != nil {
		return err
	}
	var in decisionIn
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	di, err := in.domain()
	if err != nil {
		return err
	}
	d, err := a.safety.Decide(r.Context(), act, r.PathValue("id"), di)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, d)
	return nil
}

func (a *API) decideOwn(w http.ResponseWriter, r *http.Request) error {
	act, err := a.safetyActor(r)
	if err != nil {
		return err
	}
	var in decisionIn
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	di, err := in.domain()
	if err != nil {
		return err
	}
	d, err := a.safety.DecideOwn(r.Context(), act, di)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, d)
	return nil
}

func (a *API) listDecisions(w http.ResponseWriter, r *http.Request) error {
	act, err := a.safetyActor(r)
	if err != nil {
		return err
	}
	var ds []safety.Decision
	if r.URL.Query().Get("mine") != "" {
		ds, err = a.safety.MyDecisions(r.Context(), act)
	} else {
		ds, err = a.safety.Decisions(r.Context(), act)
	}
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"decisions": ds})
	return nil
}

func (a *API) complain(w http.ResponseWriter, r *http.Request) error {
	act, err := a.safetyActor(r)
	if err != nil {
		return err
	}
	var in struct {
		Text string `json:"text"`
	}
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	c, err := a.safety.Complain(r.Context(), act, r.PathValue("id"), r.URL.Query().Get("key"), in.Text)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, c)
	return nil
}

func (a *API) listComplaints(w http.ResponseWriter, r *http.Request) error {
	act, err := a.safetyActor(r)
	if err != nil {
		return err
	}
	cs, err := a.safety.Complaints(r.Context(), act, r.URL.Query().Get("mine") != "")
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"complaints": cs})
	return nil
}

func (a *API) decideComplaint(w http.ResponseWriter, r *http.Request) error {
	act, err := a.safetyActor(r)
	if err != nil {
		return err
	}
	var in struct {
		Outcome     string      `json:"outcome"`
		Explanation string      `json:"explanation"`
		Replacement *decisionIn `json:"replacement"`
	}
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	out := safety.ComplaintOutcome{Outcome: in.Outcome, Explanation: in.Explanation}
	if in.Replacement != nil {
		di, err := in.Replacement.domain()
		if err != nil {
			return err
		}
		out.Replacement = &di
	}
	c, err := a.safety.DecideComplaint(r.Context(), act, r.PathValue("id"), out)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, c)
	return nil
}

func (a *API) setFlagger(w http.ResponseWriter, r *http.Request) error {
	act, err := a.safetyActor(r)
	if err != nil {
		return err
	}
	var in struct {
		Area string `json:"area"`
	}
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	if in.Area == "" {
		return errorf(http.StatusBadRequest, "bad_area", "area must be a STATEMENT_CATEGORY_* value or *")
	}
	f, err := a.safety.SetFlagger(r.Context(), act, r.PathValue("user"), in.Area)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, f)
	return nil
}

func (a *API) unsetFlagger(w http.ResponseWriter, r *http.Request) error {
	act, err := a.safetyActor(r)
	if err != nil {
		return err
	}
	if _, err := a.safety.SetFlagger(r.Context(), act, r.PathValue("user"), ""); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// statements exports the statements of reasons as Transparency Database
// API v2 JSON (?since=RFC3339&limit=N); next_since pages on.
func (a *API) statements(w http.ResponseWriter, r *http.Request) error {
	act, err := a.safetyActor(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	var since time.Time
	if v := q.Get("since"); v != "" {
		if since, err = time.Parse(time.RFC3339, v); err != nil {
			return errorf(http.StatusBadRequest, "bad_since", "since must be an RFC 3339 time")
		}
	}
	limit := 0
	if v := q.Get("limit"); v != "" {
		if limit, err = strconv.Atoi(v); err != nil || limit < 1 || limit > safety.MaxStatements {
			return errorf(http.StatusBadRequest, "bad_limit", "limit must be 1-1000")
		}
	}
	sts, last, err := a.safety.Statements(r.Context(), act, since, limit)
	if err != nil {
		return err
	}
	out := map[string]any{"statements": sts}
	if !last.IsZero() {
		out["next_since"] = last.Add(time.Millisecond).Format(time.RFC3339Nano)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// myStanding answers GET /api/v1/safety/standing: the caller's own Art. 23 standing.
func (a *API) myStanding(w http.ResponseWriter, r *http.Request) error {
	act, err := a.safetyActor(r)
	if err != nil {
		return err
	}
	st, err := a.safety.MyStanding(r.Context(), act)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, st)
	return nil
}
