package server

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"majlis/internal/admission"
	"majlis/internal/audio"
	"majlis/internal/audit"
	"majlis/internal/overload"
	"majlis/internal/testkit"
)

// waitTones polls the listener's program until ok holds on the last second
// of it (10 windows of 100 ms), or fails after timeout.
func waitTones(t *testing.T, l *listener, what string, timeout time.Duration, ok func(w []int, lv []float64) bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		w, lv := tonePresence(l, 1000, 0.1, lowHz, highHz)
		if ok(w, lv) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: 440 Hz in %d/10 windows (max %.3f), 1000 Hz in %d/10 (max %.3f)", what, w[0], lv[0], w[1], lv[1])
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (ts *testServer) createModerator(t testing.TB, name string) (id, token string) {
	t.Helper()
	var u struct{ ID, Token string }
	if code := ts.call(t, "POST", "/api/v1/users", ts.AdminToken(), map[string]string{"name": name, "role": "moderator"}, &u); code != http.StatusCreated {
		t.Fatalf("create moderator: %d", code)
	}
	return u.ID, u.Token
}

// TestSafetyMuteEndToEnd: a speaker publishes a tone; an anonymous listener
// reports them; the evidence of the reported moment is held and, played
// by the moderator at the segment and offset the server's notice and
// evidence list give, holds both speakers' tones there (±0.5 s); the
// moderator claims the notice and decides "mute", and the
// tone leaves the program at once; the speaker reads the statement of
// reasons (and the room's stream says there is one), complains, a second
// moderator reverses, and the tone comes back. The notifier's status link
// shows the decision; the export holds its Transparency Database statement.
// Every step is in the audit log, the evidence access too (evidence.access
// by the moderator, naming the segment and the reason); once the server
// has stopped the chain verifies, and fails at the row edited by hand.
func TestSafetyMuteEndToEnd(t *testing.T) {
	ts := startServerWith(t, "", func(c *Config) { c.EvidenceSegment = 2 * time.Second })
	_, hostTok := ts.createUser(t, "host")
	guestID, guestTok := ts.createUser(t, "guest")
	mod1ID, mod1 := ts.createModerator(t, "mod1")
	_, mod2 := ts.createModerator(t, "mod2")
	room := ts.liveRoom(t, hostTok)
	base := "/api/v1/rooms/" + room

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	evs := subscribeWS(t, ctx, ts, room, "")
	ogg := listenOgg(t, ctx, ts.base+ts.join(t, room).Listen.Ogg)
	host := publishTone(t, ts, room, hostTok, &tone{freq: lowHz, amp: toneAmp})
	defer host.stop()
	ts.must(t, 200, "POST", base+"/requests", guestTok, "")
	ts.must(t, 200, "POST", base+"/requests/"+guestID+"/approve", hostTok, "")
	guest := publishTone(t, ts, room, guestTok, &tone{freq: highHz, amp: toneAmp})
	defer guest.stop()
	both := func(w []int, _ []float64) bool { return w[0] >= 5 && w[1] >= 5 }
	waitTones(t, ogg, "both tones before the notice", 15*time.Second, both)
	// Two seconds more of both, so the reported moment (a second before
	// now) is at least 1.5 s into the guest's tone: the 2 s evidence
	// segment holding it has the tone in most of its windows, wherever
	// the segment's boundaries fall.
	time.Sleep(2 * time.Second)
	waitTones(t, ogg, "both tones still on before the notice", 15*time.Second, both)
	var info struct {
		StartedAt time.Time `json:"started_at"`
	}
	ts.call(t, "GET", base, "", nil, &info)
	at := time.Since(info.StartedAt).Seconds() - 1 // a moment the listener heard: both tones are on

	// The notice, anonymous.
	notice := fmt.Sprintf(`{"kind":"speaker","room":%q,"speaker":%q,"from_s":%.1f,"to_s":%.1f,"category":"STATEMENT_CATEGORY_ILLEGAL_OR_HARMFUL_SPEECH",
		"illegal":true,"law":"§ 130 StGB","explanation":"The speaker incites hatred against a group.","name":"Ana","email":"ana@example.org","good_faith":true}`, room, guestID, at, at+0.5)
	var rc struct{ ID, Key, Status string }
	json.Unmarshal(ts.must(t, 201, "POST", "/api/v1/reports", "", notice).body, &rc)
	if rc.ID == "" || !strings.HasPrefix(rc.Status, "/api/v1/reports/"+rc.ID+"?key=") {
		t.Fatalf("receipt %+v", rc)
	}
	if r := ts.do(t, "POST", "/api/v1/reports", "", strings.Replace(notice, `"good_faith":true`, `"good_faith":false`, 1), nil); r.code != "good_faith_required" {
		t.Fatalf("no good faith: %d %s", r.status, r.code)
	}
	// The reported moment's evidence is held (past the evidence ring's retention).
	var ev struct {
		Segments []struct {
			Track     string
			HoldUntil time.Time `json:"hold_until"`
		}
	}
	json.Unmarshal(ts.must(t, 200, "GET", "/api/v1/evidence?room="+room, mod1, "").body, &ev)
	heldProgram := false
	for _, s := range ev.Segments {
		heldProgram = heldProgram || s.Track == "program" && s.HoldUntil.After(time.Now().AddDate(0, 6, 0))
	}
	if !heldProgram {
		t.Fatalf("evidence not held: %+v", ev)
	}
	// The moderator plays the reported moment where the server puts it:
	// both speakers' tones are at that offset of that segment.
	seg, off, pcm := noticeEvidence(t, ts, mod1, rc.ID)
	for _, f := range []float64{highHz, lowHz} {
		if !toneNear(pcm, off, f) {
			t.Fatalf("evidence %s at %v (the notice's moment): no %.0f Hz tone within 0.5 s", seg, off, f)
		}
	}
	if toneIn(pcm, 3000) {
		t.Fatalf("evidence %s holds a tone nobody sent", seg)
	}
	if r := ts.do(t, "GET", "/api/v1/safety/notices", guestTok, "", nil); r.status != 403 {
		t.Fatalf("user reads the queue: %d %s", r.status, r.code)
	}
	var q struct{ Notices []struct{ ID string } }
	json.Unmarshal(ts.must(t, 200, "GET", "/api/v1/safety/notices", mod1, "").body, &q)
	if len(q.Notices) != 1 || q.Notices[0].ID != rc.ID {
		t.Fatalf("queue %+v", q)
	}
	ts.must(t, 200, "POST", "/api/v1/safety/notices/"+rc.ID+"/claim", mod1, "")
	if r := ts.do(t, "POST", "/api/v1/safety/notices/"+rc.ID+"/claim", mod2, "", nil); r.code != "notice_claimed" {
		t.Fatalf("second claim: %d %s", r.status, r.code)
	}

	// The decision acts at once: the guest's tone leaves the program.
	var d struct {
		ID, Action, User string
		Statement        struct{ Redress []struct{ Route string } } `json:"statement_of_reasons"`
	}
	json.Unmarshal(ts.must(t, 201, "POST", "/api/v1/safety/notices/"+rc.ID+"/decision", mod1,
		`{"action":"mute","ground":"illegal","legal_ground":"§ 130 StGB","explanation":"Incitement to hatred.","facts":"Heard in the program at the reported time."}`).body, &d)
	if d.Action != "mute" || d.User != guestID || len(d.Statement.Redress) != 3 {
		t.Fatalf("decision %+v", d)
	}
	waitTones(t, ogg, "after the mute", 10*time.Second, func(w []int, lv []float64) bool { return w[0] >= 5 && lv[1] < 0.02 })
	evs.wait(t, "safety_decision event", 5*time.Second, func(es []roomEvent) bool {
		for _, e := range es {
			if e.Type == "safety_decision" && strings.Contains(string(e.Data), d.ID) && strings.Contains(string(e.Data), guestID) {
				return true
			}
		}
		return false
	})
	// The guest reads the statement; the notifier their status.
	var mine struct {
		Decisions []struct {
			ID, Decider string
			Statement   *struct{ Restriction string } `json:"statement_of_reasons"`
		}
	}
	json.Unmarshal(ts.must(t, 200, "GET", "/api/v1/safety/decisions?mine=1", guestTok, "").body, &mine)
	if len(mine.Decisions) != 1 || mine.Decisions[0].ID != d.ID || mine.Decisions[0].Decider != "" || mine.Decisions[0].Statement == nil {
		t.Fatalf("mine %s", ts.must(t, 200, "GET", "/api/v1/safety/decisions?mine=1", guestTok, "").body)
	}
	var st struct {
		State    string
		Decision struct{ Action string }
	}
	json.Unmarshal(ts.must(t, 200, "GET", rc.Status, "", "").body, &st)
	if st.State != "decided" || st.Decision.Action != "mute" {
		t.Fatalf("status %+v", st)
	}
	if r := ts.do(t, "GET", "/api/v1/reports/"+rc.ID+"?key=nope", "", "", nil); r.code != "notice_not_found" {
		t.Fatalf("wrong key: %d %s", r.status, r.code)
	}

	// The guest complains; the decider may not answer; a second moderator reverses.
	var c struct{ ID string }
	json.Unmarshal(ts.must(t, 201, "POST", "/api/v1/safety/decisions/"+d.ID+"/complaints", guestTok, `{"text":"I quoted the previous speaker to refute them."}`).body, &c)
	if r := ts.do(t, "POST", "/api/v1/safety/decisions/"+d.ID+"/complaints", guestTok, `{"text":"I quoted the previous speaker to refute them."}`, nil); r.code != "complaint_exists" {
		t.Fatalf("duplicate complaint: %d %s", r.status, r.code)
	}
	if r := ts.do(t, "POST", "/api/v1/safety/complaints/"+c.ID+"/decision", mod1, `{"outcome":"reversed","explanation":"x"}`, nil); r.code != "same_decider" {
		t.Fatalf("decider answers: %d %s", r.status, r.code)
	}
	ts.must(t, 200, "POST", "/api/v1/safety/complaints/"+c.ID+"/decision", mod2, `{"outcome":"reversed","explanation":"Quoting to refute is not incitement."}`)
	waitTones(t, ogg, "after the reversal", 10*time.Second, func(w []int, _ []float64) bool { return w[0] >= 5 && w[1] >= 5 })
	var shown struct{ Outcome string }
	json.Unmarshal(ts.must(t, 200, "GET", "/api/v1/safety/complaints/"+c.ID, guestTok, "").body, &shown)
	if shown.Outcome != "reversed" {
		t.Fatalf("complaint %+v", shown)
	}

	// The export: one statement, the mute as a partial suspension of the service.
	var ex struct{ Statements []map[string]any }
	json.Unmarshal(ts.must(t, 200, "GET", "/api/v1/safety/statements?since=2020-01-01T00:00:00Z", mod2, "").body, &ex)
	if len(ex.Statements) != 1 || ex.Statements[0]["decision_provision"] != "DECISION_PROVISION_PARTIAL_SUSPENSION" || ex.Statements[0]["source_type"] != "SOURCE_ARTICLE_16" {
		t.Fatalf("export %+v", ex)
	}
	if r := ts.do(t, "GET", "/api/v1/safety/statements", guestTok, "", nil); r.status != 403 {
		t.Fatalf("user exports: %d", r.status)
	}
	var rep struct {
		Notices, Decisions, Complaints, Reversals int
	}
	json.Unmarshal(ts.must(t, 200, "GET", "/api/v1/safety/transparency", mod2, "").body, &rep)
	if rep.Notices != 1 || rep.Decisions != 1 || rep.Complaints != 1 || rep.Reversals != 1 {
		t.Fatalf("transparency report %+v", rep)
	}
	// The public report: anyone, as JSON and as the 2024/2835 CSV; a bad period is a clear 400.
	rep.Notices = 0
	json.Unmarshal(ts.must(t, 200, "GET", "/api/v1/transparency", "", "").body, &rep)
	if rep.Notices != 1 || rep.Decisions != 1 || rep.Complaints != 1 || rep.Reversals != 1 {
		t.Fatalf("public transparency report %+v", rep)
	}
	pub := ts.must(t, 200, "GET", "/api/v1/transparency?format=csv&period="+strconv.Itoa(time.Now().UTC().Year()), "", "")
	if ct := pub.header.Get("Content-Type"); ct != "text/csv; charset=utf-8" {
		t.Fatalf("csv content type %q", ct)
	}
	if !strings.Contains(string(pub.body), "\nnotices,Art. 15(1)(b),notices_received,total,total,1,\n") ||
		!strings.Contains(string(pub.body), "\ncomplaints,Art. 15(1)(d),complaints,restriction,reversed,1,\n") {
		t.Fatalf("public csv:\n%s", pub.body)
	}
	for q, code := range map[string]string{"period=2019": "bad_period", "period=2026-H3": "bad_period", "format=xml": "bad_format"} {
		if r := ts.do(t, "GET", "/api/v1/transparency?"+q, "", "", nil); r.status != 400 || r.code != code {
			t.Fatalf("%s: %d %s, want 400 %s", q, r.status, r.body, code)
		}
	}
	// Every step is in the audit log, in order, the evidence access too.
	var log auditPage
	json.Unmarshal(ts.must(t, 200, "GET", "/api/v1/audit?limit=1000", ts.AdminToken(), "").body, &log)
	var got []string
	var decideSeq uint64
	for _, r := range log.Rows {
		switch {
		case r.Action == "evidence.access":
			if r.Actor != mod1ID || r.Target != "evidence:"+seg || r.Reason != "notice" || r.Room != room {
				t.Errorf("evidence access row %+v, want by %s of evidence:%s in %s, reason notice", r, mod1ID, seg, room)
			}
		case r.Action == "safety.decide":
			decideSeq = r.Seq
		case !strings.HasPrefix(r.Action, "safety."):
			continue
		}
		got = append(got, r.Action)
	}
	if want := []string{"evidence.access", "safety.claim", "safety.decide", "safety.complain", "safety.complaint_outcome"}; !slices.Equal(got, want) {
		t.Fatalf("safety and evidence rows in the audit log %v, want %v", got, want)
	}

	// Stopped, the log verifies as `majlis audit verify` does it; a row
	// edited by hand (the decision's reason) breaks the chain there.
	cancel()
	ts.stop()
	path := AuditPath(ts.cfg.DataDir)
	if v, err := audit.VerifyFile(context.Background(), path); err != nil || v.Rows != log.Rows[len(log.Rows)-1].Seq {
		t.Fatalf("verify: %+v %v, want %d rows", v, err, log.Rows[len(log.Rows)-1].Seq)
	}
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{`DROP TRIGGER audit_no_update`, fmt.Sprintf(`UPDATE audit SET reason = 'no ground at all' WHERE seq = %d`, decideSeq)} {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	db.Close()
	_, err = audit.VerifyFile(context.Background(), path)
	var ce *audit.ChainError
	if !errors.As(err, &ce) || ce.Seq != decideSeq || ce.Row == nil || ce.Row.Reason != "no ground at all" {
		t.Fatalf("verify of the edited log: %v, want row %d named", err, decideSeq)
	}
}

// TestReportFlood: a flood of anonymous notices from one address is
// refused 429 beyond its bucket, while the stage's API keeps answering;
// notices are not served on the stage port; under load an anonymous
// notice pays the proof of work and a signed-in one does not.
func TestReportFlood(t *testing.T) {
	aud, stage := startAdmissionServer(t, AdmissionConfig{})
	_, hostTok := aud.createUser(t, "host")
	room := stage.liveRoom(t, hostTok)
	notice := fmt.Sprintf(`{"kind":"room","room":%q,"from_s":1,"category":"STATEMENT_CATEGORY_SCAMS_AND_FRAUD","explanation":"The host asks for money for a fake charity.","name":"Bo","email":"bo@example.net","good_faith":true}`, room)
	var mu sync.Mutex
	codes := map[string]int{}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	stageFails := 0
	stageCalls := 0
	wg.Add(1)
	go func() { // the stage's API, all along
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			r := stage.do(t, "PUT", "/api/v1/rooms/"+room+"/pin", hostTok, `{"url":"https://example.org/agenda"}`, nil)
			mu.Lock()
			stageCalls++
			if r.status != 200 {
				stageFails++
			}
			mu.Unlock()
		}
	}()
	var flood sync.WaitGroup
	for range 8 {
		flood.Add(1)
		go func() {
			defer flood.Done()
			for range 25 {
				r := aud.do(t, "POST", "/api/v1/reports", "", notice, nil)
				mu.Lock()
				codes[fmt.Sprint(r.status, r.code)]++
				mu.Unlock()
			}
		}()
	}
	flood.Wait()
	close(stop)
	wg.Wait()
	if codes["201"] < 1 || codes["201"] > 10 || codes["429rate_limited"] < 190 {
		t.Fatalf("flood answers %v", codes)
	}
	if stageFails != 0 || stageCalls == 0 {
		t.Fatalf("stage: %d of %d calls failed during the flood", stageFails, stageCalls)
	}
	if r := stage.do(t, "POST", "/api/v1/reports", "", notice, nil); r.status != 404 {
		t.Fatalf("report on the stage port: %d %s", r.status, r.code)
	}

	// Under load: proof of work for the anonymous, not for the signed in.
	aud2, stage2 := startAdmissionServer(t, AdmissionConfig{ForceLevel: overload.Elevated})
	_, tok := aud2.createUser(t, "someone")
	room2 := stage2.liveRoom(t, tok)
	notice2 := strings.Replace(notice, room, room2, 1)
	r := aud2.do(t, "POST", "/api/v1/reports", "", notice2, nil)
	if r.code != "pow_required" {
		t.Fatalf("anonymous under load: %d %s", r.status, r.code)
	}
	var pw struct {
		PoW struct{ Challenge string } `json:"pow"`
	}
	json.Unmarshal(r.body, &pw)
	if pw.PoW.Challenge == "" {
		t.Fatalf("no challenge: %s", r.body)
	}
	aud2.must(t, 201, "POST", "/api/v1/reports", tok, notice2)
	paid := aud2.do(t, "POST", "/api/v1/reports", "", notice2, map[string]string{"Majlis-Pow": admission.Solve(pw.PoW.Challenge)})
	if paid.status != 201 {
		t.Fatalf("anonymous with the puzzle solved: %d %s", paid.status, paid.code)
	}
}

// TestSafetySubmitterWired: with tdb-url set, a decision's statement
// reaches the Transparency Database (a fake on loopback) with the token.
func TestSafetySubmitterWired(t *testing.T) {
	got := make(chan string, 10)
	tdb := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			Statements []struct{ PUID string }
		}
		if r.Header.Get("Authorization") != "Bearer tdb-secret" || json.NewDecoder(r.Body).Decode(&in) != nil {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		for _, s := range in.Statements {
			got <- s.PUID
		}
		w.WriteHeader(http.StatusCreated)
	}))
	defer tdb.Close()
	ts := startServerWith(t, "", func(c *Config) { c.TDBURL, c.TDBToken, c.TDBEvery = tdb.URL, "tdb-secret", 50*time.Millisecond })
	userID, _ := ts.createUser(t, "someone")
	var d struct{ PUID string }
	json.Unmarshal(ts.must(t, 201, "POST", "/api/v1/safety/decisions", ts.AdminToken(), fmt.Sprintf(`{"action":"suspend","user":%q,"duration_s":86400,
		"category":"STATEMENT_CATEGORY_SCAMS_AND_FRAUD","ground":"terms","terms_ground":"Terms §2","explanation":"Fraud.","facts":"Seen by a moderator."}`, userID)).body, &d)
	select {
	case p := <-got:
		if p != d.PUID {
			t.Fatalf("submitted %s, want %s", p, d.PUID)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the statement was not submitted")
	}
}

// noticeEvidence finds notice id's moment where the server puts it: the
// notice's from_s (as moderator tok reads it) after the room's start, in the
// finished program segment the evidence list says holds it (or, in a gap
// between two segments' labels, the one that ends or starts nearest, within
// 0.5 s). It returns the segment, the moment's offset in it, and the
// segment's decoded audio. (A segment is labelled from the wall clock when
// the pump took its first chunk, so neighbours may leave a gap of a few
// hundred ms between their labels.)
func noticeEvidence(t *testing.T, ts *testServer, tok, id string) (string, time.Duration, []int16) {
	t.Helper()
	var n struct {
		Room string
		From float64 `json:"from_s"`
	}
	if code := ts.call(t, "GET", "/api/v1/safety/notices/"+id, tok, nil, &n); code != http.StatusOK {
		t.Fatalf("notice %s: %d", id, code)
	}
	var rm struct {
		StartedAt time.Time `json:"started_at"`
	}
	ts.call(t, "GET", "/api/v1/rooms/"+n.Room, "", nil, &rm)
	at := rm.StartedAt.Add(time.Duration(n.From * float64(time.Second)))
	q := "/api/v1/evidence?room=" + n.Room + "&from=" + at.Add(-10*time.Second).UTC().Format(time.RFC3339) + "&to=" + at.Add(10*time.Second).UTC().Format(time.RFC3339)
	deadline := time.Now().Add(15 * time.Second)
	for {
		var ev struct {
			Segments []struct {
				ID, Track  string
				Start, End time.Time
			}
		}
		ts.call(t, "GET", q, tok, nil, &ev)
		best, gap := -1, 500*time.Millisecond
		for i, s := range ev.Segments {
			if s.Track != "program" || s.End.IsZero() {
				continue
			}
			d := time.Duration(0) // how far at is outside the segment's label
			if at.Before(s.Start) {
				d = s.Start.Sub(at)
			} else if at.After(s.End) {
				d = at.Sub(s.End)
			}
			if d <= gap {
				best, gap = i, d
			}
		}
		if best >= 0 {
			s := ev.Segments[best]
			off := min(max(at.Sub(s.Start), 0), s.End.Sub(s.Start))
			return s.ID, off, evidencePCM(t, ts, tok, s.ID)
		}
		if time.Now().After(deadline) {
			t.Fatalf("no finished program segment holds %v (notice %s at %.1f s): %+v", at, id, n.From, ev.Segments)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// toneNear says whether freq is on in at least half the 100 ms windows of
// pcm within 0.5 s of off (at least three of them).
func toneNear(pcm []int16, off time.Duration, freq float64) bool {
	rows := windowLevels(pcm, win, freq)
	w := int(off / (100 * time.Millisecond))
	on, n := 0, 0
	for i := max(w-5, 0); i < min(w+5, len(rows)); i++ {
		n++
		if rows[i][0] > 0.1 {
			on++
		}
	}
	return n >= 3 && on*2 >= n
}

// evidencePCM plays evidence segment id as moderator tok: its decoded audio.
func evidencePCM(t *testing.T, ts *testServer, tok, id string) []int16 {
	t.Helper()
	req := jsonRequest("GET", ts.base+"/api/v1/evidence/"+id+".ogg?reason=notice", tok, nil)
	resp, err := testHTTP.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("evidence %s: %s", id, resp.Status)
	}
	dec, err := audio.NewDecoder(1)
	if err != nil {
		t.Fatal(err)
	}
	or := testkit.NewOggReader(resp.Body)
	var out []int16
	pcm := make([]int16, 5760)
	for n := 0; ; n++ {
		pkt, _, err := or.NextPacket()
		if err != nil {
			return out
		}
		if n < 2 {
			continue
		}
		k, err := dec.Decode(pkt, pcm)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, pcm[:k]...)
	}
}

// toneIn says whether freq is on in at least a third of pcm's 100 ms windows.
func toneIn(pcm []int16, freq float64) bool {
	rows := windowLevels(pcm, win, freq)
	on := 0
	for _, r := range rows {
		if r[0] > 0.1 {
			on++
		}
	}
	return len(rows) > 0 && on*3 >= len(rows)
}

// TestSafetyReverseRemovalFromStage: a moderator removes a speaker from
// the stage on their own initiative; the speaker complains; a second
// moderator reverses, and the speaker is on the stage again, as a speaker.
func TestSafetyReverseRemovalFromStage(t *testing.T) {
	ts := startServer(t, "")
	_, hostTok := ts.createUser(t, "host")
	guestID, guestTok := ts.createUser(t, "guest")
	room := ts.liveRoom(t, hostTok)
	base := "/api/v1/rooms/" + room
	ts.must(t, 200, "POST", base+"/requests", guestTok, "")
	ts.must(t, 200, "POST", base+"/requests/"+guestID+"/approve", hostTok, "")
	_, mod1 := ts.createModerator(t, "nour")
	_, mod2 := ts.createModerator(t, "sami")
	role := func() string {
		for _, m := range ts.state(t, room).Stage {
			if m.ID == guestID {
				return m.Role
			}
		}
		return ""
	}
	if r := role(); r != "speaker" {
		t.Fatalf("before: %q", r)
	}
	var d struct{ ID string }
	json.Unmarshal(ts.must(t, 201, "POST", "/api/v1/safety/decisions", mod1, fmt.Sprintf(`{"action":"remove_from_stage","room":%q,"user":%q,
		"category":"STATEMENT_CATEGORY_ILLEGAL_OR_HARMFUL_SPEECH","ground":"terms","terms_ground":"Terms §3","explanation":"Insults.","facts":"Heard by a moderator."}`, room, guestID)).body, &d)
	if r := role(); r != "" {
		t.Fatalf("after the removal: %q", r)
	}
	var c struct{ ID string }
	json.Unmarshal(ts.must(t, 201, "POST", "/api/v1/safety/decisions/"+d.ID+"/complaints", guestTok, `{"text":"I quoted the previous speaker to refute them."}`).body, &c)
	ts.must(t, 200, "POST", "/api/v1/safety/complaints/"+c.ID+"/decision", mod2, `{"outcome":"reversed","explanation":"Quoting to refute is not insulting."}`)
	if r := role(); r != "speaker" {
		t.Fatalf("after the reversal: %q", r)
	}
}

// TestSafetyReplayWithheldAndRestored: removing a replay or a clip withholds
// it (451 recording_withheld to everyone, its host included) rather than
// deleting it, so that when a second moderator reverses the decision on a
// complaint the same replay and clip play again.
func TestSafetyReplayWithheldAndRestored(t *testing.T) {
	ts := startServer(t, "")
	_, hostTok := ts.createUser(t, "rec-host")
	_, lisTok := ts.createUser(t, "rec-lis")
	_, mod1 := ts.createModerator(t, "nour")
	_, mod2 := ts.createModerator(t, "sami")
	room := ts.liveRoom(t, hostTok)
	p := "/api/v1/rooms/" + room
	ts.must(t, 200, "POST", p+"/recording", hostTok, `{"on":true}`)
	time.Sleep(1500 * time.Millisecond)
	ts.must(t, 200, "POST", p+"/end", hostTok, "")
	for i := 0; ; i++ {
		var st struct{ State string }
		ts.call(t, "GET", p+"/recording", hostTok, nil, &st)
		if st.State == "finished" {
			break
		}
		if i == 100 {
			t.Fatalf("recording %q 10 s after the end", st.State)
		}
		time.Sleep(100 * time.Millisecond)
	}
	ts.must(t, 200, "PATCH", p+"/recording", hostTok, `{"public":true}`)
	replay := ts.must(t, 200, "GET", p+"/recording.ogg", "", "").body
	var clip struct{ ID string }
	json.Unmarshal(ts.must(t, 201, "POST", p+"/clips", lisTok, `{"from_s":0,"seconds":1}`).body, &clip)
	clipBytes := ts.must(t, 200, "GET", "/api/v1/clips/"+clip.ID+".ogg", "", "").body

	decide := func(body string) string {
		var d struct{ ID string }
		json.Unmarshal(ts.must(t, 201, "POST", "/api/v1/safety/decisions", mod1, body).body, &d)
		return d.ID
	}
	const why = `"category":"STATEMENT_CATEGORY_ILLEGAL_OR_HARMFUL_SPEECH","ground":"terms","terms_ground":"Terms §3","explanation":"Insults.","facts":"Heard by a moderator."`
	dReplay := decide(fmt.Sprintf(`{"action":"remove_replay","room":%q,%s}`, room, why))
	dClip := decide(fmt.Sprintf(`{"action":"remove_clip","clip":%q,%s}`, clip.ID, why))
	for _, c := range []struct{ who, tok, path string }{
		{"anonymous", "", p + "/recording.ogg"},
		{"the host", hostTok, p + "/recording.ogg"},
		{"anonymous", "", "/api/v1/clips/" + clip.ID + ".ogg"},
		{"the clip's maker", lisTok, "/api/v1/clips/" + clip.ID + ".ogg"},
	} {
		if r := ts.do(t, "GET", c.path, c.tok, "", nil); r.status != 451 || r.code != "recording_withheld" {
			t.Errorf("%s, GET %s after the removal: %d %s, want 451 recording_withheld", c.who, c.path, r.status, r.code)
		}
	}
	reverse := func(decision, tok string) {
		var c struct{ ID string }
		json.Unmarshal(ts.must(t, 201, "POST", "/api/v1/safety/decisions/"+decision+"/complaints", tok, `{"text":"Nothing in it breaks the terms."}`).body, &c)
		ts.must(t, 200, "POST", "/api/v1/safety/complaints/"+c.ID+"/decision", mod2, `{"outcome":"reversed","explanation":"On a second listen, no insult."}`)
	}
	reverse(dReplay, hostTok)
	reverse(dClip, lisTok)
	if got := ts.must(t, 200, "GET", p+"/recording.ogg", "", "").body; !bytes.Equal(got, replay) {
		t.Errorf("restored replay: %d bytes, want the %d it had", len(got), len(replay))
	}
	if got := ts.must(t, 200, "GET", "/api/v1/clips/"+clip.ID+".ogg", "", "").body; !bytes.Equal(got, clipBytes) {
		t.Errorf("restored clip: %d bytes, want the %d it had", len(got), len(clipBytes))
	}
}
