package server

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"

	"majlis/internal/admission"
)

// safetyBadBody is a body a safety endpoint must refuse, and how.
type safetyBadBody struct {
	name, body string
	status     int
	code       string
}

// safetyBadShapes are bodies every JSON endpoint refuses whatever its
// fields: not an object, cut short, two values, unknown fields, too large.
func safetyBadShapes() []safetyBadBody {
	big := `{"text":"` + strings.Repeat("x", 2<<20) + `"}`
	return []safetyBadBody{
		{"array for the object", `[]`, 400, "bad_json"},
		{"array of objects", `[{}]`, 400, "bad_json"},
		{"string for the object", `"hello"`, 400, "bad_json"},
		{"number for the object", `42`, 400, "bad_json"},
		{"truncated", `{"a":`, 400, "bad_json"},
		{"truncated string", `{"text":"abc`, 400, "bad_json"},
		{"not JSON", `kind=speaker`, 400, "bad_json"},
		{"two values", `{} {}`, 400, "bad_json"},
		{"unknown field", `{"colour":"red"}`, 400, "bad_json"},
		{"nested unknown", `{"colour":{"a":[1,{"b":null}]}}`, 400, "bad_json"},
		{"2 MB", big, http.StatusRequestEntityTooLarge, "body_too_large"},
	}
}

// TestSafetyBadJSON: the notice, decision and complaint endpoints refuse
// bodies of the wrong shape and fields of the wrong type (a string for a
// number, a number for a string, a string for a boolean, an object or an
// array where neither belongs, null for the whole body, JSON cut short, a
// 2 MB body) with a 4xx and a stable code from docs/api.md, never a 5xx;
// nothing is stored, and the same endpoints then take a good body. A
// decision whose facts name the affected user is refused 400
// facts_personal_data.
func TestSafetyBadJSON(t *testing.T) {
	wide := admission.Rate{PerSecond: 1e6, Burst: 1e6}
	ts := startServerWith(t, "", func(c *Config) { c.Admission.ReportsPerIP, c.Admission.ReportsPerPrefix = wide, wide })
	doc, err := os.ReadFile("../../docs/api.md")
	if err != nil {
		t.Fatal(err)
	}
	_, hostTok := ts.createUser(t, "host")
	guestID, guestTok := ts.createUser(t, "guest")
	_, modTok := ts.createModerator(t, "mod")
	room := ts.liveRoom(t, hostTok)

	refuse := func(path, tok string, cases []safetyBadBody) {
		t.Helper()
		for _, c := range cases {
			r := ts.do(t, "POST", path, tok, c.body, nil)
			if r.status >= 500 || r.status != c.status || r.code != c.code {
				t.Errorf("POST %s, %s: %d %s, want %d %s", path, c.name, r.status, r.code, c.status, c.code)
			}
			if !strings.Contains(string(doc), "`"+r.code+"`") {
				t.Errorf("POST %s, %s: code %q is not in docs/api.md", path, c.name, r.code)
			}
		}
	}

	good := fmt.Sprintf(`{"kind":"speaker","room":%q,"speaker":%q,"from_s":1,"category":"STATEMENT_CATEGORY_SCAMS_AND_FRAUD",
		"explanation":"The speaker asks for bank details.","name":"Ana","email":"ana@example.org","good_faith":true}`, room, guestID)
	with := func(body, field, value string) string {
		var m map[string]json.RawMessage
		if err := json.Unmarshal([]byte(body), &m); err != nil {
			t.Fatal(err)
		}
		m[field] = json.RawMessage(value)
		b, _ := json.Marshal(m)
		return string(b)
	}
	reports := append(safetyBadShapes(),
		safetyBadBody{"null", `null`, 400, "bad_kind"},
		safetyBadBody{"empty object", `{}`, 400, "bad_kind"},
		safetyBadBody{"from_s a string", with(good, "from_s", `"1"`), 400, "bad_json"},
		safetyBadBody{"from_s an object", with(good, "from_s", `{"s":1}`), 400, "bad_json"},
		safetyBadBody{"from_s too large a number", with(good, "from_s", `1e400`), 400, "bad_json"},
		safetyBadBody{"from_s negative", with(good, "from_s", `-1`), 400, "bad_offset"},
		safetyBadBody{"to_s an array", with(good, "to_s", `[2]`), 400, "bad_json"},
		safetyBadBody{"category a number", with(good, "category", `7`), 400, "bad_json"},
		safetyBadBody{"kind an array", with(good, "kind", `["speaker"]`), 400, "bad_json"},
		safetyBadBody{"room an object", with(good, "room", `{"id":"x"}`), 400, "bad_json"},
		safetyBadBody{"illegal a string", with(good, "illegal", `"true"`), 400, "bad_json"},
		safetyBadBody{"illegal a number", with(good, "illegal", `1`), 400, "bad_json"},
		safetyBadBody{"good_faith a string", with(good, "good_faith", `"yes"`), 400, "bad_json"},
		safetyBadBody{"explanation a number", with(good, "explanation", `12345678901`), 400, "bad_json"},
		safetyBadBody{"email an array", with(good, "email", `["ana@example.org"]`), 400, "bad_json"},
		safetyBadBody{"explanation null", with(good, "explanation", `null`), 400, "bad_explanation"},
	)
	refuse("/api/v1/reports", "", reports)
	var q struct{ Notices []struct{ ID string } }
	json.Unmarshal(ts.must(t, 200, "GET", "/api/v1/safety/notices", modTok, "").body, &q)
	if len(q.Notices) != 0 {
		t.Fatalf("refused notices stored: %+v", q)
	}
	var rc struct{ ID string }
	json.Unmarshal(ts.must(t, 201, "POST", "/api/v1/reports", "", good).body, &rc)

	decision := `{"action":"warn","ground":"terms","terms_ground":"Terms §2","explanation":"Fraud.","facts":"Heard at the reported time."}`
	decisions := func(decision string) []safetyBadBody {
		return append(safetyBadShapes(),
			safetyBadBody{"null", `null`, 400, "bad_action"},
			safetyBadBody{"action a number", with(decision, "action", `1`), 400, "bad_json"},
			safetyBadBody{"action an object", with(decision, "action", `{"warn":true}`), 400, "bad_json"},
			safetyBadBody{"duration_s a string", with(with(decision, "action", `"suspend"`), "duration_s", `"86400"`), 400, "bad_json"},
			safetyBadBody{"duration_s huge", with(with(decision, "action", `"suspend"`), "duration_s", `1e300`), 400, "bad_duration"},
			safetyBadBody{"duration_s negative", with(with(decision, "action", `"suspend"`), "duration_s", `-3600`), 400, "bad_duration"},
			safetyBadBody{"also_illegal a string", with(decision, "also_illegal", `"true"`), 400, "bad_json"},
			safetyBadBody{"manifest a number", with(decision, "manifest", `0`), 400, "bad_json"},
			safetyBadBody{"territorial_scope a string", with(decision, "territorial_scope", `"DE"`), 400, "bad_json"},
			safetyBadBody{"territorial_scope numbers", with(decision, "territorial_scope", `[49]`), 400, "bad_json"},
			safetyBadBody{"territorial_scope an object", with(decision, "territorial_scope", `{"DE":true}`), 400, "bad_json"},
			safetyBadBody{"facts an array", with(decision, "facts", `["Heard."]`), 400, "bad_json"},
			safetyBadBody{"offset_s a string", with(decision, "offset_s", `"3"`), 400, "bad_json"},
			safetyBadBody{"facts null", with(decision, "facts", `null`), 400, "bad_facts"},
			safetyBadBody{"facts naming the user", with(decision, "facts", `"guest asked for bank details."`), 400, "facts_personal_data"},
			safetyBadBody{"facts with a phone number", with(decision, "facts", `"Read out +49 30 1234 5678."`), 400, "facts_personal_data"},
		)
	}
	refuse("/api/v1/safety/notices/"+rc.ID+"/decision", modTok, decisions(decision))
	own := with(with(decision, "user", fmt.Sprintf("%q", guestID)), "category", `"STATEMENT_CATEGORY_SCAMS_AND_FRAUD"`)
	refuse("/api/v1/safety/decisions", modTok, append(decisions(own),
		safetyBadBody{"user a number", with(own, "user", `42`), 400, "bad_json"},
		safetyBadBody{"category an array", with(own, "category", `["STATEMENT_CATEGORY_SCAMS_AND_FRAUD"]`), 400, "bad_json"}))
	var ds struct{ Decisions []struct{ ID string } }
	json.Unmarshal(ts.must(t, 200, "GET", "/api/v1/safety/decisions", modTok, "").body, &ds)
	if len(ds.Decisions) != 0 {
		t.Fatalf("refused decisions stored: %+v", ds)
	}
	var d struct{ ID string }
	json.Unmarshal(ts.must(t, 201, "POST", "/api/v1/safety/notices/"+rc.ID+"/decision", modTok, decision).body, &d)

	complaint := `{"text":"I only repeated what the host had said."}`
	complaints := append(safetyBadShapes(),
		safetyBadBody{"null", `null`, 400, "bad_text"},
		safetyBadBody{"empty object", `{}`, 400, "bad_text"},
		safetyBadBody{"text a number", with(complaint, "text", `12345678901`), 400, "bad_json"},
		safetyBadBody{"text an array", with(complaint, "text", `["I only repeated it."]`), 400, "bad_json"},
		safetyBadBody{"text an object", with(complaint, "text", `{"en":"I only repeated it."}`), 400, "bad_json"},
		safetyBadBody{"text a boolean", with(complaint, "text", `true`), 400, "bad_json"},
	)
	refuse("/api/v1/safety/decisions/"+d.ID+"/complaints", guestTok, complaints)
	var cs struct{ Complaints []struct{ ID string } }
	json.Unmarshal(ts.must(t, 200, "GET", "/api/v1/safety/complaints", modTok, "").body, &cs)
	if len(cs.Complaints) != 0 {
		t.Fatalf("refused complaints stored: %+v", cs)
	}
	ts.must(t, 201, "POST", "/api/v1/safety/decisions/"+d.ID+"/complaints", guestTok, complaint)
}
