package server

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// chaosFact is one acknowledged change and how to read it back: check
// returns "" when the restarted server shows the change, or what it shows
// instead. A fact with a settle time holds only for kills after it (the
// server's contract gives it that long to store the change); a kill before
// drops it unchecked.
type chaosFact struct {
	what   string
	settle time.Time
	check  func(p *proc) string
}

// chaosLedger is the scripted workload's record of what the server
// acknowledged (a 2xx) before each kill. A request cut by the kill was not
// acknowledged; its target is marked uncertain and dropped from the checks.
type chaosLedger struct {
	facts     map[string]chaosFact // by the key the change sets (last acknowledged wins)
	acked     int                  // acknowledged writes, all cycles
	kinds     map[string]int       // acknowledged writes by kind
	checked   int                  // fact checks made, all restarts
	unsettled int                  // facts dropped because a kill came before they had to be stored
	replayMin int64                // the smallest replay acknowledged, bytes
}

// chaosCountsSettle is how long after the API reported a room's peak and
// unique listener counts a kill may come and still find them stored. The
// contract (docs/api.md, Live counts) is that they are stored each second
// they change: room.Service flushes them once a Config.Interval (1 s) and
// when the room ends, not on every join, so a SIGKILL may lose up to the
// last second of counting. The two seconds beyond the interval are slack
// for a loaded machine (the flush runs on the room ticker's goroutine).
const chaosCountsSettle = 3 * time.Second

// chaosTokens are the workload's actors: the admin hosts the rooms (not
// limited by the per-user room quota and rate), other is invited, muted,
// made co-host and blocked, fan reacts (never blocked), reported hosts the
// room the notices are about.
type chaosActors struct {
	hostTok, otherID, fanTok, reported string
}

// TestKill9LosesNothingAcknowledged: a real process serves a scripted
// workload and is killed with SIGKILL at a random moment, then restarted
// on the same data dir, again and again. Every change the server
// acknowledged with a 2xx before a kill is there after the restart:
//   - users and named tokens (created, deleted);
//   - rooms started and ended, invitations, co-hosts, forced mutes,
//     blocks, pins;
//   - recording turned on or off (the room's state says `recording`), and a
//     replay: an ended recorded room whose recording the API called
//     finished and served still is, byte for byte as long;
//   - listener counts: a listener is counted once its stream answered 200
//     and delivered audio; the room's peak and unique counts the API then
//     reported are at least as high after a kill that came
//     chaosCountsSettle or more later, or after the room's end was
//     acknowledged (the end writes its last counts);
//   - trust and safety: notices (read back by their status key, decided
//     once their decision was acknowledged) and decisions (read back with
//     their notice, action and user).
//
// Reactions are acknowledged (204) and counted, but nothing of them is
// stored by design: room.Service.React adds them to the interval's
// in-memory aggregate, which the ticker publishes as a `reactions` event
// and resets (docs/api.md, Event stream). There is no reaction total to
// read back after a restart; the check is only that the workload's
// reactions disturb none of the stored facts.
//
// The rooms have no speaker: their program is silence, which is audio for
// the listeners and the recordings all the same (a stage needs a WebRTC
// publisher; TestRecording* covers recorded speech in process).
// MAJLIS_CHAOS_KILLS sets the number of kills (default 5; the recorded run
// in docs/PERFORMANCE.md used 20).
func TestKill9LosesNothingAcknowledged(t *testing.T) {
	kills := 5
	if v, err := strconv.Atoi(os.Getenv("MAJLIS_CHAOS_KILLS")); err == nil && v > 0 {
		kills = v
	}
	bin := buildMajlis(t)
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
	led := &chaosLedger{facts: map[string]chaosFact{}, kinds: map[string]int{}}
	p := startChaosProc(t, bin, dir)
	act := chaosActors{hostTok: sigtermToken}
	var other, fan struct{ ID, Token string }
	if code := p.call(t, "POST", "/api/v1/users", sigtermToken, map[string]string{"name": "other"}, &other); code != http.StatusCreated {
		t.Fatalf("other: %d", code)
	}
	if code := p.call(t, "POST", "/api/v1/users", sigtermToken, map[string]string{"name": "fan"}, &fan); code != http.StatusCreated {
		t.Fatalf("fan: %d", code)
	}
	var rm struct{ ID string }
	if code := p.call(t, "POST", "/api/v1/rooms", sigtermToken, map[string]string{"title": "reported"}, &rm); code != http.StatusCreated {
		t.Fatalf("reported room: %d", code)
	}
	act.otherID, act.fanTok, act.reported = other.ID, fan.Token, rm.ID
	for cycle := range kills {
		// Up to 5 s, so that counts reported early in a cycle outlive
		// chaosCountsSettle before its kill.
		deadline := time.Now().Add(time.Duration(300+rng.IntN(4700)) * time.Millisecond)
		chaosWorkload(t, p, led, rng, deadline, cycle, act)
		killed := time.Now()
		if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		<-p.done
		p = startChaosProc(t, bin, dir)
		lost := 0
		for key, f := range led.facts {
			if killed.Before(f.settle) {
				led.unsettled++
				delete(led.facts, key)
				continue
			}
			led.checked++
			if got := f.check(p); got != "" {
				lost++
				t.Errorf("after kill %d: %s (%s): %s", cycle+1, f.what, key, got)
			}
		}
		if lost > 0 {
			t.Fatalf("kill %d lost %d of %d acknowledged facts", cycle+1, lost, len(led.facts))
		}
	}
	p.stop(t)
	for _, k := range []string{"listener", "recording", "replay", "notice", "decision", "reaction"} {
		if led.kinds[k] == 0 {
			t.Errorf("no %s acknowledged in %d kills: the workload did not cover it", k, kills)
		}
	}
	t.Logf("%d kills: %d acknowledged writes %v, %d facts checked after the last restart (%d checks in all, %d counts dropped as not yet due; replays of %d bytes or more), 0 lost",
		kills, led.acked, led.kinds, len(led.facts), led.checked, led.unsettled, led.replayMin)
}

// startChaosProc is startProc with the notice buckets out of the way too
// (as startSafetyProc): the workload sends everything from one address.
func startChaosProc(t *testing.T, bin, dir string) *proc {
	return runProc(t, bin, []string{"serve", "--data", dir, "--http", "127.0.0.1:0", "--admin", "127.0.0.1:0", "--webrtc-udp", "127.0.0.1:0",
		"--auth-fail-limit-ip", "100000/100000", "--auth-fail-limit-net", "100000/100000",
		"--report-limit-ip", "100000/100000", "--report-limit-net", "100000/100000"},
		[]string{"MAJLIS_ADMIN_TOKEN=" + sigtermToken}, servingRE)
}

// chaosWorkload sends a stream of changes until deadline, recording what is
// acknowledged. Requests are sequential: at the kill at most the last one
// is in flight (a listener's stream stays open across the one read of the
// room's counts it is there for).
func chaosWorkload(t *testing.T, p *proc, led *chaosLedger, rng *rand.Rand, deadline time.Time, cycle int, act chaosActors) {
	t.Helper()
	client := &http.Client{Timeout: 5 * time.Second}
	hostTok, otherID := act.hostTok, act.otherID
	do := func(method, path, token string, body any, out any) int {
		code, err := p.try(client, method, path, token, body, out)
		if err != nil {
			return 0 // cut by the kill (or refused by the dying process): not acknowledged
		}
		return code
	}
	ackAt := func(kind, key, what string, settle time.Time, check func(*proc) string) {
		led.acked++
		led.kinds[kind]++
		led.facts[key] = chaosFact{what: what, settle: settle, check: check}
	}
	ack := func(kind, key, what string, check func(*proc) string) { ackAt(kind, key, what, time.Time{}, check) }
	for i := 0; time.Now().Before(deadline); i++ {
		switch rng.IntN(6) {
		case 0: // a user with a token of their own
			name := fmt.Sprintf("u%d_%d", cycle, i)
			var u struct{ ID, Token string }
			if do("POST", "/api/v1/users", sigtermToken, map[string]string{"name": name}, &u) != http.StatusCreated {
				continue
			}
			ack("user", "user "+name, "user created", func(p *proc) string {
				var me struct{ Name string }
				if code := p.call(t, "GET", "/api/v1/me", u.Token, nil, &me); code != http.StatusOK || me.Name != name {
					return fmt.Sprintf("GET /me with its token: %d %q", code, me.Name)
				}
				return ""
			})
			var tk struct{ ID, Token string }
			if do("POST", "/api/v1/me/tokens", u.Token, map[string]string{"name": "cli"}, &tk) == http.StatusCreated {
				ack("token", "token "+tk.ID, "named token created", func(p *proc) string {
					if code := p.call(t, "GET", "/api/v1/me", tk.Token, nil, nil); code != http.StatusOK {
						return fmt.Sprintf("GET /me with the new token: %d", code)
					}
					return ""
				})
				if rng.IntN(2) == 0 {
					delete(led.facts, "token "+tk.ID) // uncertain while the delete is in flight
					if do("DELETE", "/api/v1/me/tokens/"+tk.ID, u.Token, nil, nil) == http.StatusNoContent {
						ack("token", "token "+tk.ID, "token deleted", func(p *proc) string {
							if code := p.call(t, "GET", "/api/v1/me", tk.Token, nil, nil); code != http.StatusUnauthorized {
								return fmt.Sprintf("deleted token still works: %d", code)
							}
							return ""
						})
					}
				}
			}
		case 1: // a notice about a speaker, often decided
			var u struct{ ID string }
			if do("POST", "/api/v1/users", sigtermToken, map[string]string{"name": fmt.Sprintf("s%d_%d", cycle, i)}, &u) != http.StatusCreated {
				continue
			}
			var rc struct{ ID, Key string }
			notice := map[string]any{"kind": "speaker", "room": act.reported, "speaker": u.ID, "from_s": 3, "category": "STATEMENT_CATEGORY_SCAMS_AND_FRAUD",
				"explanation": "The speaker asks listeners for their bank details.", "name": "N", "email": "n@example.org", "good_faith": true}
			if do("POST", "/api/v1/reports", "", notice, &rc) != http.StatusCreated {
				continue
			}
			noticeIs := func(want string) func(*proc) string {
				return func(p *proc) string {
					var n struct{ State string }
					if code := p.call(t, "GET", "/api/v1/reports/"+rc.ID+"?key="+rc.Key, "", nil, &n); code != http.StatusOK || n.State != want {
						return fmt.Sprintf("notice by its key: %d %q, want %q", code, n.State, want)
					}
					return ""
				}
			}
			nkey := "notice " + rc.ID
			ack("notice", nkey, "notice received", noticeIs("open"))
			if rng.IntN(3) == 0 {
				continue
			}
			decision := map[string]any{"action": "warn", "ground": "terms", "terms_ground": "Terms §2: no fraud",
				"explanation": "Asking for bank details is fraud.", "facts": "Heard at the reported time."}
			if rng.IntN(2) == 0 {
				decision["action"], decision["duration_s"] = "suspend", 86400
			}
			delete(led.facts, nkey)
			var d struct{ ID string }
			if do("POST", "/api/v1/safety/notices/"+rc.ID+"/decision", hostTok, decision, &d) != http.StatusCreated {
				continue
			}
			ack("notice", nkey, "notice decided", noticeIs("decided"))
			action := decision["action"]
			ack("decision", "decision "+d.ID, "decision taken", func(p *proc) string {
				var got struct{ Notice, Action, User string }
				if code := p.call(t, "GET", "/api/v1/safety/decisions/"+d.ID, hostTok, nil, &got); code != http.StatusOK ||
					got.Notice != rc.ID || got.Action != action || got.User != u.ID {
					return fmt.Sprintf("decision: %d %+v, want notice %s, %s of %s", code, got, rc.ID, action, u.ID)
				}
				return ""
			})
		default: // a room and what happens in it
			var rm struct{ ID string }
			if do("POST", "/api/v1/rooms", hostTok, map[string]string{"title": fmt.Sprintf("r%d_%d", cycle, i)}, &rm) != http.StatusCreated {
				continue
			}
			id := rm.ID
			state := func(want string) func(*proc) string {
				return func(p *proc) string {
					var v struct{ State string }
					if code := p.call(t, "GET", "/api/v1/rooms/"+id, "", nil, &v); code != http.StatusOK || v.State != want {
						return fmt.Sprintf("room %d %q, want %q", code, v.State, want)
					}
					return ""
				}
			}
			ack("room", "room "+id, "room created", state("scheduled"))
			delete(led.facts, "room "+id)
			if do("POST", "/api/v1/rooms/"+id+"/start", hostTok, nil, nil) != http.StatusOK {
				continue
			}
			ack("room", "room "+id, "room started", state("live"))
			recording := false
			if rng.IntN(2) == 0 {
				recording = chaosRecording(t, do, led, ack, id, hostTok, true)
				if recording && rng.IntN(4) == 0 {
					recording = !chaosRecording(t, do, led, ack, id, hostTok, false)
				}
			}
			member := func(want string, forced bool) func(*proc) string {
				return func(p *proc) string {
					var v roomView
					if code := p.call(t, "GET", "/api/v1/rooms/"+id+"/state", "", nil, &v); code != http.StatusOK {
						return fmt.Sprintf("state: %d", code)
					}
					for _, m := range v.Stage {
						if m.ID == otherID {
							if m.Role != want || m.ForcedMute != forced {
								return fmt.Sprintf("member is %s (forced mute %v), want %s (%v)", m.Role, m.ForcedMute, want, forced)
							}
							return ""
						}
					}
					if want == "" {
						return ""
					}
					return "member not on stage, want " + want
				}
			}
			key := "member " + id
			if do("POST", "/api/v1/rooms/"+id+"/speakers/"+otherID, hostTok, nil, nil) == http.StatusOK {
				ack("role", key, "speaker invited", member("speaker", false))
				delete(led.facts, key)
				if do("POST", "/api/v1/rooms/"+id+"/members/"+otherID+"/mute", hostTok, map[string]bool{"muted": true}, nil) == http.StatusOK {
					ack("mute", key, "speaker force-muted", member("speaker", true))
				}
				delete(led.facts, key)
				if do("POST", "/api/v1/rooms/"+id+"/cohosts/"+otherID, hostTok, nil, nil) == http.StatusOK {
					ack("role", key, "speaker made co-host", member("cohost", true))
				}
			}
			pin := fmt.Sprintf("https://example.org/%d/%d", cycle, i)
			if do("PUT", "/api/v1/rooms/"+id+"/pin", hostTok, map[string]string{"url": pin}, nil) == http.StatusOK {
				ack("pin", "pin "+id, "pin set", func(p *proc) string {
					var v struct{ Pin string }
					if code := p.call(t, "GET", "/api/v1/rooms/"+id, "", nil, &v); code != http.StatusOK || v.Pin != pin {
						return fmt.Sprintf("pin %d %q, want %q", code, v.Pin, pin)
					}
					return ""
				})
			}
			for range rng.IntN(4) {
				if do("POST", "/api/v1/rooms/"+id+"/reactions", act.fanTok, map[string]string{"emoji": "👏"}, nil) == http.StatusNoContent {
					led.acked++
					led.kinds["reaction"]++ // nothing stored to check: see the test's comment
				}
			}
			var counted *chaosCounts
			if rng.IntN(2) == 0 {
				counted = chaosListen(p, id)
				if counted != nil {
					c := *counted
					ackAt("listener", "counts "+id, fmt.Sprintf("listener counted (peak %d, unique %d)", c.Peak, c.Unique), time.Now().Add(chaosCountsSettle), c.check(t, id))
				}
			}
			if rng.IntN(3) == 0 {
				delete(led.facts, key)
				if do("POST", "/api/v1/rooms/"+id+"/blocks/"+otherID, hostTok, nil, nil) == http.StatusOK {
					ack("block", key, "member blocked (off stage)", member("", false))
				}
			}
			if rng.IntN(2) == 0 {
				if recording {
					chaosRecorded(p, client, id, hostTok) // a replay with audio in it, not only its headers
				}
				delete(led.facts, "room "+id)
				delete(led.facts, "recording "+id)
				if do("POST", "/api/v1/rooms/"+id+"/end", hostTok, nil, nil) != http.StatusOK {
					continue
				}
				ack("room", "room "+id, "room ended", state("ended"))
				if f, ok := led.facts["counts "+id]; ok {
					f.settle = time.Time{} // the end wrote the room's last counts
					led.facts["counts "+id] = f
				}
				if recording {
					chaosReplay(t, p, client, led, ack, id, hostTok)
				}
			}
		}
	}
}

// chaosRecording turns a live room's recording on or off and reports
// whether that was acknowledged.
func chaosRecording(t *testing.T, do func(method, path, token string, body, out any) int, led *chaosLedger,
	ack func(kind, key, what string, check func(*proc) string), id, tok string, on bool) bool {
	key := "recording " + id
	delete(led.facts, key)
	var v struct{ Recording bool }
	if do("POST", "/api/v1/rooms/"+id+"/recording", tok, map[string]bool{"on": on}, &v) != http.StatusOK || v.Recording != on {
		return false
	}
	ack("recording", key, fmt.Sprintf("recording turned on=%v", on), func(p *proc) string {
		var st struct{ Recording bool }
		if code := p.call(t, "GET", "/api/v1/rooms/"+id+"/state", "", nil, &st); code != http.StatusOK || st.Recording != on {
			return fmt.Sprintf("state: %d recording %v, want %v", code, st.Recording, on)
		}
		return ""
	})
	return true
}

// chaosRecorded waits (sequentially, 2 s at most) until a room's
// recording holds half a second of audio.
func chaosRecorded(p *proc, client *http.Client, id, tok string) {
	for range 40 {
		var info struct {
			Duration float64 `json:"duration_s"`
		}
		if code, err := p.try(client, "GET", "/api/v1/rooms/"+id+"/recording", tok, nil, &info); err != nil || code == http.StatusOK && info.Duration >= 0.5 {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// chaosReplay waits (sequentially) for an ended recorded room's replay and,
// once the API calls it finished and serves it whole, records its length.
func chaosReplay(t *testing.T, p *proc, client *http.Client, led *chaosLedger, ack func(kind, key, what string, check func(*proc) string), id, tok string) {
	for range 20 {
		var info struct{ State string }
		code, err := p.try(client, "GET", "/api/v1/rooms/"+id+"/recording", tok, nil, &info)
		if err != nil {
			return
		}
		if code == http.StatusOK && info.State == "finished" {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	code, n, err := chaosGet(client, p.base+"/api/v1/rooms/"+id+"/recording.ogg", tok)
	if err != nil || code != http.StatusOK || n == 0 {
		return
	}
	if led.replayMin == 0 || n < led.replayMin {
		led.replayMin = n
	}
	ack("replay", "replay "+id, fmt.Sprintf("replay finished (%d bytes)", n), func(p *proc) string {
		var info struct{ State string }
		if code := p.call(t, "GET", "/api/v1/rooms/"+id+"/recording", tok, nil, &info); code != http.StatusOK || info.State != "finished" {
			return fmt.Sprintf("recording: %d %q, want finished", code, info.State)
		}
		code, got, err := chaosGet(testHTTP, p.base+"/api/v1/rooms/"+id+"/recording.ogg", tok)
		if err != nil || code != http.StatusOK || got != n {
			return fmt.Sprintf("recording.ogg: %d, %d bytes (%v), want 200, %d bytes", code, got, err, n)
		}
		return ""
	})
}

// chaosGet fetches url whole and returns its status and length.
func chaosGet(client *http.Client, url, tok string) (int, int64, error) {
	resp, err := client.Do(jsonRequest("GET", url, tok, nil))
	if err != nil {
		return 0, 0, err
	}
	defer resp.Body.Close()
	n, err := io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, n, err
}

// chaosCounts is a room's peak and unique listener counts as the API
// reported them.
type chaosCounts struct {
	Peak   int64 `json:"peak_listeners"`
	Unique int64 `json:"unique_listeners"`
}

// check reads the counts back: they only grow (a restart resumes them from
// the store), so the restarted server shows at least these.
func (c chaosCounts) check(t *testing.T, id string) func(*proc) string {
	return func(p *proc) string {
		var got chaosCounts
		if code := p.call(t, "GET", "/api/v1/rooms/"+id, "", nil, &got); code != http.StatusOK || got.Peak < c.Peak || got.Unique < c.Unique {
			return fmt.Sprintf("room %d: peak %d, unique %d, want at least %d, %d", code, got.Peak, got.Unique, c.Peak, c.Unique)
		}
		return ""
	}
}

// chaosListen joins room id as a listener, and once its stream has
// answered 200 and delivered audio reads the room's counts with the
// listener still connected; nil when any step failed (the kill).
func chaosListen(p *proc, id string) *chaosCounts {
	client := &http.Client{Timeout: 5 * time.Second}
	var j joinResp
	if code, err := p.try(client, "POST", "/api/v1/rooms/"+id+"/join", "", nil, &j); err != nil || code != http.StatusOK {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", p.base+j.Listen.Ogg, nil)
	resp, err := streamHTTP.Do(req)
	if err != nil {
		return nil
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil
	}
	if _, err := io.ReadFull(resp.Body, make([]byte, 64)); err != nil {
		return nil
	}
	var c chaosCounts
	if code, err := p.try(client, "GET", "/api/v1/rooms/"+id, "", nil, &c); err != nil || code != http.StatusOK || c.Peak < 1 || c.Unique < 1 {
		return nil
	}
	return &c
}
