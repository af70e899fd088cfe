package safety

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// The Transparency Database API v2's rules for one statement
// (StatementStoreRequest::rules in digital-services-act/transparency-database).
var (
	tdbFields = []string{"decision_visibility", "decision_visibility_other", "decision_monetary", "decision_monetary_other", "decision_provision",
		"decision_account", "account_type", "category_specification", "category_specification_other", "decision_ground", "decision_ground_reference_url",
		"illegal_content_legal_ground", "illegal_content_explanation", "incompatible_content_ground", "incompatible_content_explanation",
		"incompatible_content_illegal", "content_type", "content_type_other", "category", "category_addition", "territorial_scope", "content_language",
		"content_date", "application_date", "end_date_account_restriction", "end_date_monetary_restriction", "end_date_service_restriction",
		"end_date_visibility_restriction", "decision_facts", "source_type", "source_identity", "automated_detection", "automated_decision", "puid",
		"content_id"}
	tdbVisibilities = []string{"DECISION_VISIBILITY_CONTENT_REMOVED", "DECISION_VISIBILITY_CONTENT_DISABLED", "DECISION_VISIBILITY_CONTENT_DEMOTED",
		"DECISION_VISIBILITY_CONTENT_AGE_RESTRICTED", "DECISION_VISIBILITY_CONTENT_INTERACTION_RESTRICTED", "DECISION_VISIBILITY_CONTENT_LABELLED", "DECISION_VISIBILITY_OTHER"}
	tdbProvisions = []string{"DECISION_PROVISION_PARTIAL_SUSPENSION", "DECISION_PROVISION_TOTAL_SUSPENSION", "DECISION_PROVISION_PARTIAL_TERMINATION", "DECISION_PROVISION_TOTAL_TERMINATION"}
	tdbAccounts   = []string{"DECISION_ACCOUNT_SUSPENDED", "DECISION_ACCOUNT_TERMINATED"}
	tdbGrounds    = []string{"DECISION_GROUND_ILLEGAL_CONTENT", "DECISION_GROUND_INCOMPATIBLE_CONTENT"}
	tdbContent    = []string{"CONTENT_TYPE_APP", "CONTENT_TYPE_AUDIO", "CONTENT_TYPE_IMAGE", "CONTENT_TYPE_PRODUCT", "CONTENT_TYPE_SYNTHETIC_MEDIA", "CONTENT_TYPE_TEXT", "CONTENT_TYPE_VIDEO", "CONTENT_TYPE_OTHER"}
	tdbSources    = []string{"SOURCE_ARTICLE_16", "SOURCE_TRUSTED_FLAGGER", "SOURCE_TYPE_OTHER_NOTIFICATION", "SOURCE_VOLUNTARY"}
	tdbDecisions  = []string{"AUTOMATED_DECISION_FULLY", "AUTOMATED_DECISION_PARTIALLY", "AUTOMATED_DECISION_NOT_AUTOMATED"}
	puidPattern   = regexp.MustCompile(`^[a-zA-Z0-9-_]+$`)
	// tdbPersonal is personal data the database's terms forbid in
	// decision_facts, as plainly as it shows: an email address, a phone
	// number, a URL with credentials.
	tdbPersonal = regexp.MustCompile(`[\w.+-]+@[\w-]+\.[\w.-]+|(?:^|[^\w])\+?\d(?:[ -]?\d){7,}(?:$|[^\w])|://[^\s/@]+@`)
)

// validTDB checks one exported statement, as JSON, against those rules.
func validTDB(raw []byte) error {
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		return err
	}
	for k := range m {
		if !slices.Contains(tdbFields, k) {
			return fmt.Errorf("unknown field %s", k)
		}
	}
	str := func(k string) (string, bool) { v, ok := m[k].(string); return v, ok }
	list := func(k string) ([]string, bool) {
		a, ok := m[k].([]any)
		if !ok {
			return nil, false
		}
		var out []string
		for _, v := range a {
			s, ok := v.(string)
			if !ok {
				return nil, false
			}
			out = append(out, s)
		}
		return out, true
	}
	in := func(k string, set []string, v string) error {
		if !slices.Contains(set, v) {
			return fmt.Errorf("%s: %q not allowed", k, v)
		}
		return nil
	}
	maxLen := func(k string, n int) error {
		if v, ok := str(k); ok && utf8.RuneCountInString(v) > n {
			return fmt.Errorf("%s longer than %d", k, n)
		}
		return nil
	}
	present := func(k string) bool { v, ok := m[k]; return ok && v != nil && v != "" }
	restrictions := 0
	if v, ok := list("decision_visibility"); ok {
		for _, x := range v {
			if err := in("decision_visibility", tdbVisibilities, x); err != nil {
				return err
			}
			if x == "DECISION_VISIBILITY_OTHER" && !present("decision_visibility_other") {
				return fmt.Errorf("decision_visibility_other required")
			}
		}
		restrictions += len(v)
	} else if present("decision_visibility") {
		return fmt.Errorf("decision_visibility is not an array")
	}
	for _, f := range []struct {
		k   string
		set []string
	}{{"decision_provision", tdbProvisions}, {"decision_account", tdbAccounts}} {
		if present(f.k) {
			v, _ := str(f.k)
			if err := in(f.k, f.set, v); err != nil {
				return err
			}
			restrictions++
		}
	}
	if restrictions == 0 {
		return fmt.Errorf("no decision_visibility, decision_monetary, decision_provision or decision_account")
	}
	g, _ := str("decision_ground")
	if err := in("decision_ground", tdbGrounds, g); err != nil {
		return err
	}
	illegal := []string{"illegal_content_legal_ground", "illegal_content_explanation"}
	incompatible := []string{"incompatible_content_ground", "incompatible_content_explanation", "incompatible_content_illegal"}
	need, exclude := illegal, incompatible
	if g == "DECISION_GROUND_INCOMPATIBLE_CONTENT" {
		need, exclude = incompatible, illegal
	}
	for _, k := range need {
		if !present(k) {
			return fmt.Errorf("%s required for %s", k, g)
		}
	}
	for _, k := range exclude {
		if present(k) {
			return fmt.Errorf("%s excluded for %s", k, g)
		}
	}
	if v, ok := str("incompatible_content_illegal"); ok {
		if err := in("incompatible_content_illegal", []string{"Yes", "No"}, v); err != nil {
			return err
		}
	}
	for k, n := range map[string]int{"illegal_content_legal_ground": 500, "illegal_content_explanation": 2000, "incompatible_content_ground": 500,
		"incompatible_content_explanation": 2000, "decision_facts": 5000, "puid": 500, "source_identity": 500} {
		if err := maxLen(k, n); err != nil {
			return err
		}
	}
	ct, ok := list("content_type")
	if !ok || len(ct) == 0 {
		return fmt.Errorf("content_type required")
	}
	for _, x := range ct {
		if err := in("content_type", tdbContent, x); err != nil {
			return err
		}
	}
	c, _ := str("category")
	if !ValidCategory(c) {
		return fmt.Errorf("category %q", c)
	}
	if present("territorial_scope") {
		ts, ok := list("territorial_scope")
		if !ok {
			return fmt.Errorf("territorial_scope is not an array")
		}
		for _, x := range ts {
			if err := in("territorial_scope", TerritorialEEA, x); err != nil {
				return err
			}
		}
	}
	date := func(k string, required bool, from string) error {
		v, ok := str(k)
		if !ok {
			if required || (m[k] != nil) {
				return fmt.Errorf("%s required as Y-m-d", k)
			}
			return nil
		}
		if _, err := time.Parse("2006-01-02", v); err != nil {
			return fmt.Errorf("%s: %q not Y-m-d", k, v)
		}
		if v < from || v > "2038-01-01" {
			return fmt.Errorf("%s: %s out of range", k, v)
		}
		return nil
	}
	if err := date("content_date", true, "2000-01-01"); err != nil {
		return err
	}
	if err := date("application_date", true, "2020-01-01"); err != nil {
		return err
	}
	for _, k := range []string{"end_date_account_restriction", "end_date_monetary_restriction", "end_date_service_restriction", "end_date_visibility_restriction"} {
		if err := date(k, false, "0000"); err != nil {
			return err
		}
	}
	if !present("decision_facts") {
		return fmt.Errorf("decision_facts required")
	}
	if f, _ := str("decision_facts"); tdbPersonal.MatchString(f) {
		return fmt.Errorf("decision_facts holds personal data: %q", tdbPersonal.FindString(f))
	}
	src, _ := str("source_type")
	if err := in("source_type", tdbSources, src); err != nil {
		return err
	}
	if src == "SOURCE_VOLUNTARY" && present("source_identity") {
		return fmt.Errorf("source_identity excluded for SOURCE_VOLUNTARY")
	}
	ad, _ := str("automated_detection")
	if err := in("automated_detection", []string{"Yes", "No"}, ad); err != nil {
		return err
	}
	adec, _ := str("automated_decision")
	if err := in("automated_decision", tdbDecisions, adec); err != nil {
		return err
	}
	p, _ := str("puid")
	if !puidPattern.MatchString(p) {
		return fmt.Errorf("puid %q", p)
	}
	return nil
}

// Every statement the service exports passes the database's v2 rules,
// for every action, ground and source, and has no personal data in its
// decision_facts; puids are unique.
func TestExportPassesTDBRules(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	if _, err := e.SetFlagger(ctx, adm, "tf", AreaAll); err != nil {
		t.Fatal(err)
	}
	base := muteDecision()
	base.Facts = strings.Repeat("f", MaxFacts)
	base.Explanation = strings.Repeat("e", MaxExplain)
	base.LegalGround = strings.Repeat("l", MaxGround)
	terms := base
	terms.Ground, terms.LegalGround, terms.TermsGround, terms.AlsoIllegal = GroundTerms, "", "Terms §4.2: no harassment", true
	var decided []Decision
	for i, act := range []DecisionInput{
		{Action: ActionMute, Room: "r1", User: "spk"},
		{Action: ActionRemoveFromStage, Room: "r1", User: "spk"},
		{Action: ActionRemoveClip, Clip: "c1"},
		{Action: ActionRemoveReplay, Room: "r1"},
		{Action: ActionSuspend, User: "spk", Duration: 72 * time.Hour},
		{Action: ActionTerminate, User: "lis"},
		{Action: ActionEndRoom, Room: "r1"},
		{Action: ActionWarn, User: "spk"},
	} {
		in := base
		if i%2 == 1 {
			in = terms
		}
		in.Action, in.Room, in.User, in.Clip, in.Duration = act.Action, act.Room, act.User, act.Clip, act.Duration
		if i == 3 {
			in.Territory = []string{"DE", "AT"}
		}
		var d Decision
		var err error
		switch i % 3 {
		case 0:
			in.Category = CategoryViolence
			d, err = e.DecideOwn(ctx, mod1, in)
		default:
			who := anon
			if i%3 == 2 {
				who = tflag
			}
			n := speakerNotice()
			if act.Action == ActionMute || act.Action == ActionRemoveFromStage {
				e.f.stage["r1/spk"] = true
			}
			rc, rerr := e.Report(ctx, who, n)
			if rerr != nil {
				t.Fatal(rerr)
			}
			d, err = e.Decide(ctx, mod1, rc.Notice.ID, in)
		}
		if err != nil {
			t.Fatalf("%s: %v", act.Action, err)
		}
		decided = append(decided, d)
		e.clk.Add(time.Minute)
	}
	sts, _, err := e.Statements(ctx, mod1, time.Time{}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(sts) != 7 { // the warning restricts nothing: no statement
		t.Fatalf("%d statements", len(sts))
	}
	seen := map[string]bool{}
	sources := map[string]bool{}
	for _, st := range sts {
		raw, _ := json.Marshal(st)
		if err := validTDB(raw); err != nil {
			t.Fatalf("%s: %v\n%s", st.PUID, err, raw)
		}
		if seen[st.PUID] {
			t.Fatalf("puid %s twice", st.PUID)
		}
		seen[st.PUID] = true
		sources[st.SourceType] = true
	}
	if len(sources) != 3 {
		t.Fatalf("sources %v", sources)
	}
	// The mapping, exactly.
	want := map[string]string{
		ActionRemoveFromStage: `"decision_provision":"DECISION_PROVISION_PARTIAL_SUSPENSION"`,
		ActionEndRoom:         `"decision_visibility":["DECISION_VISIBILITY_CONTENT_DISABLED"]`,
		ActionRemoveReplay:    `"decision_visibility":["DECISION_VISIBILITY_CONTENT_REMOVED"]`,
		ActionSuspend:         `"decision_account":"DECISION_ACCOUNT_SUSPENDED"`,
		ActionTerminate:       `"decision_account":"DECISION_ACCOUNT_TERMINATED"`,
	}
	for _, d := range decided {
		st, ok := d.TDB()
		if !ok {
			continue
		}
		raw, _ := json.Marshal(st)
		if w, ok := want[d.Action]; ok && !strings.Contains(string(raw), w) {
			t.Fatalf("%s: %s lacks %s", d.Action, raw, w)
		}
		if !strings.Contains(string(raw), `"content_type":["CONTENT_TYPE_AUDIO"]`) || !strings.Contains(string(raw), `"automated_detection":"No"`) {
			t.Fatalf("%s", raw)
		}
		if d.Action == ActionSuspend && !strings.Contains(string(raw), `"end_date_account_restriction":"2026-01-13"`) {
			t.Fatalf("suspension end: %s", raw)
		}
	}
	// Paging: since the last one's time returns it and nothing older.
	last := decided[len(decided)-2].At
	page, _, err := e.Statements(ctx, mod1, last, 0)
	if err != nil || len(page) != 1 || page[0].PUID != decided[len(decided)-2].PUID {
		t.Fatalf("since page %v %v", page, err)
	}
	// The validator itself refuses what the rules refuse.
	good, _ := json.Marshal(sts[0])
	for name, edit := range map[string]func(map[string]any){
		"unknown field": func(m map[string]any) { m["colour"] = "red" },
		"no restriction": func(m map[string]any) {
			delete(m, "decision_provision")
			delete(m, "decision_visibility")
			delete(m, "decision_account")
		},
		"bad puid":            func(m map[string]any) { m["puid"] = "a b" },
		"facts too long":      func(m map[string]any) { m["decision_facts"] = strings.Repeat("x", 5001) },
		"facts with an email": func(m map[string]any) { m["decision_facts"] = "Said ana@example.org on air." },
		"facts with a phone":  func(m map[string]any) { m["decision_facts"] = "Read out +49 30 1234 5678." },
		"missing conditional": func(m map[string]any) { delete(m, "illegal_content_legal_ground") },
		"wrong conditional":   func(m map[string]any) { m["incompatible_content_ground"] = "x" },
		"bad date":            func(m map[string]any) { m["content_date"] = "10/01/2026" },
		"bad category":        func(m map[string]any) { m["category"] = "STATEMENT_CATEGORY_X" },
		"bad automated":       func(m map[string]any) { m["automated_detection"] = "no" },
	} {
		var m map[string]any
		json.Unmarshal(good, &m)
		edit(m)
		raw, _ := json.Marshal(m)
		if validTDB(raw) == nil {
			t.Fatalf("validator passed %s: %s", name, raw)
		}
	}
}
