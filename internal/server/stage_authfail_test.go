package server

import (
	"net/http"
	"testing"
)

// TestStageBearerFailuresLimited: on a stage port of its own, junk bearer
// tokens from one address are refused 429 with Retry-After once past their
// budget (1/s, burst 10), before any token lookup; another address, and a
// good token, are still served.
func TestStageBearerFailuresLimited(t *testing.T) {
	_, stage := startAdmissionServer(t, AdmissionConfig{})
	_, hostTok := stage.createUser(t, "host")
	url := stage.base + "/api/v1/me"
	try := func(src, token string) (int, string) {
		req, _ := http.NewRequest("GET", url, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := sourceClient(src).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode, resp.Header.Get("Retry-After")
	}
	limited := 0
	for range 30 {
		code, retry := try("127.0.12.1", "junk")
		if code == http.StatusTooManyRequests {
			if retry == "" {
				t.Fatal("429 without Retry-After")
			}
			limited++
		} else if code != http.StatusUnauthorized {
			t.Fatalf("junk token on the stage port: %d", code)
		}
	}
	if limited < 15 {
		t.Fatalf("%d of 30 junk tokens from one address limited on the stage port, want ≥ 15 (burst 10)", limited)
	}
	if code, _ := try("127.0.13.1", "junk"); code != http.StatusUnauthorized {
		t.Fatalf("junk token from another address: %d, want 401", code)
	}
	if code, _ := try("127.0.13.1", hostTok); code != http.StatusOK {
		t.Fatalf("good token: %d, want 200", code)
	}
}
