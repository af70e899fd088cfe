package audit

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

// ErrUnavailable wraps every failure to record: the action's caller
// answers with it (503 audit_unavailable), never with a silent loss.
var ErrUnavailable = errors.New("audit: the action could not be recorded")

// ErrClosed is Record on a closed Log (wrapped in ErrUnavailable).
var ErrClosed = errors.New("audit: log closed")

// Limits of one entry: its fields are the domains' (ids, action names,
// a moderator's stated reason), so anything longer is a bug upstream.
const (
	MaxField  = 1024     // bytes of actor, action, target or room
	MaxReason = 4096     // bytes of reason
	MaxDetail = 16 << 10 // bytes of detail's JSON
	readConns = 2        // the read pool (Query, Verify)
	fileMode  = 0o600    // audit.db and its WAL: the server's user only
	schemaV   = 1        // PRAGMA user_version of the schema below
	dsnPragma = "?_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_pragma=busy_timeout(5000)"
)

// The table is append-only: the triggers refuse an UPDATE or DELETE made
// through SQLite, and the hash chain shows one made around them.
const schema = `CREATE TABLE IF NOT EXISTS audit (
	seq INTEGER PRIMARY KEY,
	at INTEGER NOT NULL,
	actor TEXT NOT NULL,
	action TEXT NOT NULL,
	target TEXT NOT NULL,
	room TEXT NOT NULL,
	reason TEXT NOT NULL,
	detail TEXT NOT NULL,
	prev TEXT NOT NULL,
	hash TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_room ON audit(room, seq);
CREATE INDEX IF NOT EXISTS audit_actor ON audit(actor, seq);
CREATE INDEX IF NOT EXISTS audit_action ON audit(action, seq);
CREATE INDEX IF NOT EXISTS audit_target ON audit(target, seq);
CREATE TRIGGER IF NOT EXISTS audit_no_update BEFORE UPDATE ON audit
	BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS audit_no_delete BEFORE DELETE ON audit
	BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;`

// Log is the audit log in its own SQLite file. Appends are serialised by
// one lock (the chain is linear: each row links to the one before it) and
// each commits (WAL, synchronous=FULL) before Record returns. Its lock is
// a leaf: nothing else is locked under it.
type Log struct {
	mu     sync.Mutex // serialises appends; guards head and closed
	db     *sql.DB    // the one writer connection
	rd     *sql.DB    // the read pool (query_only)
	seq    uint64     // the last row's seq (0: empty)
	head   string     // the last row's hash ("" when empty)
	last   int64      // the last row's time, ms
	closed bool
	now    func() time.Time
}

// Open opens (creating if needed) the audit log at path.
func Open(path string) (*Log, error) {
	if err := privateFiles(path); err != nil {
		return nil, fmt.Errorf("open audit log: %w", err)
	}
	dsn := "file:" + path + dsnPragma
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("open audit log: %w", err)
	}
	db.SetMaxOpenConns(1)
	l := &Log{db: db, now: time.Now}
	if err := l.migrate(); err != nil {
		db.Close()
		return nil, err
	}
	if l.rd, err = sql.Open("sqlite", dsn+"&_pragma=query_only(1)"); err != nil {
		db.Close()
		return nil, fmt.Errorf("open audit log readers: %w", err)
	}
	l.rd.SetMaxOpenConns(readConns)
	if err := l.loadHead(context.Background()); err != nil {
		l.Close()
		return nil, err
	}
	return l, nil
}

func (l *Log) migrate() error {
	var v int
	if err := l.db.QueryRow(`PRAGMA user_version`).Scan(&v); err != nil {
		return fmt.Errorf("audit log: read version: %w", err)
	}
	if v > schemaV {
		return fmt.Errorf("audit log: schema version %d is newer than this build's %d", v, schemaV)
	}
	if _, err := l.db.Exec(schema + fmt.Sprintf(`; PRAGMA user_version = %d`, schemaV)); err != nil {
		return fmt.Errorf("audit log: schema: %w", err)
	}
	return nil
}

// loadHead reads the last row's seq and hash (the writer's view).
func (l *Log) loadHead(ctx context.Context) error {
	var seq sql.NullInt64
	var hash sql.NullString
	var at sql.NullInt64
	err := l.db.QueryRowContext(ctx, `SELECT seq, hash, at FROM audit ORDER BY seq DESC LIMIT 1`).Scan(&seq, &hash, &at)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		l.seq, l.head, l.last = 0, "", 0
		return nil
	case err != nil:
		return fmt.Errorf("audit log: read head: %w", err)
	}
	l.seq, l.head, l.last = uint64(seq.Int64), hash.String, at.Int64
	return nil
}

// Close closes the log; a Record after it is ErrUnavailable.
func (l *Log) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil
	}
	l.closed = true
	var err error
	if l.rd != nil {
		err = l.rd.Close()
	}
	return errors.Join(err, l.db.Close())
}

// Record appends e and returns its row once it is committed.
func (l *Log) Record(ctx context.Context, e Entry) (Row, error) {
	detail, err := encodeDetail(e.Detail)
	if err != nil {
		return Row{}, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	if err := checkEntry(e, detail); err != nil {
		return Row{}, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return Row{}, fmt.Errorf("%w: %w", ErrUnavailable, ErrClosed)
	}
	// The row's time never goes back along the chain, whatever the clock does.
	at := max(l.now().UnixMilli(), l.last)
	row := Row{Seq: l.seq + 1, At: time.UnixMilli(at).UTC(), Entry: e, Prev: l.head}
	row.Hash = chainHash(row.Prev, row.Seq, row.At.UnixMilli(), e, detail)
	// Not under ctx: a client that hangs up must not leave its action half
	// recorded, and the insert is one short local write.
	_, err = l.db.ExecContext(context.WithoutCancel(ctx), `INSERT INTO audit (seq, at, actor, action, target, room, reason, detail, prev, hash)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		int64(row.Seq), row.At.UnixMilli(), e.Actor, e.Action, e.Target, e.Room, e.Reason, detail, row.Prev, row.Hash)
	if err != nil {
		// Whether the row landed is unknown only if the commit itself
		// failed: read the head back so the chain goes on from the truth.
		if herr := l.loadHead(context.WithoutCancel(ctx)); herr != nil {
			err = errors.Join(err, herr)
		}
		return Row{}, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	l.seq, l.head, l.last = row.Seq, row.Hash, at
	return row, nil
}

func checkEntry(e Entry, detail string) error {
	if e.Actor == "" || e.Action == "" {
		return errors.New("an entry needs an actor and an action")
	}
	for _, f := range []string{e.Actor, e.Action, e.Target, e.Room} {
		if len(f) > MaxField {
			return fmt.Errorf("a field is over %d bytes", MaxField)
		}
	}
	if len(e.Reason) > MaxReason {
		return fmt.Errorf("reason is over %d bytes", MaxReason)
	}
	if len(detail) > MaxDetail {
		return fmt.Errorf("detail is over %d bytes", MaxDetail)
	}
	return nil
}

// Head is the last row's seq and hash.
func (l *Log) Head() (uint64, string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.seq, l.head
}

// privateFiles creates the file with mode 0600 if it does not exist and
// makes it and its companion files 0600 if they do (SQLite gives the WAL
// and -shm files the database file's mode).
func privateFiles(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, fileMode)
	if err != nil {
		return err
	}
	f.Close()
	for _, p := range []string{path, path + "-wal", path + "-shm", path + "-journal"} {
		if err := os.Chmod(p, fileMode); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	return nil
}
