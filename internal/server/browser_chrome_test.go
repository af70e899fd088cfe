package server

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
)

// Browser tests drive Debian's Chromium headless with chromedp. They skip when
// no Chromium is installed, unless MAJLIS_REQUIRE_BROWSER=1 (scripts/test sets
// it, since scripts/deps installs chromium).

// chromiumPath finds the browser: $MAJLIS_CHROMIUM, else the usual names.
func chromiumPath() string {
	if p := os.Getenv("MAJLIS_CHROMIUM"); p != "" {
		return p
	}
	for _, n := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(n); err == nil {
			return p
		}
	}
	return ""
}

// browserLog keeps what pages print, shown when a test fails, and the
// Content-Security-Policy violations each tab reports.
type browserLog struct {
	mu    sync.Mutex
	lines []string
	csp   map[string][]string // tab name → violation reports
	// cspExpected names the tabs that provoke violations on purpose.
	cspExpected map[string]bool
}

func (l *browserLog) addCSP(tab, s string) {
	l.mu.Lock()
	if l.csp == nil {
		l.csp = map[string][]string{}
	}
	l.csp[tab] = append(l.csp[tab], s)
	l.mu.Unlock()
}

// cspViolations are the violations tab reported so far.
func (l *browserLog) cspViolations(tab string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.csp[tab]...)
}

// expectCSP marks a tab that provokes violations on purpose.
func (l *browserLog) expectCSP(tab string) {
	l.mu.Lock()
	if l.cspExpected == nil {
		l.cspExpected = map[string]bool{}
	}
	l.cspExpected[tab] = true
	l.mu.Unlock()
}

func (l *browserLog) add(s string) {
	l.mu.Lock()
	l.lines = append(l.lines, time.Now().Format("15:04:05.000 ")+s)
	l.mu.Unlock()
}

func (l *browserLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n")
}

// newBrowser starts one headless Chromium for the test (fresh profile) and
// returns its root context; tabs come from newTab. extra adds flags.
func newBrowser(t *testing.T, extra ...chromedp.ExecAllocatorOption) context.Context {
	t.Helper()
	path := chromiumPath()
	if path == "" {
		if os.Getenv("MAJLIS_REQUIRE_BROWSER") == "1" {
			t.Fatal("chromium not found (apt-get install chromium, or set MAJLIS_CHROMIUM)")
		}
		t.Skip("MAJLIS-SKIP-TOOL: chromium not installed (MAJLIS_DEPS=test scripts/deps installs it)")
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-background-timer-throttling", true),
		chromedp.Flag("disable-renderer-backgrounding", true),
		chromedp.Flag("disable-backgrounding-occluded-windows", true),
		chromedp.Flag("use-fake-device-for-media-stream", true),
		chromedp.Flag("use-fake-ui-for-media-stream", true),
		// Headless Chromium gathers no loopback ICE candidates without it.
		chromedp.Flag("allow-loopback-in-peer-connection", true),
		chromedp.Flag("autoplay-policy", "no-user-gesture-required"),
		chromedp.Flag("lang", "en-US"),
		chromedp.WindowSize(1000, 800),
	}
	opts = append(opts, extra...)
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	bctx, cancelB := chromedp.NewContext(actx)
	// Start the browser now so a failure to launch is reported here.
	if err := chromedp.Do(bctx); err != nil {
		cancelB()
		cancelA()
		t.Fatalf("start chromium %s: %v", path, err)
	}
	t.Cleanup(func() { cancelB(); cancelA() })
	return bctx
}

// newTab opens a tab in its own browser context (separate storage and
// cookies: a different user), recording its console into log. The test
// fails if a page of the tab reports a Content-Security-Policy violation.
func newTab(t *testing.T, browser context.Context, name string, log *browserLog) context.Context {
	t.Helper()
	ctx, cancel := chromedp.NewContext(browser, chromedp.WithNewBrowserContext())
	t.Cleanup(cancel)
	// Failed requests, by URL, for the failure report.
	var mu sync.Mutex
	urls := map[network.RequestID]string{}
	if err := chromedp.Listen(ctx, func(ev any) {
		switch e := ev.(type) {
		case *network.EventRequestWillBeSent:
			mu.Lock()
			urls[e.RequestID] = e.Request.Method + " " + e.Request.URL
			mu.Unlock()
		case *network.EventResponseReceived:
			// The console says only "the server responded with a status
			// of 401": name the request.
			if e.Response.Status >= 400 {
				mu.Lock()
				u := urls[e.RequestID]
				mu.Unlock()
				log.add(fmt.Sprintf("[%s] %s: %d", name, u, e.Response.Status))
			}
		case *network.EventLoadingFailed:
			mu.Lock()
			u := urls[e.RequestID]
			mu.Unlock()
			log.add(fmt.Sprintf("[%s] %s failed: %s", name, u, e.ErrorText))
		}
	}); err != nil {
		t.Fatalf("listen: %v", err)
	}
	msgs := chromedp.Console(ctx)
	go func() {
		for m, err := range msgs {
			if err != nil {
				return
			}
			log.add(fmt.Sprintf("[%s] %s", name, m))
			if strings.Contains(m.Text, "Content Security Policy") {
				log.addCSP(name, m.Text)
			}
		}
	}()
	t.Cleanup(func() {
		log.mu.Lock()
		expected := log.cspExpected[name]
		log.mu.Unlock()
		if v := log.cspViolations(name); len(v) > 0 && !expected {
			t.Errorf("tab %s: Content-Security-Policy violations: %q", name, v)
		}
	})
	return ctx
}

// run runs actions on a tab with a bound on time.
func run(t *testing.T, ctx context.Context, d time.Duration, what string, log *browserLog, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	c, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	start := time.Now()
	if err := chromedp.Do(c, actions...); err != nil {
		t.Fatalf("%s: %v\npage state: %s\npage console:\n%s", what, err, pageState(ctx), log)
	}
	t.Logf("%s: %v", what, time.Since(start).Round(time.Millisecond))
}

// pageState is what the tab's player and studio report (their stats), for
// a failure report.
func pageState(ctx context.Context) string {
	c, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	v, err := chromedp.Run(c, chromedp.Evaluate[string](`JSON.stringify({url: location.href, player: window.majlisPlayer?.stats?.(), studio: window.majlisStudio?.stats?.()})`))
	if err != nil {
		return "(unavailable: " + err.Error() + ")"
	}
	return v
}

// eval evaluates a JavaScript expression (promises awaited) into T.
func eval[T any](t *testing.T, ctx context.Context, expr string) T {
	t.Helper()
	c, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	v, err := chromedp.Run(c, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("eval %s: %v", expr, err)
	}
	return v
}

// screenshot saves what the tab shows as docs/screenshots/name.png when
// MAJLIS_SCREENSHOTS=1.
func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	if os.Getenv("MAJLIS_SCREENSHOTS") != "1" {
		return
	}
	c, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	// The viewport sized to the page, not FullScreenshot: Chromium offsets
	// beyond-viewport captures of RTL pages.
	if err := chromedp.Do(c, chromedp.EmulateViewport(1000, 700), chromedp.Evaluate[chromedp.Void](`window.scrollTo(0, 0)`)); err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	h, err := chromedp.Run(c, chromedp.Evaluate[int64](`Math.max(700, document.documentElement.scrollHeight)`))
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := chromedp.Do(c, chromedp.EmulateViewport(1000, h), chromedp.Sleep(300*time.Millisecond)); err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	png, err := chromedp.Run(c, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	dir := filepath.Join("..", "..", "docs", "screenshots")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
		t.Fatal(err)
	}
}

func contextTimeout(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, d)
}
