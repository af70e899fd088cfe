package safety

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base32"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"majlis/internal/account"
	"majlis/internal/audit"
	"majlis/internal/recording"
	"majlis/internal/room"

	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

// Errors of the safety domain; httpapi maps each to a stable API code.
var (
	ErrForbidden         = errors.New("safety: not allowed")
	ErrUnauthorized      = errors.New("safety: sign in or give the notice's key")
	ErrNoticeNotFound    = errors.New("safety: no such notice")
	ErrDecisionNotFound  = errors.New("safety: no such decision")
	ErrComplaintNotFound = errors.New("safety: no such complaint")
	ErrClaimed           = errors.New("safety: notice claimed by another moderator")
	ErrDecided           = errors.New("safety: notice already decided")
	ErrWindowClosed      = errors.New("safety: the complaint window has closed")
	ErrDuplicate         = errors.New("safety: complaint already made")
	ErrNotComplainable   = errors.New("safety: this decision cannot be complained about by you")
	ErrSameDecider       = errors.New("safety: the original decider cannot decide the complaint")
	ErrComplaintDecided  = errors.New("safety: complaint already decided")
	ErrAuditUnavailable  = errors.New("safety: the action could not be recorded in the audit log")
	ErrNoticesSuspended  = errors.New("safety: this account's notices are suspended (Art. 23(2) DSA)")
)

// FieldError is a notice, decision or complaint refused for one field: Code
// is the stable API code (bad_category, bad_explanation…).
type FieldError struct {
	Code, Field, Message string
}

func (e *FieldError) Error() string { return "safety: " + e.Field + ": " + e.Message }

func fieldErr(code, field, msg string) error {
	return &FieldError{Code: code, Field: field, Message: msg}
}

// Actor is who calls: a signed-in account (ID, platform Role) or, with
// an empty ID, someone anonymous.
type Actor struct {
	ID        string
	Role      string // account.RoleAdmin, RoleModerator, RoleUser; "" anonymous
	Suspended bool
}

func (a Actor) signedIn() bool { return a.ID != "" }
func (a Actor) moderator() bool {
	return !a.Suspended && (a.Role == account.RoleModerator || a.Role == account.RoleAdmin)
}
func (a Actor) admin() bool { return !a.Suspended && a.Role == account.RoleAdmin }

// Rooms is what the safety domain asks of the room domain (*room.Service).
type Rooms interface {
	Peek(ctx context.Context, id string) (room.Info, error)
	Mute(ctx context.Context, a room.Actor, id, target string, muted bool) error
	ToAudience(ctx context.Context, a room.Actor, id, target string) error
	Invite(ctx context.Context, a room.Actor, id, target string) error
	End(ctx context.Context, a room.Actor, id string) (room.Info, error)
	Notify(id, typ string, detail any) bool
}

// Accounts is what it asks of the accounts domain (*account.Service).
type Accounts interface {
	User(ctx context.Context, id string) (account.User, error)
	SetSafetySuspended(ctx context.Context, by account.Principal, id string, suspended bool) (account.User, error)
}

// Recordings is what it asks of the recordings (*recording.Manager).
// A removed replay or clip is withheld, not deleted, until the complaint
// window on the decision has closed (and a margin for deciding a late
// complaint), so that a reversal can restore it; the recordings' retention
// job deletes it then.
type Recordings interface {
	Withhold(id, why string, until time.Time) error
	Restore(id string) error
	ClipInfo(id string) (recording.Clip, error)
	WithholdClip(id, why string, until time.Time) error
	RestoreClip(id string) error
}

// Config holds a Service's dependencies.
type Config struct {
	Path       string // the SQLite file (safety.db)
	Rooms      Rooms
	Accounts   Accounts
	Recordings Recordings // nil: no replays or clips to remove
	Evidence   Evidence   // nil: no evidence held for notices
	Audit      audit.Recorder
	Logger     *slog.Logger
	// Now is the clock (tests move it); nil: time.Now.
	Now func() time.Time
	// SweepEvery is how often ended suspensions are lifted (default 1 min).
	SweepEvery time.Duration
	// Misuse sets the Art. 23 rules (zero fields: DefaultMisuse's).
	Misuse Misuse
}

// Service is the safety domain. It is safe for concurrent use.
type Service struct {
	cfg Config
	db  *sql.DB
	log *slog.Logger

	mu sync.Mutex // serialises decisions and complaint outcomes (check, act, write)

	reportMu sync.Mutex              // one public report computed at a time
	reports  map[string]cachedReport // PublicReport's, by period
	stop     chan struct{}
	wg       sync.WaitGroup
	once     sync.Once
}

// Open opens (creating if needed) the safety database and starts the
// sweeper that lifts suspensions whose time is up.
func Open(cfg Config) (*Service, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.SweepEvery <= 0 {
		cfg.SweepEvery = time.Minute
	}
	cfg.Misuse = cfg.Misuse.withDefaults()
	db, err := openDB(cfg.Path)
	if err != nil {
		return nil, err
	}
	s := &Service{cfg: cfg, db: db, log: cfg.Logger, stop: make(chan struct{})}
	s.wg.Add(1)
	go s.sweeper()
	return s, nil
}

// Close stops the sweeper and closes the database (after the API stopped:
// every acknowledged write is already committed).
func (s *Service) Close() error {
	var err error
	s.once.Do(func() {
		close(s.stop)
		s.wg.Wait()
		err = s.db.Close()
	})
	return err
}

func (s *Service) now() time.Time { return s.cfg.Now().UTC().Truncate(time.Millisecond) }

// record writes an audit row; nil Audit records nothing.
func (s *Service) record(ctx context.Context, e audit.Entry) error {
	if s.cfg.Audit == nil {
		return nil
	}
	if _, err := s.cfg.Audit.Record(ctx, e); err != nil {
		return fmt.Errorf("%w: %v", ErrAuditUnavailable, err)
	}
	return nil
}

func newID() string {
	var b [10]byte
	rand.Read(b[:])
	return strings.ToLower(base32.StdEncoding.EncodeToString(b[:]))
}

// migrations of safety.db; the index+1 is the schema version.
var migrations = []string{
	`CREATE TABLE notices (
		id TEXT PRIMARY KEY,
		key_hash TEXT NOT NULL,
		kind TEXT NOT NULL,
		room TEXT NOT NULL,
		speaker TEXT NOT NULL,
		clip TEXT NOT NULL,
		from_ms INTEGER NOT NULL,
		to_ms INTEGER NOT NULL,
		category TEXT NOT NULL,
		illegal INTEGER NOT NULL,
		law TEXT NOT NULL,
		explanation TEXT NOT NULL,
		name TEXT NOT NULL,
		email TEXT NOT NULL,
		notifier TEXT NOT NULL,
		trusted INTEGER NOT NULL,
		state TEXT NOT NULL,
		claimed_by TEXT NOT NULL DEFAULT '',
		claimed_at INTEGER NOT NULL DEFAULT 0,
		decision TEXT NOT NULL DEFAULT '',
		created_at INTEGER NOT NULL
	);
	CREATE INDEX notices_state ON notices(state, created_at);
	CREATE INDEX notices_notifier ON notices(notifier);
	CREATE TABLE decisions (
		id TEXT PRIMARY KEY,
		puid TEXT NOT NULL UNIQUE,
		notice TEXT NOT NULL,
		action TEXT NOT NULL,
		room TEXT NOT NULL,
		user_id TEXT NOT NULL,
		clip TEXT NOT NULL,
		ends_at INTEGER NOT NULL,
		category TEXT NOT NULL,
		ground TEXT NOT NULL,
		legal_ground TEXT NOT NULL,
		terms_ground TEXT NOT NULL,
		explanation TEXT NOT NULL,
		also_illegal INTEGER NOT NULL,
		facts TEXT NOT NULL,
		territory TEXT NOT NULL,
		source TEXT NOT NULL,
		content_at INTEGER NOT NULL,
		decider TEXT NOT NULL,
		decided_at INTEGER NOT NULL,
		lifted_at INTEGER NOT NULL DEFAULT 0,
		lifted_why TEXT NOT NULL DEFAULT '',
		replaces TEXT NOT NULL DEFAULT ''
	);
	CREATE INDEX decisions_user ON decisions(user_id);
	CREATE INDEX decisions_at ON decisions(decided_at);
	CREATE TABLE complaints (
		id TEXT PRIMARY KEY,
		decision TEXT NOT NULL,
		complainant TEXT NOT NULL,
		text TEXT NOT NULL,
		created_at INTEGER NOT NULL,
		outcome TEXT NOT NULL DEFAULT '',
		outcome_text TEXT NOT NULL DEFAULT '',
		decided_by TEXT NOT NULL DEFAULT '',
		decided_at INTEGER NOT NULL DEFAULT 0,
		replacement TEXT NOT NULL DEFAULT '',
		UNIQUE (decision, complainant)
	);
	CREATE TABLE trusted_flaggers (
		user_id TEXT PRIMARY KEY,
		area TEXT NOT NULL,
		since INTEGER NOT NULL,
		by TEXT NOT NULL
	);`,
	// 2: Art. 23 misuse: decisions on manifestly illegal content and on
	// manifestly unfounded notices, the rule's own (automated) decisions,
	// and notifiers warned or whose notices are suspended.
	`ALTER TABLE decisions ADD COLUMN manifest INTEGER NOT NULL DEFAULT 0;
	ALTER TABLE decisions ADD COLUMN automated INTEGER NOT NULL DEFAULT 0;
	CREATE TABLE notifier_misuse (
		user_id TEXT PRIMARY KEY,
		warned_at INTEGER NOT NULL DEFAULT 0,
		suspended_until INTEGER NOT NULL DEFAULT 0
	);`,
	// 3: statements the Transparency Database has (the submitter's progress).
	`CREATE TABLE submitted (
		puid TEXT PRIMARY KEY,
		at INTEGER NOT NULL
	);`,
}

// openDB opens path as store.Open does: private files, WAL,
// synchronous=FULL, one writer connection.
func openDB(path string) (*sql.DB, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open safety db: %w", err)
	}
	f.Close()
	for _, p := range []string{path, path + "-wal", path + "-shm", path + "-journal"} {
		if err := os.Chmod(p, 0o600); err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("open safety db: %w", err)
		}
	}
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_pragma=busy_timeout(5000)")
	if err != nil {
		return nil, fmt.Errorf("open safety db: %w", err)
	}
	db.SetMaxOpenConns(1)
	var v int
	if err := db.QueryRow(`PRAGMA user_version`).Scan(&v); err != nil {
		db.Close()
		return nil, fmt.Errorf("safety db: read version: %w", err)
	}
	for i := v; i < len(migrations); i++ {
		if _, err := db.Exec(`BEGIN; ` + migrations[i] + fmt.Sprintf(`; PRAGMA user_version = %d; COMMIT;`, i+1)); err != nil {
			db.Exec(`ROLLBACK`)
			db.Close()
			return nil, fmt.Errorf("safety db: migrate to %d: %w", i+1, err)
		}
	}
	return db, nil
}

func ms(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

func fromMS(v int64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return time.UnixMilli(v).UTC()
}

// sweeper lifts suspensions whose end has come, every SweepEvery.
func (s *Service) sweeper() {
	defer s.wg.Done()
	t := time.NewTicker(s.cfg.SweepEvery)
	defer t.Stop()
	s.LiftExpired(context.Background())
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			s.LiftExpired(context.Background())
		}
	}
}
