package server

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os/exec"
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

// TestSafetyKill9: a real process takes notices and decides them
// (suspensions, which act on the accounts' database too) and is killed
// with SIGKILL at a random moment, three times. After each restart every
// notice answered 201 reads back by its key, every decision answered 201
// is there with its notice closed, and `majlis export statements` lists
// every acknowledged suspension's statement.
func TestSafetyKill9(t *testing.T) {
	bin := buildMajlis(t)
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 2))
	p := startSafetyProc(t, bin, dir)
	var rm struct{ ID string }
	if code := p.call(t, "POST", "/api/v1/rooms", sigtermToken, map[string]string{"title": "reported"}, &rm); code != http.StatusCreated {
		t.Fatalf("room: %d", code)
	}
	type ackedNotice struct{ id, key string }
	var notices []ackedNotice
	decisions := map[string]string{} // decision id → puid
	client := &http.Client{Timeout: 5 * time.Second}
	for cycle := range 3 {
		deadline := time.Now().Add(time.Duration(400+rng.IntN(1500)) * time.Millisecond)
		for i := 0; time.Now().Before(deadline); i++ {
			var u struct{ ID string }
			if code, err := p.try(client, "POST", "/api/v1/users", sigtermToken, map[string]string{"name": fmt.Sprintf("s%d_%d", cycle, i)}, &u); err != nil || code != http.StatusCreated {
				continue
			}
			var rc struct{ ID, Key string }
			notice := map[string]any{"kind": "speaker", "room": rm.ID, "speaker": u.ID, "from_s": 3, "category": "STATEMENT_CATEGORY_SCAMS_AND_FRAUD",
				"explanation": "The speaker asks listeners for their bank details.", "name": "N", "email": "n@example.org", "good_faith": true}
			if code, err := p.try(client, "POST", "/api/v1/reports", "", notice, &rc); err != nil || code != http.StatusCreated {
				continue
			}
			notices = append(notices, ackedNotice{rc.ID, rc.Key})
			var d struct{ ID, PUID string }
			decision := map[string]any{"action": "suspend", "duration_s": 86400, "ground": "terms", "terms_ground": "Terms §2: no fraud",
				"explanation": "Asking for bank details is fraud.", "facts": "Heard at the reported time."}
			if code, err := p.try(client, "POST", "/api/v1/safety/notices/"+rc.ID+"/decision", sigtermToken, decision, &d); err == nil && code == http.StatusCreated {
				decisions[d.ID] = d.PUID
			}
		}
		if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		<-p.done
		p = startSafetyProc(t, bin, dir)
		for _, n := range notices {
			if code := p.call(t, "GET", "/api/v1/reports/"+n.id+"?key="+n.key, "", nil, nil); code != http.StatusOK {
				t.Fatalf("after kill %d: acknowledged notice %s: %d", cycle+1, n.id, code)
			}
		}
		for id := range decisions {
			var d struct{ Notice string }
			if code := p.call(t, "GET", "/api/v1/safety/decisions/"+id, sigtermToken, nil, &d); code != http.StatusOK {
				t.Fatalf("after kill %d: acknowledged decision %s: %d", cycle+1, id, code)
			}
		}
	}
	p.stop(t)
	out, err := exec.Command(bin, "export", "statements", "--data-dir", dir).Output()
	if err != nil {
		t.Fatalf("export: %v", err)
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
	for id, puid := range decisions {
		if !exported[puid] {
			t.Fatalf("decision %s (%s) acknowledged but not exported", id, puid)
		}
	}
	if len(decisions) == 0 {
		t.Fatal("no decision acknowledged")
	}
	t.Logf("3 kills: %d notices and %d decisions acknowledged, all there after each restart and in the export", len(notices), len(decisions))
}
