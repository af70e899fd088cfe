package safety

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"majlis/internal/backoff"
	"majlis/internal/ratelimit"
)

// Submitter limits.
const (
	MaxBatch      = 100 // statements per request (the database's between:1,100)
	MaxSubmitRate = 200 // requests per second the database allows
	submitTries   = 5   // attempts per batch on 429, 5xx and network errors
	maxAnswer     = 1 << 20
)

// SubmitterConfig configures the Transparency Database submitter.
type SubmitterConfig struct {
	// URL is the batch endpoint (https://transparency.dsa.ec.europa.eu/api/v2/statements).
	URL   string
	Token string // the platform's API token (a bearer token)
	// Rate bounds requests per second (default and at most MaxSubmitRate).
	Rate float64
	// Every is how often Run submits what is new (default 1 min).
	Every  time.Duration
	Client *http.Client // default: 30 s timeout
	Retry  backoff.Policy
}

// Submitter sends the statements of reasons to the Transparency Database:
// batches of at most 100, each statement once. A batch is retried as is
// after a 429, a 5xx or a network error; a 422 that names existing puids
// counts those as done (an earlier attempt landed) and the rest go again.
type Submitter struct {
	s      *Service
	cfg    SubmitterConfig
	bucket ratelimit.Bucket
	rate   ratelimit.Rate
}

// NewSubmitter returns a submitter of s's statements.
func (s *Service) NewSubmitter(cfg SubmitterConfig) *Submitter {
	if cfg.Rate <= 0 || cfg.Rate > MaxSubmitRate {
		cfg.Rate = MaxSubmitRate
	}
	if cfg.Every <= 0 {
		cfg.Every = time.Minute
	}
	if cfg.Client == nil {
		cfg.Client = &http.Client{Timeout: 30 * time.Second}
	}
	return &Submitter{s: s, cfg: cfg, rate: ratelimit.Rate{PerSecond: cfg.Rate, Burst: 1}}
}

// Run submits every Every until ctx is done (its owner cancels and waits).
func (u *Submitter) Run(ctx context.Context) {
	t := time.NewTicker(u.cfg.Every)
	defer t.Stop()
	for {
		if _, err := u.Pass(ctx); err != nil && ctx.Err() == nil {
			u.s.log.Error("safety: submit statements", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// pending is the next batch of statements not submitted yet, oldest first.
func (u *Submitter) pending(ctx context.Context) ([]TDBStatement, error) {
	ds, err := u.s.decisions(ctx, `WHERE action IN (?, ?, ?, ?, ?, ?, ?) AND puid NOT IN (SELECT puid FROM submitted) ORDER BY decided_at, id LIMIT ?`,
		ActionMute, ActionRemoveFromStage, ActionEndRoom, ActionRemoveReplay, ActionRemoveClip, ActionSuspend, ActionTerminate, MaxBatch)
	if err != nil {
		return nil, err
	}
	out := make([]TDBStatement, 0, len(ds))
	for _, d := range ds {
		t, _ := d.TDB()
		out = append(out, t)
	}
	return out, nil
}

func (u *Submitter) done(ctx context.Context, puids []string) error {
	tx, err := u.s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	at := ms(u.s.now())
	for _, p := range puids {
		if _, err := tx.ExecContext(ctx, `INSERT OR IGNORE INTO submitted (puid, at) VALUES (?, ?)`, p, at); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// Pass submits everything not submitted yet and returns how many
// statements the database took (or already had).
func (u *Submitter) Pass(ctx context.Context) (int, error) {
	sent := 0
	for {
		batch, err := u.pending(ctx)
		if err != nil || len(batch) == 0 {
			return sent, err
		}
		took, err := u.send(ctx, batch)
		if err != nil {
			return sent, err
		}
		if err := u.done(ctx, took); err != nil {
			return sent, err
		}
		sent += len(took)
	}
}

// answer422 is the database's refusal of puids it already has.
type answer422 struct {
	Existing struct {
		PUID string `json:"puid"`
	} `json:"existing"`
	Errors struct {
		Existing []string `json:"existing_puids"`
	} `json:"errors"`
}

// send posts one batch until it is answered for good; it returns the
// puids the database has now.
func (u *Submitter) send(ctx context.Context, batch []TDBStatement) ([]string, error) {
	body, err := json.Marshal(map[string]any{"statements": batch})
	if err != nil {
		return nil, err
	}
	for attempt := 0; ; attempt++ {
		if d := u.bucket.Wait(u.rate, time.Now()); d > 0 {
			if !backoff.Sleep(ctx.Done(), d) {
				return nil, ctx.Err()
			}
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.cfg.URL, bytes.NewReader(body))
		if err != nil {
			return nil, err
		}
		req.Header.Set("Authorization", "Bearer "+u.cfg.Token)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json")
		resp, err := u.cfg.Client.Do(req)
		var raw []byte
		if err == nil {
			raw, _ = io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
			resp.Body.Close()
		}
		switch {
		case err == nil && resp.StatusCode/100 == 2:
			return puidsOf(batch), nil
		case err == nil && resp.StatusCode == http.StatusUnprocessableEntity:
			var a answer422
			json.Unmarshal(raw, &a)
			existing := append(a.Errors.Existing, a.Existing.PUID)
			took := intersect(batch, existing)
			if len(took) == 0 {
				return nil, fmt.Errorf("transparency database refused the batch: 422 %s", bytes.TrimSpace(raw))
			}
			return took, nil // the rest go in the next batch
		case err == nil && resp.StatusCode != http.StatusTooManyRequests && resp.StatusCode < 500:
			return nil, fmt.Errorf("transparency database: %s %s", resp.Status, bytes.TrimSpace(raw))
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if attempt+1 >= submitTries {
			if err == nil {
				err = errors.New(resp.Status)
			}
			return nil, fmt.Errorf("transparency database: %d attempts: %w", submitTries, err)
		}
		if !backoff.Sleep(ctx.Done(), u.cfg.Retry.Next(attempt, resp)) {
			return nil, ctx.Err()
		}
	}
}

func puidsOf(batch []TDBStatement) []string {
	out := make([]string, len(batch))
	for i, t := range batch {
		out[i] = t.PUID
	}
	return out
}

func intersect(batch []TDBStatement, puids []string) []string {
	in := map[string]bool{}
	for _, p := range puids {
		in[p] = true
	}
	var out []string
	for _, t := range batch {
		if in[t.PUID] {
			out = append(out, t.PUID)
		}
	}
	return out
}
