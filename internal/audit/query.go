package audit

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// Query limits.
const (
	DefaultLimit = 100
	MaxLimit     = 1000
)

// Filter selects rows: every non-empty field must match exactly.
type Filter struct {
	Room, Actor, Action, Target string
	AfterSeq                    uint64 // rows after this seq (a page's cursor: its last row's seq)
	Limit                       int    // 0: DefaultLimit; capped at MaxLimit
}

// Query returns the rows matching f after f.AfterSeq, oldest first
// (newest last), at most f.Limit of them: the next page is after the last
// row's seq.
func (l *Log) Query(ctx context.Context, f Filter) ([]Row, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = DefaultLimit
	}
	limit = min(limit, MaxLimit)
	var where []string
	args := []any{}
	for _, c := range []struct{ col, v string }{{"room", f.Room}, {"actor", f.Actor}, {"action", f.Action}, {"target", f.Target}} {
		if c.v != "" {
			where = append(where, c.col+" = ?")
			args = append(args, c.v)
		}
	}
	where = append(where, "seq > ?")
	args = append(args, int64(min(f.AfterSeq, 1<<63-1)), limit)
	q := `SELECT seq, at, actor, action, target, room, reason, detail, prev, hash FROM audit WHERE ` +
		strings.Join(where, " AND ") + ` ORDER BY seq LIMIT ?`
	rows, err := l.rd.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("audit query: %w", err)
	}
	defer rows.Close()
	out := []Row{}
	for rows.Next() {
		var r Row
		var seq, at int64
		var detail string
		if err := rows.Scan(&seq, &at, &r.Actor, &r.Action, &r.Target, &r.Room, &r.Reason, &detail, &r.Prev, &r.Hash); err != nil {
			return nil, fmt.Errorf("audit query: %w", err)
		}
		r.Seq, r.At = uint64(seq), time.UnixMilli(at).UTC()
		if r.Detail, err = decodeDetail(detail); err != nil {
			return nil, fmt.Errorf("audit query: row %d: %w", r.Seq, err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("audit query: %w", err)
	}
	return out, nil
}
