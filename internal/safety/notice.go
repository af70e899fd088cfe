package safety

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"database/sql"
	"encoding/hex"
	"errors"
	"math"
	"net/mail"
	"sort"
	"strings"
	"time"

	"majlis/internal/audit"
	"majlis/internal/usertext"
)

// What a notice may point at.
const (
	KindRoom    = "room"    // a room (live): the room as a whole at an offset
	KindSpeaker = "speaker" // a speaker in a room at an offset
	KindReplay  = "replay"  // a room's replay at an offset
	KindClip    = "clip"    // a clip
)

// Notice states.
const (
	NoticeOpen    = "open"
	NoticeClaimed = "claimed"
	NoticeDecided = "decided"
)

// Limits of a notice's fields (characters).
const (
	MinExplanation = 10
	MaxExplanation = 5000
	MaxLaw         = 500
	MaxName        = 200
	MaxEmail       = 254
	// MaxOffset bounds a notice's offsets: a room's length.
	MaxOffset = 7 * 24 * time.Hour
	// MaxRange bounds the reported range's length.
	MaxRange = time.Hour
	// queueMax bounds one read of the queue.
	queueMax = 500
)

// NoticeInput is a notice as the notifier sends it.
type NoticeInput struct {
	Kind    string
	Room    string
	Speaker string   // a user id, for KindSpeaker (and optional for the others)
	Clip    string   // for KindClip
	From    *float64 // seconds into the room (or the clip); required but for clips
	To      *float64 // end of the range, optional
	// Category is a Transparency Database category (STATEMENT_CATEGORY_*).
	Category string
	// Illegal: the notifier says it is illegal, under Law; otherwise against the terms.
	Illegal     bool
	Law         string
	Explanation string
	Name, Email string // optional for the child sexual abuse category (CategoryMinors)
	GoodFaith   bool   // the Art. 16(2)(d) statement: must be true
}

// Notice is a stored notice.
type Notice struct {
	ID          string    `json:"id"`
	Kind        string    `json:"kind"`
	Room        string    `json:"room"`
	Speaker     string    `json:"speaker,omitempty"`
	Clip        string    `json:"clip,omitempty"`
	From        float64   `json:"from_s"`
	To          float64   `json:"to_s"`
	Category    string    `json:"category"`
	Illegal     bool      `json:"illegal"`
	Law         string    `json:"law,omitempty"`
	Explanation string    `json:"explanation"`
	Name        string    `json:"name,omitempty"`
	Email       string    `json:"email,omitempty"`
	Notifier    string    `json:"notifier,omitempty"` // the notifier's account, "" anonymous
	Trusted     bool      `json:"trusted_flagger"`
	State       string    `json:"state"`
	ClaimedBy   string    `json:"claimed_by,omitempty"`
	ClaimedAt   time.Time `json:"claimed_at,omitzero"`
	Decision    string    `json:"decision,omitempty"`
	Created     time.Time `json:"received_at"`
}

// Receipt is what the notifier gets back: the notice and the secret key
// of its status page.
type Receipt struct {
	Notice Notice
	Key    string
}

// NoticeStatus is what the notifier sees of their notice (Art. 16(4), (5)).
type NoticeStatus struct {
	ID       string    `json:"id"`
	State    string    `json:"state"`
	Kind     string    `json:"kind"`
	Room     string    `json:"room"`
	Category string    `json:"category"`
	Received time.Time `json:"received_at"`
	// Decision, once decided: what was done and why (redress included).
	Decision *Decision `json:"decision,omitempty"`
}

func keyHash(k string) string {
	h := sha256.Sum256([]byte(k))
	return hex.EncodeToString(h[:])
}

func checkText(code, field, s string, min, max int, multiline bool) error {
	n := len([]rune(s))
	if n < min || n > max || usertext.Check(s, max, multiline) != nil {
		return fieldErr(code, field, field+" must be "+itoa(min)+"-"+itoa(max)+" characters, with no control or bidirectional override characters")
	}
	return nil
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b [20]byte
	i := len(b)
	for n > 0 {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
	}
	return string(b[i:])
}

func offset(field string, v *float64) (float64, error) {
	if v == nil {
		return 0, nil
	}
	if math.IsNaN(*v) || *v < 0 || *v > MaxOffset.Seconds() {
		return 0, fieldErr("bad_offset", field, field+" must be seconds from 0 to 604800")
	}
	return *v, nil
}

// validate checks a notice's fields, in the order of the form.
func (in *NoticeInput) validate() error {
	switch in.Kind {
	case KindRoom, KindSpeaker, KindReplay, KindClip:
	default:
		return fieldErr("bad_kind", "kind", "kind must be room, speaker, replay or clip")
	}
	if in.Room == "" || len(in.Room) > 64 {
		return fieldErr("bad_room", "room", "room must be a room id")
	}
	if in.Kind == KindSpeaker && in.Speaker == "" {
		return fieldErr("bad_speaker", "speaker", "a notice about a speaker names the speaker's user id")
	}
	if len(in.Speaker) > 64 {
		return fieldErr("bad_speaker", "speaker", "speaker must be a user id")
	}
	if in.Kind == KindClip && (in.Clip == "" || len(in.Clip) > 64) {
		return fieldErr("bad_clip", "clip", "a notice about a clip names the clip id")
	}
	if in.Kind != KindClip && in.From == nil {
		return fieldErr("bad_offset", "from_s", "from_s (seconds into the room) is required")
	}
	from, err := offset("from_s", in.From)
	if err != nil {
		return err
	}
	to, err := offset("to_s", in.To)
	if err != nil {
		return err
	}
	if in.To != nil && (to < from || to-from > MaxRange.Seconds()) {
		return fieldErr("bad_offset", "to_s", "to_s must be from from_s to one hour after it")
	}
	if !ValidCategory(in.Category) {
		return fieldErr("bad_category", "category", "category must be one of the Transparency Database's STATEMENT_CATEGORY_* values")
	}
	in.Law = strings.TrimSpace(in.Law)
	if in.Illegal {
		if err := checkText("bad_law", "law", in.Law, 1, MaxLaw, false); err != nil {
			return err
		}
	} else if in.Law != "" {
		return fieldErr("bad_law", "law", "law is for notices of illegal content (illegal: true)")
	}
	in.Explanation = strings.TrimSpace(in.Explanation)
	if err := checkText("bad_explanation", "explanation", in.Explanation, MinExplanation, MaxExplanation, true); err != nil {
		return err
	}
	in.Name, in.Email = strings.TrimSpace(in.Name), strings.TrimSpace(in.Email)
	optional := in.Category == anonymousCategory
	if !(optional && in.Name == "") {
		if err := checkText("bad_name", "name", in.Name, 1, MaxName, false); err != nil {
			return err
		}
	}
	if !(optional && in.Email == "") {
		a, err := mail.ParseAddress(in.Email)
		if err != nil || a.Address != in.Email || len(in.Email) > MaxEmail {
			return fieldErr("bad_email", "email", "email must be a plain address (name@example.org), at most 254 characters")
		}
	}
	if !in.GoodFaith {
		return fieldErr("good_faith_required", "good_faith", "the notice must confirm that it is made in good faith and is accurate and complete (Art. 16(2)(d) DSA)")
	}
	return nil
}

// Report files a notice from anyone (a: anonymous or signed in). The
// notice's room, speaker and clip must exist. The receipt's key opens the
// notice's status without an account.
func (s *Service) Report(ctx context.Context, a Actor, in NoticeInput) (Receipt, error) {
	if err := in.validate(); err != nil {
		return Receipt{}, err
	}
	if _, err := s.cfg.Rooms.Peek(ctx, in.Room); err != nil {
		return Receipt{}, err
	}
	if in.Speaker != "" {
		if _, err := s.cfg.Accounts.User(ctx, in.Speaker); err != nil {
			return Receipt{}, err
		}
	}
	if in.Kind == KindClip {
		if s.cfg.Recordings == nil {
			return Receipt{}, fieldErr("bad_clip", "clip", "this server keeps no clips")
		}
		c, err := s.cfg.Recordings.ClipInfo(in.Clip)
		if err != nil {
			return Receipt{}, err
		}
		if c.Room != in.Room {
			return Receipt{}, fieldErr("bad_clip", "clip", "the clip is not of this room")
		}
	}
	n := Notice{ID: newID(), Kind: in.Kind, Room: in.Room, Speaker: in.Speaker, Clip: in.Clip,
		Category: in.Category, Illegal: in.Illegal, Law: in.Law, Explanation: in.Explanation,
		Name: in.Name, Email: in.Email, Notifier: a.ID, State: NoticeOpen, Created: s.now()}
	n.From, _ = offset("", in.From)
	n.To = n.From
	if in.To != nil {
		n.To = *in.To
	}
	if a.signedIn() {
		if err := s.noticesSuspended(ctx, a.ID); err != nil {
			return Receipt{}, err
		}
		var area string
		err := s.db.QueryRowContext(ctx, `SELECT area FROM trusted_flaggers WHERE user_id = ?`, a.ID).Scan(&area)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return Receipt{}, err
		}
		n.Trusted = err == nil && (area == n.Category || area == AreaAll)
	}
	key := "mjn_" + newID() + newID()
	_, err := s.db.ExecContext(ctx, `INSERT INTO notices (id, key_hash, kind, room, speaker, clip, from_ms, to_ms, category, illegal, law, explanation, name, email, notifier, trusted, state, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		n.ID, keyHash(key), n.Kind, n.Room, n.Speaker, n.Clip, int64(n.From*1000), int64(n.To*1000), n.Category, n.Illegal, n.Law, n.Explanation,
		n.Name, n.Email, n.Notifier, n.Trusted, n.State, n.Created.UnixMilli())
	if err != nil {
		return Receipt{}, err
	}
	if n.Kind != KindClip {
		s.holdEvidence(ctx, n.Room, n.From, n.To, n.Created.Add(noticeHold))
	}
	return Receipt{Notice: n, Key: key}, nil
}

const noticeCols = `id, key_hash, kind, room, speaker, clip, from_ms, to_ms, category, illegal, law, explanation, name, email, notifier, trusted, state, claimed_by, claimed_at, decision, created_at`

func scanNotice(sc interface{ Scan(...any) error }) (Notice, string, error) {
	var n Notice
	var kh string
	var from, to, claimed, created int64
	err := sc.Scan(&n.ID, &kh, &n.Kind, &n.Room, &n.Speaker, &n.Clip, &from, &to, &n.Category, &n.Illegal, &n.Law, &n.Explanation,
		&n.Name, &n.Email, &n.Notifier, &n.Trusted, &n.State, &n.ClaimedBy, &claimed, &n.Decision, &created)
	n.From, n.To = float64(from)/1000, float64(to)/1000
	n.ClaimedAt, n.Created = fromMS(claimed), fromMS(created)
	return n, kh, err
}

func (s *Service) notice(ctx context.Context, q queryer, id string) (Notice, string, error) {
	n, kh, err := scanNotice(q.QueryRowContext(ctx, `SELECT `+noticeCols+` FROM notices WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return Notice{}, "", ErrNoticeNotFound
	}
	return n, kh, err
}

type queryer interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// Status is the notifier's view of their notice: by the receipt's key, or
// signed in as the notifier (moderators may read any).
func (s *Service) Status(ctx context.Context, a Actor, id, key string) (NoticeStatus, error) {
	n, kh, err := s.notice(ctx, s.db, id)
	if err != nil {
		return NoticeStatus{}, err
	}
	keyOK := key != "" && subtle.ConstantTimeCompare([]byte(keyHash(key)), []byte(kh)) == 1
	if !keyOK && !(a.signedIn() && a.ID == n.Notifier) && !a.moderator() {
		if key == "" && !a.signedIn() {
			return NoticeStatus{}, ErrUnauthorized
		}
		return NoticeStatus{}, ErrNoticeNotFound // a wrong key says nothing of the notice
	}
	st := NoticeStatus{ID: n.ID, State: n.State, Kind: n.Kind, Room: n.Room, Category: n.Category, Received: n.Created}
	if n.Decision != "" {
		d, err := s.decision(ctx, n.Decision)
		if err != nil {
			return NoticeStatus{}, err
		}
		d = d.forNotifier()
		st.Decision = &d
	}
	return st, nil
}

// MyNotices lists the notices a signed-in user sent, newest first.
func (s *Service) MyNotices(ctx context.Context, a Actor) ([]Notice, error) {
	if !a.signedIn() {
		return nil, ErrUnauthorized
	}
	return s.notices(ctx, `WHERE notifier = ? ORDER BY created_at DESC LIMIT ?`, a.ID, queueMax)
}

func (s *Service) notices(ctx context.Context, where string, args ...any) ([]Notice, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+noticeCols+` FROM notices `+where, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []Notice{}
	for rows.Next() {
		n, _, err := scanNotice(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	return out, rows.Err()
}

// Queue lists the notices not decided yet for moderators: trusted
// flaggers' first, then by the category's severity, then the oldest.
func (s *Service) Queue(ctx context.Context, a Actor) ([]Notice, error) {
	if !a.moderator() {
		return nil, ErrForbidden
	}
	ns, err := s.notices(ctx, `WHERE state != ? ORDER BY created_at LIMIT ?`, NoticeDecided, queueMax)
	if err != nil {
		return nil, err
	}
	sortQueue(ns)
	return ns, nil
}

func sortQueue(ns []Notice) {
	sort.SliceStable(ns, func(i, j int) bool {
		a, b := ns[i], ns[j]
		if a.Trusted != b.Trusted {
			return a.Trusted
		}
		if severity[a.Category] != severity[b.Category] {
			return severity[a.Category] < severity[b.Category]
		}
		return a.Created.Before(b.Created)
	})
}

// Notice returns a notice in full (moderators).
func (s *Service) Notice(ctx context.Context, a Actor, id string) (Notice, error) {
	if !a.moderator() {
		return Notice{}, ErrForbidden
	}
	n, _, err := s.notice(ctx, s.db, id)
	return n, err
}

// Claim gives a notice to a moderator to decide. A notice claimed by
// someone else stays theirs (an admin may take it over).
func (s *Service) Claim(ctx context.Context, a Actor, id string) (Notice, error) {
	if !a.moderator() {
		return Notice{}, ErrForbidden
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	n, _, err := s.notice(ctx, s.db, id)
	if err != nil {
		return Notice{}, err
	}
	switch {
	case n.State == NoticeDecided:
		return Notice{}, ErrDecided
	case n.State == NoticeClaimed && n.ClaimedBy != a.ID && !a.admin():
		return Notice{}, ErrClaimed
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return Notice{}, err
	}
	defer tx.Rollback()
	n.State, n.ClaimedBy, n.ClaimedAt = NoticeClaimed, a.ID, s.now()
	if _, err := tx.ExecContext(ctx, `UPDATE notices SET state = ?, claimed_by = ?, claimed_at = ? WHERE id = ?`, n.State, n.ClaimedBy, ms(n.ClaimedAt), id); err != nil {
		return Notice{}, err
	}
	if err := s.record(ctx, audit.Entry{Actor: a.ID, Action: "safety.claim", Target: "notice:" + id, Room: n.Room}); err != nil {
		return Notice{}, err
	}
	return n, tx.Commit()
}
