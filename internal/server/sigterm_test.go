package server

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"syscall"
	"testing"
	"time"
)

// sigtermToken is the admin token of the processes these tests start.
const sigtermToken = "mja_5c1f0e9b2d7a4c8e6f3a1b0d9c8e7f6a5b4c3d2e1f0a9b8c"

// proc is a majlis binary running as its own process on loopback.
type proc struct {
	cmd  *exec.Cmd
	base string
	done chan error
}

// buildMajlis builds the command once per test binary run.
func buildMajlis(t testing.TB) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "majlis")
	out, err := exec.Command("go", "build", "-o", bin, "../../cmd/majlis").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

var servingRE = regexp.MustCompile(`msg="majlis serving" http=(\S+)`)

// startProc runs `majlis serve` on loopback ports the kernel picks and
// waits for it to serve.
func startProc(t testing.TB, bin, dataDir string) *proc {
	t.Helper()
	// Wide per-address limits: these tests drive many users and checks from
	// one loopback address.
	return runProc(t, bin, []string{"serve", "--data", dataDir, "--http", "127.0.0.1:0", "--admin", "127.0.0.1:0", "--webrtc-udp", "127.0.0.1:0",
		"--auth-fail-limit-ip", "100000/100000", "--auth-fail-limit-net", "100000/100000"},
		[]string{"MAJLIS_ADMIN_TOKEN=" + sigtermToken}, servingRE)
}

// runProc runs bin with args (and env added to this process's) and waits
// until its log says it serves (serving's first group is the address).
// The process is killed at the end of the test if it still runs.
func runProc(t testing.TB, bin string, args, env []string, serving *regexp.Regexp) *proc {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proc{cmd: cmd, done: make(chan error, 1)}
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if m := serving.FindStringSubmatch(sc.Text()); m != nil {
				select {
				case addr <- m[1]:
				default:
				}
			}
		}
		p.done <- cmd.Wait()
	}()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			<-p.done
		}
	})
	select {
	case a := <-addr:
		p.base = "http://" + a
	case err := <-p.done:
		t.Fatalf("%s exited before serving: %v", bin, err)
	case <-time.After(30 * time.Second):
		t.Fatalf("%s %v did not start serving in 30 s", bin, args)
	}
	return p
}

// stop sends SIGTERM and waits for a clean exit.
func (p *proc) stop(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-p.done:
		if err != nil {
			t.Fatalf("majlis after SIGTERM: %v, want a clean exit", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("majlis still running 20 s after SIGTERM")
	}
}

func (p *proc) call(t *testing.T, method, path, token string, body, out any) int {
	t.Helper()
	code, err := p.try(testHTTP, method, path, token, body, out)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	return code
}

// try is call that returns a transport error instead of failing the test.
func (p *proc) try(client *http.Client, method, path, token string, body, out any) (int, error) {
	req := jsonRequest(method, p.base+path, token, body)
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if out != nil {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil && resp.StatusCode < 300 {
			return 0, err // a 2xx whose body was cut: not acknowledged as far as the client knows
		}
	}
	return resp.StatusCode, nil
}

// TestSIGTERMKeepsCounts: a real process with three listeners is stopped
// with a real SIGTERM; the room comes back with its peak and unique
// listener counts (they were flushed on the way out, not lost with the
// once-a-second ticker).
func TestSIGTERMKeepsCounts(t *testing.T) {
	bin := buildMajlis(t)
	dir := t.TempDir()
	p := startProc(t, bin, dir)
	var u struct{ Token string }
	if code := p.call(t, "POST", "/api/v1/users", sigtermToken, map[string]string{"name": "amal"}, &u); code != http.StatusCreated {
		t.Fatalf("create user: %d", code)
	}
	var rm struct{ ID string }
	if code := p.call(t, "POST", "/api/v1/rooms", u.Token, map[string]string{"title": "counts"}, &rm); code != http.StatusCreated {
		t.Fatalf("create room: %d", code)
	}
	if code := p.call(t, "POST", "/api/v1/rooms/"+rm.ID+"/start", u.Token, nil, nil); code != http.StatusOK {
		t.Fatalf("start: %d", code)
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	for i := range 3 {
		var j joinResp
		if code := p.call(t, "POST", "/api/v1/rooms/"+rm.ID+"/join", "", nil, &j); code != http.StatusOK {
			t.Fatalf("join %d: %d", i, code)
		}
		req, _ := http.NewRequestWithContext(ctx, "GET", p.base+j.Listen.Ogg, nil)
		resp, err := streamHTTP.Do(req)
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("listener %d: %v %v", i, err, resp)
		}
		defer resp.Body.Close()
		if _, err := io.ReadFull(resp.Body, make([]byte, 64)); err != nil { // the stream is flowing
			t.Fatalf("listener %d: %v", i, err)
		}
	}
	p.stop(t) // at once: the ticker (once a second) has likely not stored the counts yet

	p = startProc(t, bin, dir)
	defer p.stop(t)
	var got struct {
		State           string
		PeakListeners   int64 `json:"peak_listeners"`
		UniqueListeners int64 `json:"unique_listeners"`
	}
	if code := p.call(t, "GET", "/api/v1/rooms/"+rm.ID, "", nil, &got); code != http.StatusOK {
		t.Fatalf("room after restart: %d", code)
	}
	if got.State != "live" || got.PeakListeners != 3 || got.UniqueListeners != 3 {
		t.Fatalf("room after a SIGTERM with 3 listeners: %+v, want live, peak 3, unique 3", got)
	}
}
