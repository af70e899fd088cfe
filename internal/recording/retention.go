package recording

import (
	"context"
	"encoding/json"
	"strings"
	"time"
)

// DefaultRetentionEvery is how often the retention job runs.
const DefaultRetentionEvery = time.Hour

// Sweep deletes what has expired at now: recordings of rooms ended longer
// ago than the retention, recordings and clips whose withholding ran out,
// expired clips (a withheld one once its withholding has run out too) (and the evidence store's expired
// segments, see Evidence.Sweep). Every deletion is logged.
func (m *Manager) Sweep(now time.Time, keep time.Duration) {
	// A withheld recording waits for its withholding to run out, whatever
	// the retention: a complaint may still restore it until then.
	var withheld []string
	for id, e := range m.snapshot() {
		e.mu.Lock()
		if e.meta.Withheld != "" && e.meta.State != StateDeleted && !now.Before(e.meta.WithheldUntil) {
			withheld = append(withheld, id)
		}
		e.mu.Unlock()
	}
	for _, id := range withheld {
		if err := m.Delete(id, "withheld until its complaint window closed"); err != nil {
			m.log.Error("retention: delete withheld recording", "room", id, "err", err)
		}
	}
	if keep > 0 {
		var due []string
		for id, e := range m.snapshot() {
			e.mu.Lock()
			if e.meta.Withheld == "" && e.meta.State == StateFinished && !e.meta.Ended.IsZero() && now.Sub(e.meta.Ended) > keep {
				due = append(due, id)
			}
			e.mu.Unlock()
		}
		for _, id := range due {
			if err := m.Delete(id, "retention"); err != nil {
				m.log.Error("retention: delete recording", "room", id, "err", err)
			}
		}
	}
	names, err := m.st.List("clips/")
	if err != nil {
		m.log.Error("retention: list clips", "err", err)
		return
	}
	for _, n := range names {
		if !strings.HasSuffix(n, ".json") {
			continue
		}
		b, err := m.st.Get(n)
		if err != nil {
			continue
		}
		var c Clip
		if json.Unmarshal(b, &c) != nil || now.Before(c.Expires) || (c.Withheld != "" && now.Before(c.WithheldUntil)) {
			continue
		}
		if err := m.st.Delete(clipFile(c.ID)); err != nil {
			m.log.Error("retention: delete clip", "clip", c.ID, "err", err)
			continue
		}
		m.st.Delete(n)
		m.log.Info("clip deleted", "clip", c.ID, "room", c.Room, "why", "expired", "expires", c.Expires)
	}
}

// RunRetention runs sweep now and then every every until ctx is done (its owner cancels
// ctx and waits for the return).
func RunRetention(ctx context.Context, every time.Duration, sweep func(time.Time)) {
	if every <= 0 {
		every = DefaultRetentionEvery
	}
	sweep(time.Now())
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			sweep(now)
		}
	}
}
