package server

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"majlis/internal/admission"
)

// rotateKeys calls the rotation endpoint with token and returns its
// status, the answer's kid (on 200) or error code, and Retry-After.
func rotateKeys(t *testing.T, ts *testServer, token string) (status int, kidOrCode, retry string) {
	t.Helper()
	resp, err := testHTTP.Do(jsonRequest("POST", ts.base+"/api/v1/admin/ticket-keys/rotate", token, nil))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("rotate: %d with Content-Type %q: %q", resp.StatusCode, ct, raw)
	}
	var out struct {
		KID   string `json:"kid"`
		Keys  int    `json:"keys"`
		Error struct{ Code string }
	}
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("rotate: %d %q: %v", resp.StatusCode, raw, err)
	}
	if resp.StatusCode == http.StatusOK {
		if out.Keys != 2 {
			t.Fatalf("rotate: %q: want 2 keys held", raw)
		}
		return resp.StatusCode, out.KID, ""
	}
	return resp.StatusCode, out.Error.Code, resp.Header.Get("Retry-After")
}

// ticketKID is the key id a ticket names (byte 1 of a v2 or v3 ticket).
func ticketKID(t *testing.T, ticket string) string {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(ticket)
	if err != nil || len(b) < 2 {
		t.Fatalf("ticket %q: %v", ticket, err)
	}
	return fmt.Sprintf("%02x", b[1])
}

func keyFileKID(t *testing.T, path string) (kids []string, raw []byte) {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for b := raw; len(b) >= admission.KeyLen; b = b[admission.KeyLen:] {
		kids = append(kids, fmt.Sprintf("%02x", admission.KeyID(b[:admission.KeyLen])))
	}
	return kids, raw
}

// listenOK opens a listen.ogg URL and wants 200 audio/ogg (listenOgg
// fails the test otherwise), then hangs up.
func listenOK(t *testing.T, url string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	l := listenOgg(t, ctx, url)
	cancel()
	<-l.done
}

// TestTicketKeyRotationReachesEdge: an admin rotates the ticket keys at
// the origin (POST /api/v1/admin/ticket-keys/rotate) while an edge runs on
// the embedded NATS server. The origin's key file is new||old; the edge
// gets the set over the cluster at once (well before the 10 s repeat) and
// writes its own key file; a ticket the origin then signs with the new
// key is accepted by the edge's listen path without a restart, and one
// issued before the rotation still is. A second rotation within a ticket
// lifetime is 409 rotation_too_soon with Retry-After; a listener or a
// caller without a token is refused (403, 401); the rotation has its
// audit row.
func TestTicketKeyRotationReachesEdge(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(t, dir)
	withCluster(&cfg)
	ts := runServer(t, cfg)
	originFile := filepath.Join(dir, "ticket.key")
	oldKIDs, oldRaw := keyFileKID(t, originFile)
	if len(oldKIDs) != 1 {
		t.Fatalf("a fresh origin's key file has %d keys", len(oldKIDs))
	}
	// The edge has a key file of its own: a copy of the origin's.
	edgeFile := filepath.Join(t.TempDir(), "ticket.key")
	if err := os.WriteFile(edgeFile, oldRaw, 0o600); err != nil {
		t.Fatal(err)
	}
	e, edgeBase := startEdgeWith(t, ts, "", func(c *EdgeConfig) { c.TicketKeyFile = edgeFile })
	_, hostTok := ts.createUser(t, "amal")
	room := ts.liveRoom(t, hostTok)
	before := ts.joinOnEdge(t, room, e)
	if kid := ticketKID(t, before.Ticket); kid != oldKIDs[0] {
		t.Fatalf("ticket before the rotation names key %s, want %s", kid, oldKIDs[0])
	}

	for _, c := range []struct {
		token  string
		status int
		code   string
	}{{hostTok, http.StatusForbidden, "forbidden"}, {"", http.StatusUnauthorized, "unauthorized"}} {
		if status, code, _ := rotateKeys(t, ts, c.token); status != c.status || code != c.code {
			t.Fatalf("rotation by a non-admin: %d %s, want %d %s", status, code, c.status, c.code)
		}
	}
	if kids, _ := keyFileKID(t, originFile); len(kids) != 1 {
		t.Fatal("a refused rotation changed the key file")
	}

	status, newKID, _ := rotateKeys(t, ts, ts.AdminToken())
	if status != http.StatusOK {
		t.Fatalf("rotation by the admin: %d %s", status, newKID)
	}
	kids, raw := keyFileKID(t, originFile)
	if len(kids) != 2 || kids[0] != newKID || !bytes.Equal(raw[admission.KeyLen:], oldRaw) {
		t.Fatalf("origin key file after the rotation: ids %v, want [%s %s] with the old key second", kids, newKID, oldKIDs[0])
	}
	if fi, _ := os.Stat(originFile); fi.Mode().Perm() != 0o600 {
		t.Fatalf("origin key file mode %v", fi.Mode().Perm())
	}

	// The edge is told at the rotation, not at the next repeat (10 s).
	for deadline := time.Now().Add(5 * time.Second); e.keys.Updates() < 1; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the edge has not installed the rotated keys 5 s after the rotation")
		}
	}
	after := ts.joinOnEdge(t, room, e)
	if kid := ticketKID(t, after.Ticket); kid != newKID {
		t.Fatalf("ticket after the rotation names key %s, want the new %s", kid, newKID)
	}
	listenOK(t, edgeBase+after.Listen.Ogg)
	listenOK(t, edgeBase+before.Listen.Ogg)
	if kids, raw := keyFileKID(t, edgeFile); len(kids) != 2 || kids[0] != newKID || !bytes.Equal(raw[admission.KeyLen:], oldRaw) {
		t.Fatalf("edge key file after the rotation: ids %v, want [%s %s]", kids, newKID, oldKIDs[0])
	}

	status, code, retry := rotateKeys(t, ts, ts.AdminToken())
	if status != http.StatusConflict || code != "rotation_too_soon" || retry == "" {
		t.Fatalf("second rotation within the ticket lifetime: %d %s Retry-After %q", status, code, retry)
	}
	if kids, _ := keyFileKID(t, originFile); kids[0] != newKID {
		t.Fatal("a refused rotation changed the key file")
	}

	var rows struct {
		Rows []struct{ Actor, Action, Target string }
	}
	if code := ts.call(t, "GET", "/api/v1/audit?action="+auditRotateKeys, ts.AdminToken(), nil, &rows); code != http.StatusOK ||
		len(rows.Rows) != 1 || rows.Rows[0].Target != "ticket_key:"+newKID {
		t.Fatalf("audit rows of the rotation: %d %+v", code, rows.Rows)
	}
}

// TestEdgeStaleKeyFileConverges: an edge started after a rotation with a
// key file holding only the old key gets the new set from the origin's
// periodic repeat (no rotation happens while it runs), then accepts the
// tickets of the new key and has rewritten its key file.
func TestEdgeStaleKeyFileConverges(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(t, dir)
	withCluster(&cfg)
	cfg.TicketKeysInterval = 200 * time.Millisecond
	ts := runServer(t, cfg)
	_, oldRaw := keyFileKID(t, filepath.Join(dir, "ticket.key"))
	status, newKID, _ := rotateKeys(t, ts, ts.AdminToken())
	if status != http.StatusOK {
		t.Fatalf("rotation: %d %s", status, newKID)
	}
	edgeFile := filepath.Join(t.TempDir(), "ticket.key")
	if err := os.WriteFile(edgeFile, oldRaw, 0o600); err != nil {
		t.Fatal(err)
	}
	e, edgeBase := startEdgeWith(t, ts, "", func(c *EdgeConfig) { c.TicketKeyFile = edgeFile })
	for deadline := time.Now().Add(5 * time.Second); e.keys.Updates() < 1; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the edge with a stale key file has not taken the origin's keys in 5 s (repeated every 200 ms)")
		}
	}
	_, hostTok := ts.createUser(t, "amal")
	room := ts.liveRoom(t, hostTok)
	j := ts.joinOnEdge(t, room, e)
	if kid := ticketKID(t, j.Ticket); kid != newKID {
		t.Fatalf("ticket names key %s, want the new %s", kid, newKID)
	}
	listenOK(t, edgeBase+j.Listen.Ogg)
	if kids, _ := keyFileKID(t, edgeFile); len(kids) != 2 || kids[0] != newKID {
		t.Fatalf("edge key file: ids %v, want the new key first", kids)
	}
}
