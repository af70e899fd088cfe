package server

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"testing"

	"majlis/internal/admission"
	"time"
)

// startServerWith is startServer with extra configuration.
func startServerWith(t testing.TB, dataDir string, edit func(*Config)) *testServer {
	t.Helper()
	cfg := testConfig(t, dataDir)
	quietAdmission(&cfg)
	edit(&cfg)
	return runServer(t, cfg)
}

// quietAdmission keeps the audience plane's defences (per-address rates,
// load shedding) out of the way of tests that drive many users from one
// loopback address on a loaded CI machine: they test rooms, not admission.
func quietAdmission(c *Config) {
	lots := admission.Rate{PerSecond: 1e6, Burst: 1e6}
	c.Admission.ReactionsPerIP, c.Admission.ReactionsPerPrefix = lots, lots
	c.Admission.JoinsPerIP, c.Admission.JoinsPerPrefix = lots, lots
	c.Admission.JoinRate, c.Admission.JoinBurst = 1e6, 1e6
	c.Admission.Overload.PressureRPS = 1e12 // CPU and scheduling delay never count
	// Tests create many rooms per user (TestRoomCreationLimits tests the limits).
	c.MaxOpenRooms, c.RoomCreateRate = 1<<20, lots
	// Cheap password hashing: -race makes argon2id at full cost take seconds.
	c.PasswordTime, c.PasswordMemoryKiB = 1, 64
}

// apiResult is a raw API answer.
type apiResult struct {
	status int
	code   string // error code, "" on success
	body   []byte
	header http.Header
}

// do sends a request with optional bearer token, JSON body and extra headers.
func (ts *testServer) do(t testing.TB, method, path, token, body string, hdr map[string]string) apiResult {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = bytes.NewBufferString(body)
	}
	req, _ := http.NewRequest(method, ts.base+path, rd)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := testHTTP.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	res := apiResult{status: resp.StatusCode, body: raw, header: resp.Header}
	if resp.StatusCode >= 400 {
		var e struct {
			Error struct{ Code, Message string } `json:"error"`
		}
		if err := json.Unmarshal(raw, &e); err != nil || e.Error.Code == "" || e.Error.Message == "" {
			t.Fatalf("%s %s: %d %q is not the JSON error format", method, path, resp.StatusCode, raw)
		}
		res.code = e.Error.Code
	}
	return res
}

// must fails the test unless the call answered want.
func (ts *testServer) must(t testing.TB, want int, method, path, token, body string) apiResult {
	t.Helper()
	r := ts.do(t, method, path, token, body, nil)
	if r.status != want {
		t.Fatalf("%s %s = %d %s %s, want %d", method, path, r.status, r.code, r.body, want)
	}
	return r
}

// roomView is the state view of a room (GET .../state and event payloads).
// stageView is a stage member in roomView.
type stageView struct {
	ID         string `json:"id"`
	Name       string `json:"name"`
	Role       string `json:"role"`
	Muted      bool   `json:"muted"`
	ForcedMute bool   `json:"forced_mute"`
	Publishing bool   `json:"publishing"`
}

type roomView struct {
	ID       string      `json:"id"`
	State    string      `json:"state"`
	Host     string      `json:"host"`
	Pin      string      `json:"pin"`
	Stage    []stageView `json:"stage"`
	Requests []struct {
		ID string `json:"id"`
	} `json:"requests"`
	Counts struct {
		Listeners int64 `json:"listeners"`
		Peak      int64 `json:"peak"`
		Unique    int64 `json:"unique"`
	} `json:"counts"`
}

func (v roomView) role(id string) string {
	for _, m := range v.Stage {
		if m.ID == id {
			return m.Role
		}
	}
	return "listener"
}

func (ts *testServer) state(t testing.TB, room string) roomView {
	t.Helper()
	var v roomView
	if code := ts.call(t, "GET", "/api/v1/rooms/"+room+"/state", "", nil, &v); code != 200 {
		t.Fatalf("state: %d", code)
	}
	return v
}

// futureRFC3339 is now plus hours, as the API writes times.
func futureRFC3339(hours float64) string {
	return time.Now().Add(time.Duration(hours * float64(time.Hour))).UTC().Format(time.RFC3339)
}
