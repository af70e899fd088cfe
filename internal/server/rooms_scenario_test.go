package server

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// eventLog collects a room's events from the event stream.
type eventLog struct {
	mu     sync.Mutex
	evs    []roomEvent
	closed websocket.StatusCode // close status once the stream ended
	done   chan struct{}
}

type roomEvent struct {
	Seq  uint64          `json:"seq"`
	Type string          `json:"type"`
	Data json.RawMessage `json:"data"`
}

func subscribeWS(t *testing.T, ctx context.Context, ts *testServer, room, query string) *eventLog {
	t.Helper()
	return subscribeWSAt(t, ctx, ts.base, room, query)
}

// subscribeWSAt reads room's events over WebSocket from the server at base
// (http://host:port: an origin or an edge).
func subscribeWSAt(t *testing.T, ctx context.Context, base, room, query string) *eventLog {
	t.Helper()
	url := strings.Replace(base, "http", "ws", 1) + "/api/v1/rooms/" + room + "/events" + query
	c, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{HTTPClient: testHTTP})
	if err != nil {
		t.Fatalf("events: %v", err)
	}
	l := &eventLog{done: make(chan struct{}), closed: -1}
	go func() {
		defer close(l.done)
		for {
			_, msg, err := c.Read(ctx)
			if err != nil {
				l.mu.Lock()
				l.closed = websocket.CloseStatus(err)
				l.mu.Unlock()
				return
			}
			var ev roomEvent
			if err := json.Unmarshal(msg, &ev); err != nil {
				t.Errorf("event %q: %v", msg, err)
				return
			}
			l.mu.Lock()
			l.evs = append(l.evs, ev)
			l.mu.Unlock()
		}
	}()
	return l
}

func (l *eventLog) all() []roomEvent {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]roomEvent(nil), l.evs...)
}

// wait polls until ok holds on the events so far.
func (l *eventLog) wait(t *testing.T, what string, timeout time.Duration, ok func([]roomEvent) bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !ok(l.all()) {
		if time.Now().After(deadline) {
			evs := l.all()
			var types []string
			for _, e := range evs {
				types = append(types, e.Type)
			}
			t.Fatalf("no %s within %v; events: %v", what, timeout, types)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// tonePresence looks at the last ms of a listener's program in 100 ms
// windows and returns, per frequency, how many windows hold it above on and
// the loudest window's level. Counting windows keeps the check robust to a
// starved CI machine dropping a few frames.
func tonePresence(l *listener, ms int, on float64, freqs ...float64) (windows []int, loudest []float64) {
	pcm := l.snapshot()
	n := 48 * ms
	windows, loudest = make([]int, len(freqs)), make([]float64, len(freqs))
	if len(pcm) < n {
		return windows, loudest
	}
	for _, row := range windowLevels(pcm[len(pcm)-n:], win, freqs...) {
		for i := range freqs {
			if row[i] > on {
				windows[i]++
			}
			loudest[i] = max(loudest[i], row[i])
		}
	}
	return windows, loudest
}

// TestRoomScenario is the scenario: the host schedules and starts a
// room, a signed-in listener asks to speak, the host approves, the new
// speaker publishes and is heard in the program, the host force-mutes them
// and their tone leaves the program, 200 listeners react and the aggregate
// arrives on the event stream, the counts are right, and ending the room
// closes every listener connection and the event stream cleanly.
func TestRoomScenario(t *testing.T) {
	ts := startServerWith(t, "", func(*Config) {})
	hostID, hostTok := ts.createUser(t, "host")
	guestID, guestTok := ts.createUser(t, "guest")
	_ = hostID

	var rm struct{ ID, State string }
	if code := ts.call(t, "POST", "/api/v1/rooms", hostTok, map[string]string{"title": "Town hall", "description": "weekly", "scheduled_at": futureRFC3339(1)}, &rm); code != 201 || rm.State != "scheduled" {
		t.Fatalf("schedule: %d %+v", code, rm)
	}
	room, base := rm.ID, "/api/v1/rooms/"+rm.ID
	ts.must(t, 200, "POST", base+"/start", hostTok, "")

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Second)
	defer cancel()
	evs := subscribeWS(t, ctx, ts, room, "")
	j1, j2 := ts.join(t, room), ts.join(t, room)
	ogg := listenOgg(t, ctx, ts.base+j1.Listen.Ogg)
	ws := listenWS(t, ctx, strings.Replace(ts.base, "http", "ws", 1)+j2.Listen.WS)

	host := publishTone(t, ts, room, hostTok, &tone{freq: lowHz, amp: toneAmp})
	defer host.stop()

	// The guest asks; the host approves; the guest publishes.
	ts.must(t, 200, "POST", base+"/requests", guestTok, "")
	if v := ts.state(t, room); len(v.Requests) != 1 || v.Requests[0].ID != guestID {
		t.Fatalf("requests = %+v", v.Requests)
	}
	ts.must(t, 200, "POST", base+"/requests/"+guestID+"/approve", hostTok, "")
	if v := ts.state(t, room); v.role(guestID) != "speaker" || len(v.Requests) != 0 {
		t.Fatalf("after approve: %+v", v)
	}
	guest := publishTone(t, ts, room, guestTok, &tone{freq: highHz, amp: toneAmp})
	defer guest.stop()

	for name, l := range map[string]*listener{"ogg": ogg, "ws": ws} {
		waitTones(t, l, name+" before the mute: want both tones", 15*time.Second, func(w []int, _ []float64) bool { return w[0] >= 5 && w[1] >= 5 })
	}

	// Forced mute: the guest's tone leaves the program; the guest cannot unmute.
	ts.must(t, 200, "POST", base+"/members/"+guestID+"/mute", hostTok, `{"muted":true}`)
	if r := ts.do(t, "POST", base+"/members/me/mute", guestTok, `{"muted":false}`, nil); r.code != "forced_mute" {
		t.Fatalf("guest unmuting out of a forced mute: %d %s", r.status, r.code)
	}
	for name, l := range map[string]*listener{"ogg": ogg, "ws": ws} {
		waitTones(t, l, name+" after the mute: want the host only", 15*time.Second, func(w []int, lv []float64) bool { return w[0] >= 5 && lv[1] <= 0.02 })
	}
	evs.wait(t, "mute event", 3*time.Second, func(es []roomEvent) bool {
		for _, e := range es {
			if e.Type == "mute_changed" && strings.Contains(string(e.Data), `"forced":true`) {
				return true
			}
		}
		return false
	})

	// 200 signed-in listeners react, through a small worker pool.
	const reactors = 200
	toks := make([]string, reactors)
	for i := range toks {
		_, toks[i] = ts.createUser(t, fmt.Sprintf("fan%03d", i))
	}
	emoji := []string{"👏", "🔥"}
	jobs := make(chan int)
	reactStart := time.Now()
	var wg sync.WaitGroup
	var failed sync.Map
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				req, _ := http.NewRequest("POST", ts.base+base+"/reactions", strings.NewReader(`{"emoji":"`+emoji[i%2]+`"}`))
				req.Header.Set("Authorization", "Bearer "+toks[i])
				req.Header.Set("Content-Type", "application/json")
				resp, err := testHTTP.Do(req)
				if err != nil {
					failed.Store(i, err.Error())
					continue
				}
				resp.Body.Close()
				if resp.StatusCode != http.StatusNoContent {
					failed.Store(i, resp.Status)
				}
			}
		}()
	}
	for i := range reactors {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	failed.Range(func(k, v any) bool { t.Errorf("reaction %v: %v", k, v); return true })

	sumReactions := func(es []roomEvent) (msgs int, sum map[string]int) {
		sum = map[string]int{}
		for _, e := range es {
			if e.Type != "reactions" {
				continue
			}
			msgs++
			var d struct{ Counts map[string]int }
			json.Unmarshal(e.Data, &d)
			for k, v := range d.Counts {
				sum[k] += v
			}
		}
		return msgs, sum
	}
	evs.wait(t, "all 200 reactions", 5*time.Second, func(es []roomEvent) bool {
		_, s := sumReactions(es)
		return s["👏"]+s["🔥"] == reactors
	})
	msgs, sum := sumReactions(evs.all())
	// One aggregate per second at most: never one message per reaction.
	if maxMsgs := int(time.Since(reactStart)/time.Second) + 2; sum["👏"] != reactors/2 || sum["🔥"] != reactors/2 || msgs > maxMsgs {
		t.Errorf("reactions: %v in %d messages; want 100 each in at most %d aggregates", sum, msgs, maxMsgs)
	}

	// Counts: two listeners connected, two unique, peak two.
	evs.wait(t, "counts", 3*time.Second, func(es []roomEvent) bool {
		for i := len(es) - 1; i >= 0; i-- {
			if es[i].Type == "counts" {
				return string(es[i].Data) == `{"listeners":2,"peak":2,"unique":2}`
			}
		}
		return false
	})
	if v := ts.state(t, room); v.Counts.Listeners != 2 || v.Counts.Peak != 2 || v.Counts.Unique != 2 {
		t.Errorf("counts = %+v", v.Counts)
	}
	var rv struct {
		Listeners       int64 `json:"listeners"`
		PeakListeners   int64 `json:"peak_listeners"`
		UniqueListeners int64 `json:"unique_listeners"`
	}
	ts.call(t, "GET", base, "", nil, &rv)
	if rv.Listeners != 2 || rv.PeakListeners != 2 || rv.UniqueListeners != 2 {
		t.Errorf("room counts = %+v", rv)
	}

	// The host ends the room: every listener and the event stream close cleanly.
	ts.must(t, 200, "POST", base+"/end", hostTok, "")
	for name, l := range map[string]*listener{"ogg": ogg, "ws": ws} {
		select {
		case <-l.done:
		case <-time.After(5 * time.Second):
			t.Fatalf("%s listener still connected after the end", name)
		}
		if l.endErr != nil {
			t.Errorf("%s ended uncleanly: %v", name, l.endErr)
		}
	}
	select {
	case <-evs.done:
	case <-time.After(5 * time.Second):
		t.Fatal("event stream still open after the end")
	}
	all := evs.all()
	if all[0].Type != "snapshot" || all[len(all)-1].Type != "room_ended" || evs.closed != websocket.StatusNormalClosure {
		t.Errorf("event stream: first %s, last %s, close %v", all[0].Type, all[len(all)-1].Type, evs.closed)
	}
	for i := 1; i < len(all); i++ {
		if all[i].Seq != all[i-1].Seq+1 {
			t.Errorf("event %d has seq %d after %d", i, all[i].Seq, all[i-1].Seq)
		}
	}
}
