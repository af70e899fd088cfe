package store

import (
	"context"
	"fmt"
	"time"
)

// Member is a user's standing in one room: a stage role (cohost, speaker),
// a pending request to speak (requester) or a block (blocked). Listeners
// have no row; the host is rooms.host.
type Member struct {
	User       string
	Role       string
	ForcedMute bool
	SelfMute   bool
	Since      time.Time
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// RoomMembers lists a room's member rows, oldest first.
func (s *Store) RoomMembers(ctx context.Context, room string) ([]Member, error) {
	rows, err := s.rd.QueryContext(ctx, `SELECT user_id, role, forced_mute, self_mute, since FROM room_members WHERE room_id = ? ORDER BY since, user_id`, room)
	if err != nil {
		return nil, fmt.Errorf("room members %s: %w", room, err)
	}
	defer rows.Close()
	var out []Member
	for rows.Next() {
		var m Member
		var fm, sm int
		var since int64
		if err := rows.Scan(&m.User, &m.Role, &fm, &sm, &since); err != nil {
			return nil, fmt.Errorf("room members %s: %w", room, err)
		}
		m.ForcedMute, m.SelfMute, m.Since = fm != 0, sm != 0, timeOrZero(since)
		out = append(out, m)
	}
	return out, rows.Err()
}

// PutMember inserts or replaces a member row.
func (s *Store) PutMember(ctx context.Context, room string, m Member) error {
	_, err := s.db.ExecContext(ctx, `INSERT OR REPLACE INTO room_members (room_id, user_id, role, forced_mute, self_mute, since) VALUES (?, ?, ?, ?, ?, ?)`,
		room, m.User, m.Role, b2i(m.ForcedMute), b2i(m.SelfMute), unixOrZero(m.Since))
	if err != nil {
		return fmt.Errorf("put member %s/%s: %w", room, m.User, err)
	}
	return nil
}

// DeleteMember removes a member row (the user is a plain listener again).
func (s *Store) DeleteMember(ctx context.Context, room, user string) error {
	if _, err := s.db.ExecContext(ctx, `DELETE FROM room_members WHERE room_id = ? AND user_id = ?`, room, user); err != nil {
		return fmt.Errorf("delete member %s/%s: %w", room, user, err)
	}
	return nil
}

// SetRoomHost changes a room's host.
func (s *Store) SetRoomHost(ctx context.Context, room, host string) error {
	if _, err := s.db.ExecContext(ctx, `UPDATE rooms SET host = ? WHERE id = ?`, host, room); err != nil {
		return fmt.Errorf("set host %s: %w", room, err)
	}
	return nil
}

// HandOver makes the member of row newHost the room's host, and the
// old host the member of row oldHost, in one transaction: a crash leaves
// the room with its old host or its new one, never two.
func (s *Store) HandOver(ctx context.Context, room string, newHost, oldHost Member) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("hand over %s: %w", room, err)
	}
	defer tx.Rollback()
	const put = `INSERT OR REPLACE INTO room_members (room_id, user_id, role, forced_mute, self_mute, since) VALUES (?, ?, ?, ?, ?, ?)`
	for _, m := range []Member{newHost, oldHost} {
		if _, err := tx.ExecContext(ctx, put, room, m.User, m.Role, b2i(m.ForcedMute), b2i(m.SelfMute), unixOrZero(m.Since)); err != nil {
			return fmt.Errorf("hand over %s: %w", room, err)
		}
	}
	if _, err := tx.ExecContext(ctx, `UPDATE rooms SET host = ? WHERE id = ?`, newHost.User, room); err != nil {
		return fmt.Errorf("hand over %s: %w", room, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("hand over %s: %w", room, err)
	}
	return nil
}

// SetRoomPin sets (or clears, with "") a room's pinned link.
func (s *Store) SetRoomPin(ctx context.Context, room, pin string) error {
	if _, err := s.db.ExecContext(ctx, `UPDATE rooms SET pin = ? WHERE id = ?`, pin, room); err != nil {
		return fmt.Errorf("set pin %s: %w", room, err)
	}
	return nil
}

// SetRoomCounts records a room's peak and unique listener counts.
func (s *Store) SetRoomCounts(ctx context.Context, room string, peak, unique int64) error {
	if _, err := s.db.ExecContext(ctx, `UPDATE rooms SET peak_listeners = ?, unique_listeners = ? WHERE id = ?`, peak, unique, room); err != nil {
		return fmt.Errorf("set counts %s: %w", room, err)
	}
	return nil
}
