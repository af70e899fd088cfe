package safety

import (
	"context"
	"time"

	"majlis/internal/audit"
)

// AreaAll marks a trusted flagger for every category.
const AreaAll = "*"

// Flagger is an account an admin trusts (Art. 22 DSA) in an area: a
// category (STATEMENT_CATEGORY_*) or AreaAll. Its notices in the area go
// first in the queue and are decided as SOURCE_TRUSTED_FLAGGER.
type Flagger struct {
	User  string    `json:"user"`
	Area  string    `json:"area"`
	Since time.Time `json:"since"`
	By    string    `json:"by"`
}

// SetFlagger marks (area != "") or unmarks (area == "") a trusted flagger (admins).
func (s *Service) SetFlagger(ctx context.Context, a Actor, user, area string) (Flagger, error) {
	if !a.admin() {
		return Flagger{}, ErrForbidden
	}
	if area != "" && area != AreaAll && !ValidCategory(area) {
		return Flagger{}, fieldErr("bad_area", "area", "area must be a STATEMENT_CATEGORY_* value or *")
	}
	if _, err := s.cfg.Accounts.User(ctx, user); err != nil {
		return Flagger{}, err
	}
	f := Flagger{User: user, Area: area, Since: s.now(), By: a.ID}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return Flagger{}, err
	}
	defer tx.Rollback()
	action := "safety.flagger_set"
	if area == "" {
		action = "safety.flagger_unset"
		_, err = tx.ExecContext(ctx, `DELETE FROM trusted_flaggers WHERE user_id = ?`, user)
	} else {
		_, err = tx.ExecContext(ctx, `INSERT INTO trusted_flaggers (user_id, area, since, by) VALUES (?, ?, ?, ?)
			ON CONFLICT(user_id) DO UPDATE SET area = excluded.area, since = excluded.since, by = excluded.by`, user, area, ms(f.Since), a.ID)
	}
	if err != nil {
		return Flagger{}, err
	}
	if err := s.record(ctx, audit.Entry{Actor: a.ID, Action: action, Target: "user:" + user, Detail: map[string]any{"area": area}}); err != nil {
		return Flagger{}, err
	}
	return f, tx.Commit()
}

// Flaggers lists the trusted flaggers (admins and moderators).
func (s *Service) Flaggers(ctx context.Context, a Actor) ([]Flagger, error) {
	if !a.moderator() {
		return nil, ErrForbidden
	}
	rows, err := s.db.QueryContext(ctx, `SELECT user_id, area, since, by FROM trusted_flaggers ORDER BY since`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []Flagger{}
	for rows.Next() {
		var f Flagger
		var since int64
		if err := rows.Scan(&f.User, &f.Area, &since, &f.By); err != nil {
			return nil, err
		}
		f.Since = fromMS(since)
		out = append(out, f)
	}
	return out, rows.Err()
}
