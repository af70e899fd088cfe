package safety

import (
	"context"
	"encoding/csv"
	"io"
	"strconv"
	"strings"
	"time"
)

// A period of the public transparency report: a calendar year ("2026")
// or one of its halves ("2026-H1", "2026-H2"), in UTC. Art. 15 DSA asks
// for a yearly report, Art. 42 a half-yearly one of the largest
// platforms; Art. 24(2)'s recipients figure is half-yearly too.
const (
	firstReportYear = 2024 // the DSA applies to platforms from 17 February 2024
	publicReportTTL = time.Minute
)

// ParsePeriod reads a report period; "" is the current year so far. A
// period that has not begun, or before firstReportYear, is refused.
func ParsePeriod(s string, now time.Time) (from, to time.Time, err error) {
	now = now.UTC()
	bad := fieldErr("bad_period", "period", "a period is a year (2026) or a half year (2026-H1, 2026-H2), from "+
		strconv.Itoa(firstReportYear)+" to the current one")
	if s == "" {
		s = strconv.Itoa(now.Year())
	}
	year, half, _ := strings.Cut(s, "-")
	y, perr := strconv.Atoi(year)
	if perr != nil || len(year) != 4 || y < firstReportYear {
		return from, to, bad
	}
	from = time.Date(y, time.January, 1, 0, 0, 0, 0, time.UTC)
	to = from.AddDate(1, 0, 0)
	switch half {
	case "":
		if strings.Contains(s, "-") {
			return time.Time{}, time.Time{}, bad
		}
	case "H1":
		to = from.AddDate(0, 6, 0)
	case "H2":
		from = from.AddDate(0, 6, 0)
	default:
		return time.Time{}, time.Time{}, bad
	}
	if !from.Before(now) {
		return time.Time{}, time.Time{}, bad
	}
	return from, to, nil
}

type cachedReport struct {
	at  time.Time
	rep Report
}

// PublicReport is the transparency report of a period (ParsePeriod) for
// anyone: the counts hold no personal data (Art. 15(1), 24(1) DSA). It is
// computed at most once a minute per period, so the public page costs
// the database nothing under a flood of requests; periods are few (a
// handful a year), so the cache is bounded.
func (s *Service) PublicReport(ctx context.Context, period string) (Report, error) {
	now := s.cfg.Now()
	from, to, err := ParsePeriod(period, now)
	if err != nil {
		return Report{}, err
	}
	key := from.Format(time.DateOnly) + "/" + to.Format(time.DateOnly)
	s.reportMu.Lock()
	defer s.reportMu.Unlock() // one computation at a time: the others wait for its result
	if c, ok := s.reports[key]; ok && now.Sub(c.at) < publicReportTTL {
		return c.rep, nil
	}
	rep, err := s.report(ctx, from, to)
	if err != nil {
		return Report{}, err
	}
	if s.reports == nil {
		s.reports = map[string]cachedReport{}
	}
	s.reports[key] = cachedReport{at: now, rep: rep}
	return rep, nil
}

// The template's sections, as WriteCSV names them, with the DSA provision
// each answers (docs/safety.md has the mapping to Annex I of Implementing
// Regulation (EU) 2024/2835).
var csvHeader = []string{"section", "provision", "indicator", "category", "breakdown", "value", "note"}

// WriteCSV writes the report in the layout of the quantitative template
// of Implementing Regulation (EU) 2024/2835: one row per cell of its
// tables (section, DSA provision, indicator, category, breakdown, value),
// every category of the Transparency Database listed, zeros included, so
// that two periods' files have the same rows. A cell this server does not
// record (orders of authorities, out-of-court disputes) has an empty
// value and says why in its note.
func (r Report) WriteCSV(w io.Writer) error {
	cw := csv.NewWriter(w)
	row := func(section, provision, indicator, category, breakdown string, value any, note string) {
		v := ""
		switch x := value.(type) {
		case int:
			v = strconv.Itoa(x)
		case float64:
			v = strconv.FormatFloat(x, 'f', -1, 64)
		case string:
			v = x
		}
		cw.Write([]string{section, provision, indicator, category, breakdown, v, note})
	}
	cw.Write(csvHeader)
	const total = "total"
	row("identification", "Art. 15(1)", "reporting_period_start", "", "", r.From.Format(time.RFC3339), "")
	row("identification", "Art. 15(1)", "reporting_period_end", "", "", r.To.Format(time.RFC3339), "exclusive")
	row("identification", "Art. 15(1)", "period_complete", "", "", strconv.FormatBool(r.Complete), "false: the period has not ended")

	row("orders", "Art. 15(1)(a)", "orders_received", total, "", nil,
		"orders of Member State authorities (Art. 9, 10) reach the provider outside this server and are not recorded here")

	// Notices (Art. 16): received by category and source; acted on by ground.
	cats := Categories()
	noticeCount := func(cat, src string) int {
		n := 0
		for _, c := range r.NoticeCells {
			if (cat == total || c.Category == cat) && (src == total || c.Source == src) {
				n += c.Count
			}
		}
		return n
	}
	for _, cat := range append([]string{total}, cats...) {
		for _, src := range []string{total, SourceArticle16, SourceTrustedFlagger} {
			row("notices", "Art. 15(1)(b)", "notices_received", cat, src, noticeCount(cat, src), "")
		}
	}
	decisions := func(onNotice bool, cat, breakdown string) int {
		n := 0
		for _, c := range r.DecisionCells {
			if c.OnNotice != onNotice || (cat != total && c.Category != cat) {
				continue
			}
			switch breakdown {
			case total:
			case "ground_illegal", "ground_terms":
				if c.Restriction == "" || "ground_"+c.Ground != breakdown {
					continue
				}
			case "no_restriction":
				if c.Restriction != "" {
					continue
				}
			case "automated", "not_automated":
				if c.Automated != (breakdown == "automated") {
					continue
				}
			default: // a restriction kind
				if c.Restriction != breakdown {
					continue
				}
			}
			n += c.Count
		}
		return n
	}
	for _, cat := range append([]string{total}, cats...) {
		for _, b := range []string{total, "ground_illegal", "ground_terms", "no_restriction"} {
			row("notices", "Art. 15(1)(b)", "notices_acted_on", cat, b, decisions(true, cat, b), "")
		}
	}
	row("notices", "Art. 15(1)(b)", "notices_processed_by_automated_means", total, "", 0, "every notice is decided by a moderator")
	row("notices", "Art. 15(1)(b)", "median_time_to_action_s", total, "", r.MedianDecisionS, "from the notice to its decision")

	// Own-initiative moderation (Art. 15(1)(c)): by category, kind of restriction, ground, detection.
	for _, cat := range append([]string{total}, cats...) {
		for _, b := range []string{total, RestrictVisibility, RestrictMonetary, RestrictProvision, RestrictAccount, "no_restriction", "ground_illegal", "ground_terms"} {
			row("own_initiative", "Art. 15(1)(c)", "decisions", cat, b, decisions(false, cat, b), "")
		}
	}
	row("own_initiative", "Art. 15(1)(c)", "detected_by", total, "automated", r.AutomatedDetection, "nothing is detected automatically")
	row("own_initiative", "Art. 15(1)(c)", "decided_by", total, "automated", decisions(false, total, "automated"), "the Art. 23 strike rule")
	row("own_initiative", "Art. 15(1)(c)", "decided_by", total, "not_automated", decisions(false, total, "not_automated"), "")

	// Complaints (Art. 20): by what they contest and by outcome.
	complaints := func(against, outcome string) int {
		n := 0
		for _, c := range r.ComplaintCells {
			if (against == total || c.Against == against) && (outcome == total || c.Outcome == outcome) {
				n += c.Count
			}
		}
		return n
	}
	for _, against := range []string{total, "restriction", "no_action"} {
		for _, o := range []string{total, OutcomeUpheld, OutcomeReversed, OutcomeModified, "open"} {
			row("complaints", "Art. 15(1)(d)", "complaints", against, o, complaints(against, o), "")
		}
	}
	row("complaints", "Art. 15(1)(d)", "median_time_to_decision_s", total, "", r.MedianComplaintS, "")
	row("complaints", "Art. 15(1)(d)", "decisions_reversed", total, "", r.Reversals, "reversed or modified on complaint")

	row("out_of_court", "Art. 24(1)(a)", "disputes_submitted", total, "", nil,
		"out-of-court settlement bodies (Art. 21) deal with the provider outside this server; not recorded here")

	row("suspensions", "Art. 24(1)(b)", "suspensions", total, "manifestly_illegal_content", r.StrikeSuspensions, "")
	row("suspensions", "Art. 24(1)(b)", "suspensions", total, "manifestly_unfounded_notices", r.NoticeSuspensions, "")
	row("suspensions", "Art. 24(1)(b)", "suspensions", total, "manifestly_unfounded_complaints", 0, "this server has no such rule")
	row("suspensions", "Art. 23(1)", "warnings", total, "manifestly_illegal_content", r.StrikeWarnings, "")

	row("automated_means", "Art. 15(1)(e)", "automated_decisions", total, "", r.AutomatedDecisions, "")
	row("automated_means", "Art. 15(1)(e)", "automated_detections", total, "", r.AutomatedDetection, "")
	row("trusted_flaggers", "Art. 22", "trusted_flaggers", total, "", r.TrustedFlaggersNow, "at the time of the report")
	cw.Flush()
	return cw.Error()
}
