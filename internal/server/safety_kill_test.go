package server

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// startSafetyProc is startProc with the notice buckets out of the way (the
// workload sends its notices from one loopback address).
func startSafetyProc(t *testing.T, bin, dir string) *proc {
	return runProc(t, bin, []string{"serve", "--data", dir, "--http", "127.0.0.1:0", "--admin", "127.0.0.1:0", "--webrtc-udp", "127.0.0.1:0",
		"--report-limit-ip", "100000/100000", "--report-limit-net", "100000/100000"},
		[]string{"MAJLIS_ADMIN_TOKEN=" + sigtermToken}, servingRE)
}

// Bounds of TestSafetyKill9: kills, concurrent clients, and how many
// decisions a cycle waits for before its kill (at most safetyKillWait).
const (
	safetyKillCycles    = 3
	safetyKillClients   = 4
	safetyKillDecisions = 6
	safetyKillWait      = 20 * time.Second
)

// safetyDecisionAck is an acknowledged decision as the workload asked for it.
type safetyDecisionAck struct {
	notice, user, action, puid string
}

// safetyLedger is what the server acknowledged (a 2xx) to the workload's
// clients, and how many of their safety writes the kills cut in flight.
type safetyLedger struct {
	mu         sync.Mutex
	killedAt   time.Time
	notices    map[string]string            // notice id → status key
	decided    map[string]bool              // notice ids whose decision was acknowledged
	decisions  map[string]safetyDecisionAck // by decision id
	complaints map[string]string            // complaint id → decision id
	cut        map[string]int               // safety writes sent before a kill and never answered, by kind
	cycleDecs  int                          // decisions acknowledged this cycle
}

// safetyWorker is one client of TestSafetyKill9: until stop is closed it
// makes a user, sends a notice about them as a speaker, decides most
// notices (a warning or a suspension) and has the user complain about some
// decisions, recording each 2xx in led.
func safetyWorker(p *proc, led *safetyLedger, rng *rand.Rand, stop <-chan struct{}, room, tag string) {
	client := &http.Client{Timeout: 5 * time.Second}
	// do sends a request; a transport error on a request sent before the
	// kill is a write cut in flight (done or not, never acknowledged).
	do := func(kind, method, path, token string, body, out any) int {
		sent := time.Now()
		code, err := p.try(client, method, path, token, body, out)
		if err != nil {
			led.mu.Lock()
			if kind != "" && !led.killedAt.IsZero() && sent.Before(led.killedAt) {
				led.cut[kind]++
			}
			led.mu.Unlock()
			return 0
		}
		return code
	}
	for i := 0; ; i++ {
		select {
		case <-stop:
			return
		default:
		}
		var u struct{ ID, Token string }
		if do("", "POST", "/api/v1/users", sigtermToken, map[string]string{"name": fmt.Sprintf("%s_%d", tag, i)}, &u) != http.StatusCreated {
			continue
		}
		var rc struct{ ID, Key string }
		notice := map[string]any{"kind": "speaker", "room": room, "speaker": u.ID, "from_s": 3, "category": "STATEMENT_CATEGORY_SCAMS_AND_FRAUD",
			"explanation": "The speaker asks listeners for their bank details.", "name": "N", "email": "n@example.org", "good_faith": true}
		if do("notice", "POST", "/api/v1/reports", "", notice, &rc) != http.StatusCreated {
			continue
		}
		led.mu.Lock()
		led.notices[rc.ID] = rc.Key
		led.mu.Unlock()
		if rng.IntN(4) == 0 {
			continue // left open
		}
		decision := map[string]any{"action": "warn", "ground": "terms", "terms_ground": "Terms §2: no fraud",
			"explanation": "Asking for bank details is fraud.", "facts": "Heard at the reported time."}
		if rng.IntN(2) == 0 {
			decision["action"], decision["duration_s"] = "suspend", 86400
		}
		var d struct{ ID, PUID string }
		if do("decision", "POST", "/api/v1/safety/notices/"+rc.ID+"/decision", sigtermToken, decision, &d) != http.StatusCreated {
			continue
		}
		led.mu.Lock()
		led.decided[rc.ID] = true
		led.decisions[d.ID] = safetyDecisionAck{notice: rc.ID, user: u.ID, action: decision["action"].(string), puid: d.PUID}
		led.cycleDecs++
		led.mu.Unlock()
		if rng.IntN(2) == 0 {
			continue
		}
		var c struct{ ID string }
		if do("complaint", "POST", "/api/v1/safety/decisions/"+d.ID+"/complaints", u.Token,
			map[string]string{"text": "I never asked anyone for their bank details."}, &c) == http.StatusCreated {
			led.mu.Lock()
			led.complaints[c.ID] = d.ID
			led.mu.Unlock()
		}
	}
}

// safetyAuditRows pages through a process's audit log and returns its
// safety.* rows.
func safetyAuditRows(t *testing.T, p *proc) []auditRow {
	t.Helper()
	var rows []auditRow
	for after := uint64(0); ; {
		var page auditPage
		if code := p.call(t, "GET", fmt.Sprintf("/api/v1/audit?after=%d&limit=1000", after), sigtermToken, nil, &page); code != http.StatusOK {
			t.Fatalf("audit: %d", code)
		}
		if len(page.Rows) == 0 {
			return rows
		}
		for _, r := range page.Rows {
			if strings.HasPrefix(r.Action, "safety.") {
				rows = append(rows, r)
			}
		}
		after = page.NextAfter
	}
}

// TestSafetyKill9: a real process takes notices, decisions (warnings and
// suspensions, which act on the accounts' database too) and complaints from
// safetyKillClients concurrent clients, and is killed with SIGKILL while
// they are in flight, at a random moment once the cycle has had
// safetyKillDecisions decisions acknowledged, safetyKillCycles times. After
// each restart on the same data dir:
//   - every notice answered 201 reads back by its key, decided if its
//     decision was acknowledged;
//   - every decision answered 201 reads back with its notice, action and
//     user, and has its safety.decide audit row (target the user, detail
//     naming the decision and the notice);
//   - every complaint answered 201 reads back, and has its safety.complain
//     audit row (target the decision, detail naming the complaint).
//
// At the end `majlis audit verify` passes on the data dir and `majlis export
// statements` lists every acknowledged suspension's statement. The test
// fails if no kill cut a safety write in flight (it would test nothing).
func TestSafetyKill9(t *testing.T) {
	bin := buildMajlis(t)
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 2))
	p := startSafetyProc(t, bin, dir)
	var rm struct{ ID string }
	if code := p.call(t, "POST", "/api/v1/rooms", sigtermToken, map[string]string{"title": "reported"}, &rm); code != http.StatusCreated {
		t.Fatalf("room: %d", code)
	}
	led := &safetyLedger{notices: map[string]string{}, decided: map[string]bool{}, decisions: map[string]safetyDecisionAck{},
		complaints: map[string]string{}, cut: map[string]int{}}
	for cycle := range safetyKillCycles {
		led.mu.Lock()
		led.killedAt, led.cycleDecs = time.Time{}, 0
		led.mu.Unlock()
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for w := range safetyKillClients {
			wg.Add(1)
			wrng := rand.New(rand.NewPCG(rng.Uint64(), uint64(w)))
			go func() {
				defer wg.Done()
				safetyWorker(p, led, wrng, stop, rm.ID, fmt.Sprintf("s%d_%d", cycle, w))
			}()
		}
		for waited := time.Duration(0); ; waited += 10 * time.Millisecond {
			led.mu.Lock()
			n := led.cycleDecs
			led.mu.Unlock()
			if n >= safetyKillDecisions {
				break
			}
			if waited > safetyKillWait {
				close(stop)
				wg.Wait()
				t.Fatalf("cycle %d: %d decisions acknowledged in %v, want %d", cycle+1, n, safetyKillWait, safetyKillDecisions)
			}
			time.Sleep(10 * time.Millisecond)
		}
		time.Sleep(time.Duration(rng.IntN(500)) * time.Millisecond) // a random moment of the stream
		led.mu.Lock()
		led.killedAt = time.Now()
		led.mu.Unlock()
		if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		<-p.done
		close(stop)
		wg.Wait()

		p = startSafetyProc(t, bin, dir)
		safetyKillCheck(t, p, led, cycle+1)
	}
	p.stop(t)

	verified, err := exec.Command(bin, "audit", "verify", "--data", dir).CombinedOutput()
	if err != nil || !strings.HasPrefix(string(verified), "ok: ") {
		t.Fatalf("majlis audit verify after %d kills: %v\n%s", safetyKillCycles, err, verified)
	}
	cmd := exec.Command(bin, "export", "statements", "--data-dir", dir)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("export: %v\n%s", err, stderr.String())
	}
	var ex struct {
		Statements []struct {
			PUID           string `json:"puid"`
			DecisionAcount string `json:"decision_account"`
		}
	}
	if err := json.Unmarshal(out, &ex); err != nil {
		t.Fatalf("export: %v\n%s", err, out)
	}
	exported := map[string]bool{}
	for _, s := range ex.Statements {
		if s.DecisionAcount != "DECISION_ACCOUNT_SUSPENDED" {
			t.Fatalf("statement %+v", s)
		}
		exported[s.PUID] = true
	}
	suspensions := 0
	for id, d := range led.decisions {
		if d.action != "suspend" {
			continue
		}
		suspensions++
		if !exported[d.puid] {
			t.Fatalf("suspension %s (%s) acknowledged but not exported", id, d.puid)
		}
	}
	if led.cut["notice"]+led.cut["decision"]+led.cut["complaint"] == 0 {
		t.Fatalf("no kill of %d cut a notice, decision or complaint in flight", safetyKillCycles)
	}
	if len(led.complaints) == 0 || suspensions == 0 {
		t.Fatalf("%d complaints and %d suspensions acknowledged: the workload did not cover them", len(led.complaints), suspensions)
	}
	t.Logf("%d kills: %d notices, %d decisions (%d suspensions), %d complaints acknowledged, all there with their audit rows after each restart; in flight at the kills: %v; audit verify: %s",
		safetyKillCycles, len(led.notices), len(led.decisions), suspensions, len(led.complaints), led.cut, strings.TrimSpace(string(verified)))
}

// safetyKillCheck reads back, from the restarted process, everything led
// says was acknowledged before the kill.
func safetyKillCheck(t *testing.T, p *proc, led *safetyLedger, kill int) {
	t.Helper()
	for id, key := range led.notices {
		var n struct{ State string }
		code := p.call(t, "GET", "/api/v1/reports/"+id+"?key="+key, "", nil, &n)
		if code != http.StatusOK || (led.decided[id] && n.State != "decided") {
			t.Fatalf("after kill %d: acknowledged notice %s: %d %q (decision acknowledged: %v)", kill, id, code, n.State, led.decided[id])
		}
	}
	for id, want := range led.decisions {
		var d struct{ Notice, Action, User string }
		if code := p.call(t, "GET", "/api/v1/safety/decisions/"+id, sigtermToken, nil, &d); code != http.StatusOK ||
			d.Notice != want.notice || d.Action != want.action || d.User != want.user {
			t.Fatalf("after kill %d: acknowledged decision %s: %d %+v, want %+v", kill, id, code, d, want)
		}
	}
	for id, dec := range led.complaints {
		var c struct{ Decision string }
		if code := p.call(t, "GET", "/api/v1/safety/complaints/"+id, sigtermToken, nil, &c); code != http.StatusOK || c.Decision != dec {
			t.Fatalf("after kill %d: acknowledged complaint %s: %d %+v, want about %s", kill, id, code, c, dec)
		}
	}
	decided, complained := map[string]auditRow{}, map[string]auditRow{}
	for _, r := range safetyAuditRows(t, p) {
		switch r.Action {
		case "safety.decide":
			if id, _ := r.Detail["decision"].(string); id != "" {
				decided[id] = r
			}
		case "safety.complain":
			if id, _ := r.Detail["complaint"].(string); id != "" {
				complained[id] = r
			}
		}
	}
	for id, want := range led.decisions {
		r, ok := decided[id]
		if !ok || r.Actor != "admin" || r.Target != "user:"+want.user || r.Detail["notice"] != want.notice || r.Detail["action"] != want.action {
			t.Fatalf("after kill %d: acknowledged decision %s: audit row %+v (found %v), want safety.decide by admin of user:%s, notice %s, %s",
				kill, id, r, ok, want.user, want.notice, want.action)
		}
	}
	for id, dec := range led.complaints {
		r, ok := complained[id]
		if !ok || r.Target != "decision:"+dec || r.Actor != led.decisions[dec].user {
			t.Fatalf("after kill %d: acknowledged complaint %s: audit row %+v (found %v), want safety.complain by %s of decision:%s",
				kill, id, r, ok, led.decisions[dec].user, dec)
		}
	}
}
