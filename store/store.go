// Package store holds every SQL statement of linli: migrations, queries and
// transactions. It makes no business decisions; callers in flows and notify do.
//
// The SQL is kept portable where that costs nothing (ON CONFLICT, RETURNING,
// integer unix timestamps, no SQLite-only functions in queries) because a
// PostgreSQL store for several instances is planned.
package store

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

// ErrNotFound is returned when the row asked for does not exist.
var ErrNotFound = errors.New("store: not found")

// ErrConflict is returned when a conditional change did not apply because the
// row is not in the state the caller expected (e.g. a ticket already claimed).
var ErrConflict = errors.New("store: state changed")

// Config is the `store` section of the config file.
type Config struct {
	// Path is the SQLite database file; its directory is created if missing.
	Path string `yaml:"path"`
	// MessageRetentionDays bounds how long message logs are kept (0: forever).
	MessageRetentionDays int `yaml:"message_retention_days"`
}

// Store is the database. It is safe for concurrent use.
type Store struct {
	db *sql.DB
	// wmu serialises this process's write transactions: SQLite has one writer,
	// and queuing in Go is fairer and cheaper than spinning in busy_timeout.
	// busy_timeout still covers other processes (backups, a second instance).
	wmu sync.Mutex
	// lockStats times wmu (writelock.go).
	lockStats lockStats
	// ckpt is checkpoint's memory of its last round.
	ckpt  ckptState
	now   func() time.Time
	stmts stmtCache
	group groupState
	// logBuf holds message log lines for the next batch (logbuf.go).
	logBuf *logBuffer
	// stop ends checkpointLoop and logLoop; stopped says the first has ended.
	stop, stopped chan struct{}
	closeOnce     sync.Once
}

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Open opens (creating if needed) the database at path and applies every
// migration that has not run yet.
func Open(ctx context.Context, path string) (*Store, error) {
	if path == "" {
		return nil, errors.New("store: empty database path")
	}
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o750); err != nil {
			return nil, fmt.Errorf("store: create directory: %w", err)
		}
	}
	q := url.Values{}
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "foreign_keys(1)")
	q.Add("_pragma", "synchronous(NORMAL)")
	// Commits never checkpoint (a checkpoint fsyncs twice, under the write
	// lock every writer waits on); checkpointLoop does it in the background.
	q.Add("_pragma", "wal_autocheckpoint(0)")
	// A WAL that started over is cut back to this size (64 MiB), so a burst
	// does not keep its disk space for ever.
	q.Add("_pragma", "journal_size_limit(67108864)")
	// An UPDATE of many rows keeps a statement journal (the pages it
	// changed, to undo it alone should it fail) that spilled past 64 KiB
	// into a temporary file: write syscalls for every chunk of a lease or
	// an outcome. In memory it costs a few hundred KiB at most.
	q.Add("_pragma", "temp_store(MEMORY)")
	q.Set("_txlock", "immediate")
	q.Set("_time_format", "sqlite")
	db, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("store: open: %w", err)
	}
	// A bounded pool: WAL lets readers run beside the single writer.
	db.SetMaxOpenConns(8)
	db.SetMaxIdleConns(8)
	db.SetConnMaxIdleTime(5 * time.Minute)
	s := &Store{db: db, now: time.Now, logBuf: newLogBuffer(), stop: make(chan struct{}), stopped: make(chan struct{})}
	if err := s.migrate(ctx); err != nil {
		db.Close()
		return nil, err
	}
	go s.logLoop()
	go s.checkpointLoop()
	return s, nil
}

// SetClock replaces the clock used for created/updated times (tests move it).
func (s *Store) SetClock(now func() time.Time) { s.now = now }

// Now returns the store's current time, truncated to seconds as stored.
func (s *Store) Now() time.Time { return s.now() }

// Close closes the database.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		close(s.stop)
		<-s.stopped
	})
	s.closeStmts()
	return s.db.Close()
}

// checkpointInterval is how often the WAL is copied into the database.
var checkpointInterval = time.Second // a variable for tests

// walRestartFrames is the WAL size (in frames of 4 KiB) above which a
// checkpoint also makes the WAL start over (a variable for tests). While
// the writers are busy it waits up to four times as long (see checkpoint).
var walRestartFrames = 8192

// ckptState is what checkpoint remembers of its last round.
type ckptState struct {
	mu   sync.Mutex
	at   time.Time
	held time.Duration // WriteLockTime's held then
}

// checkpointLoop checkpoints the WAL in the background. PASSIVE never waits
// for readers or writers; whatever it could not copy, the next round does.
// A last checkpoint runs at Close.
func (s *Store) checkpointLoop() {
	defer close(s.stopped)
	t := time.NewTicker(checkpointInterval)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			<-s.logBuf.done // the last lines first
			s.db.Exec("PRAGMA wal_checkpoint(PASSIVE)")
			return
		case <-t.C:
			s.checkpoint(context.Background())
		}
	}
}

// checkpoint copies the WAL into the database and, when the WAL has grown
// large, makes it start over.
//
// Starting over holds every writer up while the database file is synced:
// 40-70 ms a time during a broadcast, whose outcomes fill 8192 frames about
// every second, and each such pause cost the SMS calls their slots. While
// the write lock was held for more than half of the time since the last
// round, the WAL may grow to four times walRestartFrames first; it starts
// over in the first quieter round, or at that bound.
//
// The WAL starts over only when a writer begins while no reader is using
// it. Under steady load some short read is nearly always running, so it
// never did: in a 15 s load run it grew to 500 MB, every commit extended
// the file and every read searched a bigger index. RESTART waits (briefly)
// for the readers of the old frames to finish instead; readers that start
// meanwhile read the database file and do not hold it up. Writers of this
// process wait on wmu meanwhile rather than in SQLite's busy handler.
func (s *Store) checkpoint(ctx context.Context) {
	writersBusy := s.writersBusy()
	var busy, frames, copied int
	if err := s.db.QueryRowContext(ctx, "PRAGMA wal_checkpoint(PASSIVE)").Scan(&busy, &frames, &copied); err != nil {
		return
	}
	if frames < walRestartFrames || (writersBusy && frames < 4*walRestartFrames) {
		return
	}
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return
	}
	defer conn.Close()
	// A long reader (a backup) must not hold the writers up for long:
	// give up after a moment and try again next round.
	if _, err := conn.ExecContext(ctx, "PRAGMA busy_timeout = 250"); err != nil {
		return
	}
	defer conn.ExecContext(ctx, "PRAGMA busy_timeout = 10000")
	defer s.lockWrite()()
	conn.ExecContext(ctx, "PRAGMA wal_checkpoint(RESTART)")
}

// writersBusy reports whether the write lock was held for more than half
// of the time since the last call.
func (s *Store) writersBusy() bool {
	held, _ := s.WriteLockTime()
	now := time.Now()
	s.ckpt.mu.Lock()
	defer s.ckpt.mu.Unlock()
	busy := !s.ckpt.at.IsZero() && held-s.ckpt.held > now.Sub(s.ckpt.at)/2
	s.ckpt.at, s.ckpt.held = now, held
	return busy
}

// Ping checks that the database answers a query.
func (s *Store) Ping(ctx context.Context) error {
	var one int
	return s.db.QueryRowContext(ctx, "SELECT 1").Scan(&one)
}

// DB exposes the handle for the backup command and tests that inspect
// tables. The message log's waiting lines are written first, so what it
// shows is complete.
func (s *Store) DB() *sql.DB {
	s.syncLog(context.Background())
	return s.db
}

// tx runs fn in one immediate write transaction. Under a turn's context
// (StartTurn) whose claim is not stored yet, the claim and the identity's
// touch are written first in the same transaction.
//
// The message log's waiting lines are appended first too (logbuf.go).
func (s *Store) tx(ctx context.Context, fn func(*sql.Tx) error) error {
	fn, done := withPre(ctx, fn)
	fn, doneLog := s.withLog(ctx, fn)
	err := s.txRaw(ctx, fn)
	doneLog(err)
	done(err)
	return err
}

// wrapWrite reports whether a single write statement must run inside tx
// rather than on its own: a turn's claim or waiting log lines go with it.
func (s *Store) wrapWrite(ctx context.Context) bool {
	if s.logBuf.waiting() > 0 {
		return true
	}
	d := deferredOf(ctx)
	if d == nil {
		return false
	}
	d.preMu.Lock()
	defer d.preMu.Unlock()
	return !d.preDone && len(d.pre) > 0
}

// txRaw is tx without the turn's claim.
func (s *Store) txRaw(ctx context.Context, fn func(*sql.Tx) error) error {
	defer s.lockWrite()()
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: begin: %w", err)
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store: commit: %w", err)
	}
	return nil
}

// withPre wraps fn so that it first writes the claim and touch that ctx's
// turn still holds; done must be called with the outcome of the
// transaction that ran it.
func withPre(ctx context.Context, fn func(*sql.Tx) error) (func(*sql.Tx) error, func(error)) {
	d := pendingPre(ctx)
	if d == nil {
		return fn, func(error) {}
	}
	return func(tx *sql.Tx) error {
		if err := d.runPre(ctx, tx); err != nil {
			return err
		}
		return fn(tx)
	}, d.donePre
}

// exec runs one write statement outside an explicit transaction (inside
// one when a turn's claim or the log's waiting lines must go with it).
func (s *Store) exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if s.wrapWrite(ctx) {
		var res sql.Result
		err := s.tx(ctx, func(tx *sql.Tx) error {
			var err error
			res, err = tx.ExecContext(ctx, query, args...)
			return err
		})
		return res, err
	}
	defer s.lockWrite()()
	return s.db.ExecContext(ctx, query, args...)
}

type migration struct {
	version int
	name    string
	sql     string
}

func loadMigrations() ([]migration, error) {
	entries, err := fs.ReadDir(migrationFiles, "migrations")
	if err != nil {
		return nil, err
	}
	var ms []migration
	for _, e := range entries {
		name := e.Name()
		num, _, ok := strings.Cut(name, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil {
			return nil, fmt.Errorf("store: migration %q: name must start with a number and '_'", name)
		}
		body, err := fs.ReadFile(migrationFiles, "migrations/"+name)
		if err != nil {
			return nil, err
		}
		ms = append(ms, migration{version: v, name: name, sql: string(body)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].version < ms[j].version })
	for i := 1; i < len(ms); i++ {
		if ms[i].version == ms[i-1].version {
			return nil, fmt.Errorf("store: two migrations numbered %d", ms[i].version)
		}
	}
	return ms, nil
}

// migrate applies pending migrations in order, each in its own transaction
// together with the row that records it, so a crash never half-applies one
// and re-running is a no-op.
func (s *Store) migrate(ctx context.Context) error {
	ms, err := loadMigrations()
	if err != nil {
		return err
	}
	if _, err := s.exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version INTEGER PRIMARY KEY,
		name TEXT NOT NULL,
		applied_at INTEGER NOT NULL)`); err != nil {
		return fmt.Errorf("store: migrations table: %w", err)
	}
	for _, m := range ms {
		err := s.tx(ctx, func(tx *sql.Tx) error {
			var n int
			if err := tx.QueryRowContext(ctx, "SELECT COUNT(*) FROM schema_migrations WHERE version = ?", m.version).Scan(&n); err != nil {
				return err
			}
			if n > 0 {
				return nil
			}
			if _, err := tx.ExecContext(ctx, m.sql); err != nil {
				return fmt.Errorf("store: migration %s: %w", m.name, err)
			}
			_, err := tx.ExecContext(ctx, "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
				m.version, m.name, s.now().Unix())
			return err
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// SchemaVersion returns the highest applied migration.
func (s *Store) SchemaVersion(ctx context.Context) (int, error) {
	var v sql.NullInt64
	err := s.db.QueryRowContext(ctx, "SELECT MAX(version) FROM schema_migrations").Scan(&v)
	return int(v.Int64), err
}

// unix converts a time to the stored integer form; the zero time is NULL.
func unix(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.Unix()
}

// fromUnix converts a stored integer back; NULL becomes the zero time.
func fromUnix(v sql.NullInt64) time.Time {
	if !v.Valid {
		return time.Time{}
	}
	return time.Unix(v.Int64, 0)
}

// nextCounter increments and returns a named counter inside tx.
func nextCounter(ctx context.Context, tx *sql.Tx, name string) (int64, error) {
	var v int64
	err := tx.QueryRowContext(ctx, "UPDATE counters SET value = value + 1 WHERE name = ? RETURNING value", name).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, fmt.Errorf("store: counter %q missing", name)
	}
	return v, err
}

// scanAll reads every row of a query with scan (one of the scanX functions
// written for a single row), closing rows; err is the query's own error.
func scanAll[T any](rows *sql.Rows, err error, scan func(interface{ Scan(...any) error }) (T, error)) ([]T, error) {
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}
