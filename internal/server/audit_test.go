package server

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net/http"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// auditRow is one row of GET /api/v1/audit's answer.
type auditRow struct {
	Seq    uint64         `json:"seq"`
	At     time.Time      `json:"at"`
	Actor  string         `json:"actor"`
	Action string         `json:"action"`
	Target string         `json:"target"`
	Room   string         `json:"room"`
	Reason string         `json:"reason"`
	Detail map[string]any `json:"detail"`
	Prev   string         `json:"prev"`
	Hash   string         `json:"hash"`
}

// auditPage is GET /api/v1/audit's answer.
type auditPage struct {
	Rows      []auditRow `json:"rows"`
	NextAfter uint64     `json:"next_after"`
}

// lines is the page as "actor action target room" lines.
func (p auditPage) lines() []string {
	var out []string
	for _, r := range p.Rows {
		out = append(out, fmt.Sprintf("%s %s %s %s", r.Actor, r.Action, r.Target, r.Room))
	}
	return out
}

// TestAuditModerationAPI: a moderation sequence through the HTTP API
// (mute, remove from the stage, block, end) leaves exactly its audit rows,
// with the right actor, target and room, readable by the admin, a platform
// moderator and the room's host, and by nobody else.
func TestAuditModerationAPI(t *testing.T) {
	ts := startServer(t, "")
	hostID, hostTok := ts.createUser(t, "host")
	aID, _ := ts.createUser(t, "speaker")
	bID, bTok := ts.createUser(t, "listener")
	_, plainTok := ts.createUser(t, "plain")
	var mod struct{ ID, Token string }
	if code := ts.call(t, "POST", "/api/v1/users", ts.AdminToken(), map[string]string{"name": "mod", "role": "moderator"}, &mod); code != http.StatusCreated {
		t.Fatalf("create moderator: %d", code)
	}
	room := ts.liveRoom(t, hostTok)
	ts.must(t, 200, "POST", "/api/v1/rooms/"+room+"/speakers/"+aID, hostTok, "")
	ts.must(t, 200, "POST", "/api/v1/rooms/"+room+"/members/"+aID+"/mute", hostTok, `{"muted":true}`)
	ts.must(t, 200, "DELETE", "/api/v1/rooms/"+room+"/speakers/"+aID, mod.Token, "")
	ts.must(t, 200, "POST", "/api/v1/rooms/"+room+"/requests", bTok, "") // the listener's own act: no row
	ts.must(t, 200, "POST", "/api/v1/rooms/"+room+"/blocks/"+bID, hostTok, "")
	ts.must(t, 403, "POST", "/api/v1/rooms/"+room+"/blocks/"+hostID, plainTok, "") // refused: no row
	ts.must(t, 200, "POST", "/api/v1/rooms/"+room+"/end", ts.AdminToken(), "")

	want := []string{
		hostID + " room.create room:" + room + " " + room,
		hostID + " room.start room:" + room + " " + room,
		hostID + " room.invite user:" + aID + " " + room,
		hostID + " room.mute user:" + aID + " " + room,
		mod.ID + " room.remove user:" + aID + " " + room,
		hostID + " room.block user:" + bID + " " + room,
		"admin room.end room:" + room + " " + room,
	}
	for _, who := range []struct{ name, tok string }{{"admin", ts.AdminToken()}, {"moderator", mod.Token}, {"host", hostTok}} {
		var page auditPage
		if code := ts.call(t, "GET", "/api/v1/audit?room="+room, who.tok, nil, &page); code != http.StatusOK {
			t.Fatalf("%s reads the room's audit: %d", who.name, code)
		}
		if got := page.lines(); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("%s reads:\n%s\nwant:\n%s", who.name, strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
		if page.NextAfter != page.Rows[len(page.Rows)-1].Seq {
			t.Errorf("next_after %d, want the last row's seq", page.NextAfter)
		}
	}
	// Everything, in chain order: the accounts first (the admin made
	// them), then the room's rows; a page and the next one.
	var all auditPage
	if code := ts.call(t, "GET", "/api/v1/audit", ts.AdminToken(), nil, &all); code != http.StatusOK || len(all.Rows) != 5+len(want) {
		t.Fatalf("all rows: %d, %d rows, want %d", code, len(all.Rows), 5+len(want))
	}
	for i, r := range all.Rows {
		if r.Seq != uint64(i+1) || (i > 0 && r.Prev != all.Rows[i-1].Hash) {
			t.Fatalf("row %d: seq %d prev %s: not the chain", i, r.Seq, r.Prev)
		}
		if i < 5 && (r.Actor != "admin" || r.Action != "account.create_user") {
			t.Errorf("row %d: %s %s, want admin account.create_user", i, r.Actor, r.Action)
		}
	}
	var page auditPage
	if code := ts.call(t, "GET", "/api/v1/audit?action=account.create_user&after=2&limit=2", mod.Token, nil, &page); code != http.StatusOK ||
		len(page.Rows) != 2 || page.Rows[0].Seq != 3 || page.NextAfter != 4 {
		t.Fatalf("page after 2: %d %+v", code, page)
	}
	if page.Rows[1].Detail["role"] != "user" {
		t.Errorf("create_user detail: %v", page.Rows[1].Detail)
	}
	for _, c := range []struct {
		path, tok string
		status    int
		code      string
	}{
		{"/api/v1/audit?room=" + room, plainTok, 403, "audit_forbidden"},
		{"/api/v1/audit?room=" + room, bTok, 403, "audit_forbidden"},
		{"/api/v1/audit", hostTok, 403, "audit_forbidden"}, // a host reads their room only
		{"/api/v1/audit?room=nosuchroom", hostTok, 403, "audit_forbidden"},
		{"/api/v1/audit?room=" + room, "", 401, "unauthorized"},
		{"/api/v1/audit?limit=0", ts.AdminToken(), 400, "bad_query"},
		{"/api/v1/audit?limit=5000", ts.AdminToken(), 400, "bad_query"},
		{"/api/v1/audit?after=x", ts.AdminToken(), 400, "bad_query"},
		{"/api/v1/audit?room=a&room=b", ts.AdminToken(), 400, "bad_query"},
	} {
		if r := ts.do(t, "GET", c.path, c.tok, "", nil); r.status != c.status || r.code != c.code {
			t.Errorf("GET %s: %d %s, want %d %s", c.path, r.status, r.code, c.status, c.code)
		}
	}
	if v, err := ts.audit.Verify(context.Background()); err != nil || v.Rows != uint64(len(all.Rows)) {
		t.Fatalf("verify: %+v %v", v, err)
	}

	// With the log gone, an action takes effect but is answered 503
	// audit_unavailable, never a silent 2xx.
	other := ts.liveRoom(t, hostTok)
	ts.must(t, 200, "POST", "/api/v1/rooms/"+other+"/speakers/"+aID, hostTok, "")
	ts.audit.Close()
	if r := ts.do(t, "POST", "/api/v1/rooms/"+other+"/members/"+aID+"/mute", hostTok, `{"muted":true}`, nil); r.status != 503 || r.code != "audit_unavailable" {
		t.Fatalf("mute with the audit log closed: %d %s, want 503 audit_unavailable", r.status, r.code)
	}
	muted := false
	for _, m := range ts.state(t, other).Stage {
		muted = muted || (m.ID == aID && m.ForcedMute)
	}
	if !muted {
		t.Error("the unrecorded mute did not take effect")
	}
	if r := ts.do(t, "POST", "/api/v1/users/"+bID+"/suspend", ts.AdminToken(), `{"suspended":true}`, nil); r.status != 503 || r.code != "audit_unavailable" {
		t.Fatalf("suspend with the audit log closed: %d %s, want 503 audit_unavailable", r.status, r.code)
	}
}

// TestAuditSurvivesKill9: a real process acknowledges a stream of
// moderation actions and is killed with SIGKILL while they are in flight;
// restarted on the same data dir, it has the audit row of every action it
// acknowledged, and `majlis audit verify` passes. A row then edited by hand
// makes `majlis audit verify` fail, naming it.
func TestAuditSurvivesKill9(t *testing.T) {
	bin := buildMajlis(t)
	dir := t.TempDir()
	p := startProc(t, bin, dir)
	var other struct{ ID, Token string }
	if code := p.call(t, "POST", "/api/v1/users", sigtermToken, map[string]string{"name": "other"}, &other); code != http.StatusCreated {
		t.Fatalf("other: %d", code)
	}

	// The workload: rooms of the admin (no room quota), in each an
	// invitation, a forced mute, a block and the end. Every 2xx is an
	// acknowledged action whose row must survive.
	var mu sync.Mutex
	var acked []string // "action target room"
	enough := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		client := &http.Client{Timeout: 5 * time.Second}
		ok := func(method, path string, body, out any, line string) bool {
			code, err := p.try(client, method, path, sigtermToken, body, out)
			if err != nil || code >= 300 {
				return false // cut by the kill: not acknowledged
			}
			if line != "" {
				mu.Lock()
				acked = append(acked, line)
				if len(acked) == 40 {
					close(enough)
				}
				mu.Unlock()
			}
			return true
		}
		for i := 0; ; i++ {
			var rm struct{ ID string }
			if !ok("POST", "/api/v1/rooms", map[string]string{"title": fmt.Sprintf("r%d", i)}, &rm, "") {
				return
			}
			id, user := rm.ID, "user:"+other.ID
			steps := []struct {
				method, path string
				body         any
				line         string
			}{
				{"POST", "/start", nil, "room.start room:" + id},
				{"POST", "/speakers/" + other.ID, nil, "room.invite " + user},
				{"POST", "/members/" + other.ID + "/mute", map[string]bool{"muted": true}, "room.mute " + user},
				{"POST", "/blocks/" + other.ID, nil, "room.block " + user},
				{"POST", "/end", nil, "room.end room:" + id},
			}
			for _, s := range steps {
				if !ok(s.method, "/api/v1/rooms/"+id+s.path, s.body, nil, s.line+" "+id) {
					return
				}
			}
		}
	}()
	select {
	case <-enough:
	case <-done:
		t.Fatal("the workload stopped before the kill")
	case <-time.After(60 * time.Second):
		t.Fatal("40 actions not acknowledged in 60 s")
	}
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-p.done
	<-done
	mu.Lock()
	want := append([]string(nil), acked...)
	mu.Unlock()

	p = startProc(t, bin, dir)
	var got []string
	creates := 0
	for after := uint64(0); ; {
		var page auditPage
		if code := p.call(t, "GET", fmt.Sprintf("/api/v1/audit?after=%d&limit=1000", after), sigtermToken, nil, &page); code != http.StatusOK {
			t.Fatalf("audit after restart: %d", code)
		}
		for _, r := range page.Rows {
			if r.Actor != "admin" {
				t.Errorf("row %d: actor %q, want admin", r.Seq, r.Actor)
			}
			if r.Action == "room.create" { // the rooms are made before the stream
				creates++
			} else if strings.HasPrefix(r.Action, "room.") {
				got = append(got, r.Action+" "+r.Target+" "+r.Room)
			}
		}
		if len(page.Rows) == 0 {
			break
		}
		after = page.NextAfter
	}
	// Every acknowledged row, in order; at most one more (the action in
	// flight at the kill, done but never answered).
	if len(got) < len(want) || len(got) > len(want)+1 {
		t.Fatalf("%d room rows after the kill, want %d acknowledged (+1 at most)", len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("row %d after the kill: %q, want %q", i, got[i], want[i])
		}
	}
	p.stop(t)
	t.Logf("%d actions acknowledged before the kill, %d room rows after it", len(want), len(got))

	out, err := exec.Command(bin, "audit", "verify", "--data", dir).CombinedOutput()
	if err != nil || !strings.HasPrefix(string(out), fmt.Sprintf("ok: %d rows, head ", len(got)+creates+1)) {
		t.Fatalf("majlis audit verify: %v\n%s", err, out)
	}

	// Tamper with one row as someone with the file would.
	db, err := sql.Open("sqlite", "file:"+AuditPath(dir))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{`DROP TRIGGER audit_no_update`, `UPDATE audit SET reason = 'a quiet word' WHERE seq = 7`} {
		if _, err := db.Exec(s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
	db.Close()
	cmd := exec.Command(bin, "audit", "verify", "--data", dir)
	var stdout bytes.Buffer
	cmd.Stdout = &stdout
	err = cmd.Run()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
		t.Fatalf("majlis audit verify of an edited log: %v, want exit 1\n%s", err, stdout.String())
	}
	if !strings.HasPrefix(stdout.String(), "bad: row 7: hash does not match") || !strings.Contains(stdout.String(), `"reason":"a quiet word"`) {
		t.Fatalf("majlis audit verify of an edited log printed:\n%s", stdout.String())
	}
}

// TestSetRole: an admin makes a user a moderator and back (PUT
// /api/v1/users/{id}/role): each change holds from the user's next request
// and is in the audit log with the role before and after; nobody else may,
// an admin not for themselves, and a bad role or user is refused.
func TestSetRole(t *testing.T) {
	ts := startServer(t, "")
	adm := ts.AdminToken()
	uid, utok := ts.createUser(t, "role-user")
	var admUser struct{ ID, Token string }
	if code := ts.call(t, "POST", "/api/v1/users", adm, map[string]string{"name": "role-admin", "role": "admin"}, &admUser); code != 201 {
		t.Fatalf("create admin: %d", code)
	}
	queue := func() int { return ts.do(t, "GET", "/api/v1/safety/notices", utok, "", nil).status }
	if c := queue(); c != 403 {
		t.Fatalf("a user reads the queue: %d", c)
	}
	var u struct{ Role string }
	json.Unmarshal(ts.must(t, 200, "PUT", "/api/v1/users/"+uid+"/role", adm, `{"role":"moderator"}`).body, &u)
	if u.Role != "moderator" || queue() != 200 {
		t.Fatalf("after becoming a moderator: role %q, queue %d", u.Role, queue())
	}
	ts.must(t, 200, "PUT", "/api/v1/users/"+uid+"/role", admUser.Token, `{"role":"user"}`) // an admin user may too
	if c := queue(); c != 403 {
		t.Fatalf("after going back to user, the queue: %d", c)
	}
	for _, c := range []struct {
		who, tok, path, body string
		status               int
		code                 string
	}{
		{"a moderator", (func() string { _, tok := ts.createModerator(t, "role-mod"); return tok })(), "/api/v1/users/" + uid + "/role", `{"role":"admin"}`, 403, "forbidden"},
		{"the user themselves", utok, "/api/v1/users/" + uid + "/role", `{"role":"admin"}`, 403, "forbidden"},
		{"anonymous", "", "/api/v1/users/" + uid + "/role", `{"role":"admin"}`, 401, "unauthorized"},
		{"a bad role", adm, "/api/v1/users/" + uid + "/role", `{"role":"owner"}`, 400, "bad_role"},
		{"no role", adm, "/api/v1/users/" + uid + "/role", `{}`, 400, "bad_role"},
		{"bad JSON", adm, "/api/v1/users/" + uid + "/role", `{"role":`, 400, "bad_json"},
		{"an unknown user", adm, "/api/v1/users/nobody/role", `{"role":"moderator"}`, 404, "user_not_found"},
		{"an admin for themselves", admUser.Token, "/api/v1/users/" + admUser.ID + "/role", `{"role":"user"}`, 400, "bad_target"},
	} {
		if r := ts.do(t, "PUT", c.path, c.tok, c.body, nil); r.status != c.status || r.code != c.code {
			t.Errorf("%s: %d %s, want %d %s", c.who, r.status, r.code, c.status, c.code)
		}
	}
	var rows struct {
		Rows []struct {
			Actor, Target string
			Detail        map[string]any
		} `json:"rows"`
	}
	json.Unmarshal(ts.must(t, 200, "GET", "/api/v1/audit?action=account.role", adm, "").body, &rows)
	if len(rows.Rows) != 2 || rows.Rows[0].Target != "user:"+uid || rows.Rows[0].Detail["from"] != "user" || rows.Rows[0].Detail["to"] != "moderator" ||
		rows.Rows[1].Actor != admUser.ID || rows.Rows[1].Detail["to"] != "user" {
		t.Fatalf("account.role rows: %+v", rows.Rows)
	}
}
