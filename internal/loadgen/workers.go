package loadgen

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os/exec"
	"time"
)

// settle is how long after the last listener connected the steady window
// of the server measurement starts, and margin how long before the end it stops.
const (
	settle = 5 * time.Second
	margin = 2 * time.Second
)

// WorkerArgs are the arguments that make the majlis binary a loadgen worker:
// it reads a Config as JSON on stdin and writes []Result as JSON on stdout.
var WorkerArgs = []string{"loadgen", "--worker"}

// RunWorker is the body of a worker process.
func RunWorker(ctx context.Context, stdin io.Reader, stdout io.Writer) error {
	var c Config
	if err := json.NewDecoder(stdin).Decode(&c); err != nil {
		return fmt.Errorf("worker config: %w", err)
	}
	rs, err := Run(ctx, c)
	if err != nil {
		return err
	}
	return json.NewEncoder(stdout).Encode(rs)
}

// RunWorkers runs c split over workers processes of exe (the majlis binary)
// and, when serverPIDs are given, measures those processes over the steady
// window (after the ramp and settle, until shortly before the end).
func RunWorkers(ctx context.Context, c Config, workers int, exe string, serverPIDs []int, stderr io.Writer) (Report, error) {
	if err := c.Validate(); err != nil {
		return Report{}, err
	}
	workers = max(1, min(workers, c.Listeners))
	started := time.Now()
	type out struct {
		rs  []Result
		err error
	}
	outs := make([]chan out, workers)
	rssBefore, _ := sumProcs(serverPIDs, procRSS)
	for w := range workers {
		wc := c
		wc.Listeners = c.Listeners / workers
		if w < c.Listeners%workers {
			wc.Listeners++
		}
		// Interleave: worker w takes listeners w, w+W, ...: sources and
		// protocols spread as in one process.
		wc.Offset, wc.Stride = w, workers
		wc.Ramp = c.Ramp / float64(workers)
		outs[w] = make(chan out, 1)
		cfg, _ := json.Marshal(wc)
		// The child stops by itself at the end of the run; the context only
		// bounds it if it hangs.
		cctx, cancel := context.WithTimeout(ctx, time.Duration(c.Duration)+time.Minute)
		cmd := exec.CommandContext(cctx, exe, WorkerArgs...)
		cmd.Stdin = bytes.NewReader(cfg)
		cmd.Stderr = stderr
		var so bytes.Buffer
		cmd.Stdout = &so
		if err := cmd.Start(); err != nil {
			cancel()
			return Report{}, fmt.Errorf("worker %d: %w", w, err)
		}
		go func() {
			defer cancel()
			err := cmd.Wait()
			var rs []Result
			if err == nil {
				err = json.Unmarshal(so.Bytes(), &rs)
			}
			outs[w] <- out{rs, err}
		}()
	}

	var usage *ProcUsage
	if len(serverPIDs) > 0 {
		rampEnd := time.Duration(0)
		if c.Ramp > 0 {
			rampEnd = time.Duration(float64(c.Listeners) / c.Ramp * float64(time.Second))
		}
		from := started.Add(rampEnd + settle)
		to := started.Add(time.Duration(c.Duration) - margin)
		if to.Sub(from) >= 2*time.Second {
			usage = measure(ctx, serverPIDs, from, to)
			if usage != nil {
				usage.RSSStartMB = rssBefore / 1e6
			}
		}
	}

	var all []Result
	for w := range workers {
		o := <-outs[w]
		if o.err != nil {
			return Report{}, fmt.Errorf("worker %d: %w", w, o.err)
		}
		all = append(all, o.rs...)
	}
	rep := Summarize(c, workers, started, all)
	if usage != nil {
		usage.Listeners = rep.WithAudio
		if rep.WithAudio > 0 {
			usage.USPerListenerS = usage.CPUSeconds * 1e6 / usage.WindowS / float64(rep.WithAudio)
			usage.BytesPerListener = (usage.RSSMB - usage.RSSStartMB) * 1e6 / float64(rep.WithAudio)
		}
		rep.Server = usage
	}
	return rep, nil
}

func measure(ctx context.Context, pids []int, from, to time.Time) *ProcUsage {
	sleepUntil := func(t time.Time) bool {
		select {
		case <-time.After(time.Until(t)):
			return true
		case <-ctx.Done():
			return false
		}
	}
	if !sleepUntil(from) {
		return nil
	}
	c0, err := sumProcs(pids, procCPU)
	s0, _ := sumProcs(pids, procCSW)
	t0 := time.Now()
	if err != nil || !sleepUntil(to) {
		return nil
	}
	c1, err := sumProcs(pids, procCPU)
	s1, _ := sumProcs(pids, procCSW)
	t1 := time.Now()
	rss, err2 := sumProcs(pids, procRSS)
	if err != nil || err2 != nil {
		return nil
	}
	w := t1.Sub(t0).Seconds()
	return &ProcUsage{PIDs: pids, WindowS: w, CPUSeconds: c1 - c0, CPUShare: (c1 - c0) / w, RSSMB: rss / 1e6, LoadAvg: loadAvg(),
		CtxSwitchesPerS: max(s1-s0, 0) / w}
}
