// Package store persists majlis state in an embedded SQLite database
// (modernc.org/sqlite, pure Go). The database runs in WAL mode with
// synchronous=FULL, so a write acknowledged to a client survives a crash.
// Schema changes are numbered migrations applied at Open.
package store

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base32"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

// ErrNotFound is returned when a row does not exist.
var ErrNotFound = errors.New("not found")

// Room states.
const (
	StateScheduled = "scheduled"
	StateLive      = "live"
	StateEnded     = "ended"
)

// migrations are applied in order; the index+1 is the schema version.
var migrations = []string{
	`CREATE TABLE users (
		id TEXT PRIMARY KEY,
		name TEXT NOT NULL UNIQUE,
		role TEXT NOT NULL,
		created_at INTEGER NOT NULL
	);
	CREATE TABLE tokens (
		hash TEXT PRIMARY KEY,
		user_id TEXT NOT NULL REFERENCES users(id),
		created_at INTEGER NOT NULL
	);
	CREATE TABLE rooms (
		id TEXT PRIMARY KEY,
		title TEXT NOT NULL,
		host TEXT NOT NULL,
		state TEXT NOT NULL,
		created_at INTEGER NOT NULL,
		started_at INTEGER NOT NULL DEFAULT 0,
		ended_at INTEGER NOT NULL DEFAULT 0
	);`,
	// 2: accounts (passwords, suspension, named tokens, web sessions) and room life
	// (schedule, pin, counts, per-room roles, requests and blocks).
	`ALTER TABLE users ADD COLUMN password_hash TEXT NOT NULL DEFAULT '';
	ALTER TABLE users ADD COLUMN suspended INTEGER NOT NULL DEFAULT 0;
	ALTER TABLE tokens ADD COLUMN id TEXT NOT NULL DEFAULT '';
	ALTER TABLE tokens ADD COLUMN name TEXT NOT NULL DEFAULT '';
	UPDATE tokens SET id = substr(hash, 1, 16);
	CREATE INDEX tokens_user ON tokens(user_id);
	CREATE TABLE sessions (
		hash TEXT PRIMARY KEY,
		user_id TEXT NOT NULL REFERENCES users(id),
		created_at INTEGER NOT NULL,
		expires_at INTEGER NOT NULL
	);
	ALTER TABLE rooms ADD COLUMN description TEXT NOT NULL DEFAULT '';
	ALTER TABLE rooms ADD COLUMN scheduled_at INTEGER NOT NULL DEFAULT 0;
	ALTER TABLE rooms ADD COLUMN pin TEXT NOT NULL DEFAULT '';
	ALTER TABLE rooms ADD COLUMN peak_listeners INTEGER NOT NULL DEFAULT 0;
	ALTER TABLE rooms ADD COLUMN unique_listeners INTEGER NOT NULL DEFAULT 0;
	CREATE TABLE room_members (
		room_id TEXT NOT NULL REFERENCES rooms(id),
		user_id TEXT NOT NULL,
		role TEXT NOT NULL,
		forced_mute INTEGER NOT NULL DEFAULT 0,
		self_mute INTEGER NOT NULL DEFAULT 0,
		since INTEGER NOT NULL,
		PRIMARY KEY (room_id, user_id)
	);`,
	// 3: user names are unique by their folded form (account.NameKey). Every
	// name stored so far is ASCII, for which the key is lower(name). Of
	// names that already differ only in case, the first stored keeps the
	// key; the others keep a NULL key (NULLs do not collide), still log in
	// by their exact name (UserByNameKey), and block no one but the key's holder.
	`ALTER TABLE users ADD COLUMN name_key TEXT;
	UPDATE users SET name_key = lower(name) WHERE rowid IN (SELECT min(rowid) FROM users GROUP BY lower(name));
	CREATE UNIQUE INDEX users_name_key ON users(name_key);`,
	// 4: room lists (the audience's GET /rooms?state=) read the newest rooms
	// of a state from an index instead of scanning every room.
	`CREATE INDEX rooms_state ON rooms(state, created_at);`,
}

// Store is the embedded database.
type Store struct {
	db   *sql.DB // the one writer connection
	rd   *sql.DB // the read pool (query_only)
	aud  *sql.DB // the audience plane's read pool (query_only)
	view bool    // an Audience view: Close closes nothing
}

// Open opens (creating if needed) the database at path and migrates it.
func Open(path string) (*Store, error) {
	// The database and its WAL and shared-memory files are readable by the
	// server's user only, whatever the umask and however old the files:
	// SQLite creates the WAL and -shm files with the database file's mode.
	if err := privateFiles(path); err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	dsn := "file:" + path + "?_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_pragma=busy_timeout(5000)&_pragma=foreign_keys(1)"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	// SQLite serialises writers; one connection avoids SQLITE_BUSY between our own goroutines.
	db.SetMaxOpenConns(1)
	s := &Store{db: db}
	if err := s.migrate(); err != nil {
		db.Close()
		return nil, err
	}
	// Reads have a pool of their own (WAL readers never wait for the
	// writer): a flood of audience reads (room lists, token lookups) does
	// not queue in front of a stage member's write, nor a write in front of
	// them. Every write commits before it returns, so a read that follows
	// it sees it.
	rd, err := sql.Open("sqlite", dsn+"&_pragma=query_only(1)")
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("open store readers: %w", err)
	}
	rd.SetMaxOpenConns(readConns)
	s.rd = rd
	// The audience plane reads through a pool of its own, so a flood of
	// anonymous room lists and lookups never holds the connections a
	// stage call reads through (Audience).
	aud, err := sql.Open("sqlite", dsn+"&_pragma=query_only(1)")
	if err != nil {
		rd.Close()
		db.Close()
		return nil, fmt.Errorf("open store readers: %w", err)
	}
	aud.SetMaxOpenConns(readConns)
	s.aud = aud
	return s, nil
}

// Audience is the store as the audience plane reads it: the same database
// and writer, with reads through the audience's own pool. It shares s's
// lifetime; its Close does nothing.
func (s *Store) Audience() *Store { return &Store{db: s.db, rd: s.aud, aud: s.aud, view: true} }

// Close closes the database.
func (s *Store) Close() error {
	if s.view {
		return nil
	}
	return errors.Join(s.aud.Close(), s.rd.Close(), s.db.Close())
}

// readConns is the size of the read pool.
const readConns = 4

// privateFiles creates the database file with mode 0600 if it does not
// exist and makes it and its companion files 0600 if they do.
func privateFiles(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	f.Close()
	for _, p := range []string{path, path + "-wal", path + "-shm", path + "-journal"} {
		if err := os.Chmod(p, 0o600); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	return nil
}

func (s *Store) migrate() error {
	var v int
	if err := s.db.QueryRow(`PRAGMA user_version`).Scan(&v); err != nil {
		return fmt.Errorf("migrate: read version: %w", err)
	}
	for i := v; i < len(migrations); i++ {
		tx, err := s.db.Begin()
		if err != nil {
			return fmt.Errorf("migrate: %w", err)
		}
		if _, err := tx.Exec(migrations[i]); err != nil {
			tx.Rollback()
			return fmt.Errorf("migrate to %d: %w", i+1, err)
		}
		if _, err := tx.Exec(fmt.Sprintf(`PRAGMA user_version = %d`, i+1)); err != nil {
			tx.Rollback()
			return fmt.Errorf("migrate to %d: %w", i+1, err)
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("migrate to %d: %w", i+1, err)
		}
	}
	return nil
}

// NewID returns a random 16-character lowercase id (80 bits).
func NewID() string {
	var b [10]byte
	rand.Read(b[:])
	return strings.ToLower(base32.StdEncoding.EncodeToString(b[:]))
}

// Room is a stored room.
type Room struct {
	ID        string
	Title     string
	Host      string // user id
	State     string
	CreatedAt time.Time
	StartedAt time.Time // zero until started
	EndedAt   time.Time // zero until ended

	Description     string
	ScheduledAt     time.Time // zero when not scheduled for a time
	Pin             string    // pinned link, "" for none
	PeakListeners   int64
	UniqueListeners int64
}

func unixOrZero(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

func timeOrZero(ms int64) time.Time {
	if ms == 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms).UTC()
}

// CreateRoom stores a new room and returns it.
func (s *Store) CreateRoom(ctx context.Context, title, host string) (Room, error) {
	return s.NewRoom(ctx, Room{Title: title, Host: host})
}

// NewRoom stores a new scheduled room from r's title, host, description and
// scheduled time, and returns it with its id and creation time.
func (s *Store) NewRoom(ctx context.Context, r Room) (Room, error) {
	r.ID, r.State, r.CreatedAt = NewID(), StateScheduled, time.Now().UTC().Truncate(time.Millisecond)
	_, err := s.db.ExecContext(ctx, `INSERT INTO rooms (id, title, host, state, created_at, description, scheduled_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		r.ID, r.Title, r.Host, r.State, r.CreatedAt.UnixMilli(), r.Description, unixOrZero(r.ScheduledAt))
	if err != nil {
		return Room{}, fmt.Errorf("create room: %w", err)
	}
	return r, nil
}

const roomCols = `id, title, host, state, created_at, started_at, ended_at, description, scheduled_at, pin, peak_listeners, unique_listeners`

func scanRoom(sc interface{ Scan(...any) error }) (Room, error) {
	var r Room
	var c, st, en, sch int64
	if err := sc.Scan(&r.ID, &r.Title, &r.Host, &r.State, &c, &st, &en, &r.Description, &sch, &r.Pin, &r.PeakListeners, &r.UniqueListeners); err != nil {
		return Room{}, err
	}
	r.CreatedAt, r.StartedAt, r.EndedAt, r.ScheduledAt = timeOrZero(c), timeOrZero(st), timeOrZero(en), timeOrZero(sch)
	return r, nil
}

// Room returns the room with id.
func (s *Store) Room(ctx context.Context, id string) (Room, error) {
	r, err := scanRoom(s.rd.QueryRowContext(ctx, `SELECT `+roomCols+` FROM rooms WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return Room{}, ErrNotFound
	}
	if err != nil {
		return Room{}, fmt.Errorf("room %s: %w", id, err)
	}
	return r, nil
}

// OpenRoomsOf counts the rooms a user hosts that have not ended.
func (s *Store) OpenRoomsOf(ctx context.Context, host string) (int, error) {
	var n int
	err := s.rd.QueryRowContext(ctx, `SELECT count(*) FROM rooms WHERE host = ? AND state != ?`, host, StateEnded).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("open rooms of %s: %w", host, err)
	}
	return n, nil
}

// NewestInState lists the newest limit rooms in a state, oldest first.
func (s *Store) NewestInState(ctx context.Context, state string, limit int) ([]Room, error) {
	return s.rooms(ctx, `SELECT * FROM (SELECT `+roomCols+` FROM rooms WHERE state = ? ORDER BY created_at DESC, id DESC LIMIT ?) ORDER BY created_at, id`, state, limit)
}

// RoomsInState lists rooms in a state, oldest first.
func (s *Store) RoomsInState(ctx context.Context, state string) ([]Room, error) {
	return s.rooms(ctx, `SELECT `+roomCols+` FROM rooms WHERE state = ? ORDER BY created_at`, state)
}

// rooms runs a query of the rooms table (state its first argument).
func (s *Store) rooms(ctx context.Context, query string, state string, args ...any) ([]Room, error) {
	rows, err := s.rd.QueryContext(ctx, query, append([]any{state}, args...)...)
	if err != nil {
		return nil, fmt.Errorf("rooms in %s: %w", state, err)
	}
	defer rows.Close()
	var out []Room
	for rows.Next() {
		r, err := scanRoom(rows)
		if err != nil {
			return nil, fmt.Errorf("rooms in %s: %w", state, err)
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// SetRoomState moves a room to state, stamping started_at or ended_at.
func (s *Store) SetRoomState(ctx context.Context, id, state string, at time.Time) error {
	col := "started_at"
	if state == StateEnded {
		col = "ended_at"
	}
	res, err := s.db.ExecContext(ctx, `UPDATE rooms SET state = ?, `+col+` = ? WHERE id = ?`, state, unixOrZero(at), id)
	if err != nil {
		return fmt.Errorf("set room %s %s: %w", id, state, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	return nil
}

// User is an account.
type User struct {
	ID        string
	Name      string
	Role      string // admin, moderator, user
	CreatedAt time.Time
	Suspended bool
	// PasswordHash is the encoded slow hash of the password, "" when the user has none.
	PasswordHash string
}

// CreateUser stores a user and returns a fresh API token for it (only its hash is stored).
func (s *Store) CreateUser(ctx context.Context, name, role string) (User, string, error) {
	return s.CreateAccount(ctx, name, role, "", true)
}

// CreateAccount stores a user with an (already hashed) password, "" for none,
// and, when withToken, a first API token, which it returns. Its name key is
// the lower-cased name (account.NameKey for an ASCII name).
func (s *Store) CreateAccount(ctx context.Context, name, role, passwordHash string, withToken bool) (User, string, error) {
	return s.CreateAccountWithKey(ctx, name, strings.ToLower(name), role, passwordHash, withToken)
}

// CreateAccountWithKey is CreateAccount with the name's folded form, which
// must be unique: a name whose key is taken is ErrExists.
func (s *Store) CreateAccountWithKey(ctx context.Context, name, nameKey, role, passwordHash string, withToken bool) (User, string, error) {
	u := User{ID: NewID(), Name: name, Role: role, CreatedAt: time.Now().UTC().Truncate(time.Millisecond), PasswordHash: passwordHash}
	tok := "mjt_" + NewID() + NewID()
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return User{}, "", fmt.Errorf("create user: %w", err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `INSERT INTO users (id, name, name_key, role, created_at, password_hash) VALUES (?, ?, ?, ?, ?, ?)`, u.ID, u.Name, nameKey, u.Role, u.CreatedAt.UnixMilli(), u.PasswordHash); err != nil {
		if strings.Contains(err.Error(), "UNIQUE") {
			return User{}, "", ErrExists
		}
		return User{}, "", fmt.Errorf("create user: %w", err)
	}
	if withToken {
		if _, err := tx.ExecContext(ctx, `INSERT INTO tokens (hash, user_id, created_at, id, name) VALUES (?, ?, ?, ?, ?)`, TokenHash(tok), u.ID, u.CreatedAt.UnixMilli(), NewID(), "default"); err != nil {
			return User{}, "", fmt.Errorf("create user token: %w", err)
		}
	} else {
		tok = ""
	}
	if err := tx.Commit(); err != nil {
		return User{}, "", fmt.Errorf("create user: %w", err)
	}
	return u, tok, nil
}

// ErrExists is returned when a unique name is taken.
var ErrExists = errors.New("already exists")

// TokenHash is how API tokens are stored: tokens are random, so a plain SHA-256 suffices.
func TokenHash(tok string) string {
	h := sha256.Sum256([]byte(tok))
	return hex.EncodeToString(h[:])
}

// UserByToken resolves an API token.
func (s *Store) UserByToken(ctx context.Context, tok string) (User, error) {
	return s.userWhere(ctx, `FROM tokens t JOIN users u ON u.id = t.user_id WHERE t.hash = ?`, TokenHash(tok))
}
