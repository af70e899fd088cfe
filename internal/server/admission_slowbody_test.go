package server

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"majlis/internal/joinclient"
)

// clientFrom is an HTTP client with a timeout whose connections come from
// src (a loopback address: all of 127/8 is local on Linux).
func clientFrom(src string) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 2 * time.Second}
	return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DialContext: d.DialContext}}
}

// audienceConns reads the audience port's open connections from the admin port.
func audienceConns(t *testing.T, ts *testServer) int {
	t.Helper()
	resp, err := clientFrom("127.0.0.1").Get("http://" + ts.AdminAddr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "majlis_audience_conns "); ok {
			f, _ := strconv.ParseFloat(v, 64)
			return int(f)
		}
	}
	return -1
}

// TestSlowBodiesHoldNoBudget: 300 connections from one address each send a
// POST's headers and a few bytes of a large body, then stall. The body is
// read before a request takes its slot of the audience's in-flight budget
// (256), so meanwhile joins from other addresses and, on a single port, the
// host's start are served.
func TestSlowBodiesHoldNoBudget(t *testing.T) {
	cfg := testConfig(t, "")
	// The connection caps are not what this tests: all the stalls get in,
	// whatever the file limit (the default per-address cap is the budget's size).
	cfg.Admission = AdmissionConfig{AudienceMaxConns: 2000, AudienceConnsPerIP: 1000, AudienceConnsPerNet: 2000}
	ts := runServer(t, cfg)

	_, hostTok := ts.createUser(t, "host")
	live := ts.liveRoom(t, hostTok)
	later := ts.newRoom(t, hostTok, "later")

	const stalls = 300
	conns := make([]net.Conn, 0, stalls)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.1")}, Timeout: 2 * time.Second}
	head := "POST /api/v1/login HTTP/1.1\r\nHost: majlis\r\nContent-Type: application/json\r\nContent-Length: 60000\r\n\r\n{\"name\":"
	for range stalls {
		c, err := d.Dial("tcp", ts.HTTPAddr())
		if err != nil {
			t.Fatalf("dial: %v", err)
		}
		conns = append(conns, c)
		c.SetWriteDeadline(time.Now().Add(time.Second))
		if _, err := c.Write([]byte(head)); err != nil {
			t.Fatalf("write: %v", err)
		}
	}
	// Wait until they are open, then give the server a moment to read their
	// headers and start on the bodies.
	deadline := time.Now().Add(5 * time.Second)
	for n := audienceConns(t, ts); n < stalls; n = audienceConns(t, ts) {
		if time.Now().After(deadline) {
			t.Fatalf("%d audience connections open, want the %d stalled ones", n, stalls)
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond)

	jctx, jcancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer jcancel()
	for i := range 5 {
		src := fmt.Sprintf("127.0.0.%d", 2+i)
		res, err := joinclient.Join(jctx, ts.base, live, joinclient.Options{Client: clientFrom(src), MaxAttempts: 3})
		if err != nil || res.Ticket == "" {
			t.Fatalf("join from %s while %d connections stall = %v (answers %v)", src, stalls, err, res.Answers)
		}
	}
	req, _ := http.NewRequest("POST", ts.base+"/api/v1/rooms/"+later+"/start", nil)
	req.Header.Set("Authorization", "Bearer "+hostTok)
	resp, err := clientFrom("127.0.0.50").Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("host's start while %d connections stall = %d %s", stalls, resp.StatusCode, body)
	}
}
