package loadgen

import (
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Report summarizes a run.
type Report struct {
	Config     Config         `json:"config"`
	Workers    int            `json:"workers"`
	Started    string         `json:"started"`
	Listeners  int            `json:"listeners"`
	Joined     int            `json:"joined"`           // got a ticket and connected
	WithAudio  int            `json:"with_audio"`       // received audio
	Failed     int            `json:"failed"`           // no audio, or ended with an error
	Stalled    int            `json:"stalled"`          // listeners with at least one stall
	Stalls     int            `json:"stalls"`           // stalls in total
	Gapped     int            `json:"gapped"`           // listeners with at least one gap (skip)
	Reconnects int            `json:"reconnects"`       // new joins after a stream broke (--reconnect)
	BelowRate  int            `json:"below_rate"`       // listeners under 99% of the stream rate
	RateMin    float64        `json:"rate_min"`         // lowest listener rate
	RateP1     float64        `json:"rate_p1"`          // 1st percentile of listener rates
	RateMax    float64        `json:"rate_max"`         // highest; below 1 too means the program itself ran slow (mixer starved)
	TTFBp50ms  float64        `json:"ttfb_p50_ms"`      // join start to first audio byte
	TTFBp99ms  float64        `json:"ttfb_p99_ms"`      //
	TTFBmaxms  float64        `json:"ttfb_max_ms"`      //
	MBytes     float64        `json:"mbytes"`           // total received
	Errors     map[string]int `json:"errors,omitempty"` // error text (first 80 chars) → count
	Server     *ProcUsage     `json:"server,omitempty"` // server processes during the steady window
}

// MinRate is the share of the stream rate every listener must receive.
const MinRate = 0.99

// Summarize builds the report of per-listener results.
func Summarize(c Config, workers int, started time.Time, rs []Result) Report {
	rep := Report{Config: c, Workers: workers, Started: started.UTC().Format(time.RFC3339), Listeners: len(rs), Errors: map[string]int{}}
	var ttfb, rates []float64
	for _, r := range rs {
		if r.Joined {
			rep.Joined++
		}
		if r.Audio {
			rep.WithAudio++
			ttfb = append(ttfb, r.TTFBms)
			rates = append(rates, r.Rate)
			if r.Rate < MinRate {
				rep.BelowRate++
			}
		}
		if !r.Audio || r.Err != "" {
			rep.Failed++
		}
		if r.Err != "" {
			e := r.Err
			if len(e) > 80 {
				e = e[:80]
			}
			rep.Errors[e]++
		}
		if r.Stalls > 0 {
			rep.Stalled++
			rep.Stalls += r.Stalls
		}
		rep.Reconnects += r.Reconnects
		if r.Gaps > 0 {
			rep.Gapped++
		}
		rep.MBytes += float64(r.Bytes) / 1e6
	}
	slices.Sort(ttfb)
	slices.Sort(rates)
	if len(rates) > 0 {
		rep.RateMin = rates[0]
		rep.RateP1 = pct(rates, 0.01)
		rep.RateMax = rates[len(rates)-1]
		rep.TTFBp50ms = pct(ttfb, 0.5)
		rep.TTFBp99ms = pct(ttfb, 0.99)
		rep.TTFBmaxms = ttfb[len(ttfb)-1]
	}
	return rep
}

func pct(sorted []float64, p float64) float64 {
	i := int(p * float64(len(sorted)-1))
	return sorted[i]
}

// ProcUsage is the CPU and memory of the server processes under test over
// a window in which the listener count was steady.
type ProcUsage struct {
	PIDs             []int   `json:"pids"`
	WindowS          float64 `json:"window_s"`
	CPUSeconds       float64 `json:"cpu_s"`                  // user+system over the window, all PIDs
	CPUShare         float64 `json:"cpu_cores"`              // CPU seconds per second
	RSSMB            float64 `json:"rss_mb"`                 // at the end of the window, all PIDs
	RSSStartMB       float64 `json:"rss_before_mb"`          // before the first listener
	Listeners        int     `json:"listeners"`              // with audio
	USPerListenerS   float64 `json:"us_per_listener_s"`      // CPU µs per listener-second
	BytesPerListener float64 `json:"rss_bytes_per_listener"` // (RSS - RSS before) / listeners
	LoadAvg          string  `json:"loadavg"`                // /proc/loadavg at the end of the window
	CtxSwitchesPerS  float64 `json:"ctx_switches_per_s"`     // voluntary and involuntary, every thread of all PIDs
}

// procCPU returns utime+stime of pid in seconds.
func procCPU(pid int) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, fmt.Errorf("proc stat of %d", pid)
	}
	f := strings.Fields(s[i+2:])
	// Fields after the command: state(0) ... utime(11) stime(12), in clock ticks (100 Hz on Linux).
	if len(f) < 13 {
		return 0, fmt.Errorf("proc stat of %d", pid)
	}
	u, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	return (u + st) / 100, nil
}

// procRSS returns the resident set of pid in bytes.
func procRSS(pid int) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			kb, err := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 64)
			return kb * 1024, err
		}
	}
	return 0, fmt.Errorf("no VmRSS for %d", pid)
}

// procCSW returns the context switches of every thread of pid so far
// (/proc/PID/status counts the main thread alone). A thread that ends
// within the window takes its count with it, so this errs low.
func procCSW(pid int) (float64, error) {
	tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	if err != nil {
		return 0, err
	}
	var n float64
	for _, t := range tasks {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/status", pid, t.Name()))
		if err != nil {
			continue // the thread ended meanwhile
		}
		for _, l := range strings.Split(string(b), "\n") {
			k, v, ok := strings.Cut(l, ":")
			if ok && (k == "voluntary_ctxt_switches" || k == "nonvoluntary_ctxt_switches") {
				x, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
				if err == nil {
					n += x
				}
			}
		}
	}
	return n, nil
}

func sumProcs(pids []int, f func(int) (float64, error)) (float64, error) {
	var t float64
	for _, p := range pids {
		v, err := f(p)
		if err != nil {
			return 0, err
		}
		t += v
	}
	return t, nil
}

func loadAvg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	return strings.TrimSpace(string(b))
}
