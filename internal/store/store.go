// Package store keeps Hush's data in an embedded SQLite database.
//
// # Durability
//
// The database runs in WAL mode with synchronous=FULL, so a transaction is
// on disk when Commit returns and survives kill -9 or a power cut. Writes go
// through one connection (SQLite has one writer anyway), which avoids
// SQLITE_BUSY between writers; reads use a pool. temp_store=MEMORY keeps
// temporary tables and sort spills off the disk, and secure_delete zeroes
// freed pages. Migrations are embedded and run at Open.
//
// Every method takes a context and runs in a transaction: ReadWrite for
// changes, Read for queries. Driver errors are normalised at this boundary to
// hush error codes.
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
	"strings"
	"sync"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/hushepr/hush/internal/hush"
)

//go:embed migrations/*.sql
var migrations embed.FS

// FileName is the database file inside the data directory.
const FileName = "hush.db"

// DB is an open Hush database.
type DB struct {
	w *sql.DB // single writer connection
	r *sql.DB // reader pool

	mu    sync.Mutex
	stmts map[*sql.DB]map[string]*sql.Stmt // hot statements, prepared once per pool
}

// Tx is a transaction. Queries run through it.
type Tx struct {
	tx   *sql.Tx
	db   *DB
	pool *sql.DB
}

// hot lists the statements prepared once per pool at Open, so that the
// audit append path does not parse SQL on every event.
var hot = []string{
	qAuditSize, qInsertAuditEvent, qInsertAuditHash, qAuditHash,
}

// prepare prepares the hot statements on both pools. It runs before any
// transaction: preparing on the single writer connection while a
// transaction holds it would wait forever.
func (db *DB) prepare() error {
	for _, pool := range []*sql.DB{db.w, db.r} {
		m := map[string]*sql.Stmt{}
		for _, q := range hot {
			s, err := pool.Prepare(q)
			if err != nil {
				return err
			}
			m[q] = s
		}
		db.stmts[pool] = m
	}
	return nil
}

// stmt returns a hot statement bound to the transaction (reusing the
// connection's prepared statement), or q prepared inside the transaction.
func (t *Tx) stmt(q string) (*sql.Stmt, error) {
	t.db.mu.Lock()
	s := t.db.stmts[t.pool][q]
	t.db.mu.Unlock()
	if s == nil {
		return t.tx.Prepare(q)
	}
	return t.tx.Stmt(s), nil
}

// Open opens (creating if needed) the database in dir and migrates it.
func Open(ctx context.Context, dir string) (*DB, error) {
	return open(ctx, filepath.Join(dir, FileName), false)
}

// OpenReadOnly opens a database file (a backup, say) without changing it.
func OpenReadOnly(ctx context.Context, path string) (*DB, error) {
	if _, err := os.Stat(path); err != nil {
		return nil, err
	}
	return open(ctx, path, true)
}

func open(ctx context.Context, path string, readOnly bool) (*DB, error) {
	if !readOnly {
		if err := private(path); err != nil {
			return nil, err
		}
	}
	q := url.Values{}
	pragmas := []string{"journal_mode(WAL)", "synchronous(FULL)", "foreign_keys(1)", "busy_timeout(10000)", "temp_store(MEMORY)", "secure_delete(1)"}
	if readOnly {
		pragmas = pragmas[2:]
		q.Set("mode", "ro")
	}
	for _, p := range pragmas {
		q.Add("_pragma", p)
	}
	// Escape the characters that would end the path part of a file: URI.
	dsn := "file:" + strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(path) + "?" + q.Encode()
	w, err := sql.Open("sqlite", dsn+"&_txlock=immediate")
	if err != nil {
		return nil, err
	}
	w.SetMaxOpenConns(1)
	r, err := sql.Open("sqlite", dsn)
	if err != nil {
		w.Close()
		return nil, err
	}
	r.SetMaxOpenConns(8)
	db := &DB{w: w, r: r, stmts: map[*sql.DB]map[string]*sql.Stmt{}}
	if !readOnly {
		if err := db.migrate(ctx); err != nil {
			db.Close()
			return nil, err
		}
	}
	if err := db.prepare(); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// private makes the database file and its WAL and shared-memory files
// readable by the owner only, before SQLite opens them. SQLite creates a new
// database file 0644 less the umask, and forces the database file's mode on
// the -wal and -shm files it creates; an empty file, made here 0600, is a
// new database to SQLite. The files of an older clinic are tightened in
// place.
func private(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	err = f.Chmod(0o600)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	for _, suffix := range []string{"-wal", "-shm", "-journal"} {
		if err := os.Chmod(path+suffix, 0o600); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	return nil
}

// Close closes the database.
func (db *DB) Close() error {
	db.mu.Lock()
	for _, m := range db.stmts {
		for _, s := range m {
			s.Close()
		}
	}
	db.stmts = map[*sql.DB]map[string]*sql.Stmt{}
	db.mu.Unlock()
	return errors.Join(db.r.Close(), db.w.Close())
}

// Pragma returns the value of a pragma on the writer connection (for tests
// that assert durability settings).
func (db *DB) Pragma(ctx context.Context, name string) (string, error) {
	var v string
	err := db.w.QueryRowContext(ctx, "PRAGMA "+name).Scan(&v)
	return v, err
}

// Checkpoint copies the write-ahead log into the main file and truncates the
// log to zero bytes, so that bytes an erasure overwrote (secure_delete
// zeroes them in the pages) are left neither in an older page image in
// hush.db-wal nor behind in hush.db. It waits (busy_timeout) for readers
// still using the log, and returns EUNAVAILABLE if some still were.
func (db *DB) Checkpoint(ctx context.Context) error {
	var busy, logFrames, done int
	if err := db.w.QueryRowContext(ctx, "PRAGMA wal_checkpoint(TRUNCATE)").Scan(&busy, &logFrames, &done); err != nil {
		return normalize(err)
	}
	if busy != 0 {
		return hush.Errorf(hush.EUNAVAILABLE, "the write-ahead log is in use; checkpoint incomplete")
	}
	return nil
}

func (db *DB) migrate(ctx context.Context) error {
	return db.ReadWrite(ctx, func(tx *Tx) error {
		if _, err := tx.tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (name TEXT PRIMARY KEY, applied_at INTEGER NOT NULL) STRICT`); err != nil {
			return err
		}
		names, err := fs.Glob(migrations, "migrations/*.sql")
		if err != nil {
			return err
		}
		sort.Strings(names)
		for _, name := range names {
			var n int
			if err := tx.tx.QueryRowContext(ctx, `SELECT count(*) FROM schema_migrations WHERE name = ?`, name).Scan(&n); err != nil {
				return err
			}
			if n > 0 {
				continue
			}
			body, err := migrations.ReadFile(name)
			if err != nil {
				return err
			}
			if _, err := tx.tx.ExecContext(ctx, string(body)); err != nil {
				return fmt.Errorf("migration %s: %w", name, err)
			}
			if _, err := tx.tx.ExecContext(ctx, `INSERT INTO schema_migrations (name, applied_at) VALUES (?, strftime('%s','now'))`, name); err != nil {
				return err
			}
		}
		return nil
	})
}

// Backup writes a consistent snapshot of the database to path (which must
// not exist) with VACUUM INTO, then fsyncs it and its directory. Writers go
// on while it runs; the snapshot is the state at its start.
func (db *DB) Backup(ctx context.Context, path string) error {
	// The file is made here, 0600, before SQLite writes into it (VACUUM INTO
	// takes an empty file): a snapshot is never readable by others, not even
	// while it is being written.
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return hush.Errorf(hush.ECONFLICT, "the backup file already exists")
	}
	if err != nil {
		return err
	}
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		os.Remove(path)
		return err
	}
	if _, err := db.r.ExecContext(ctx, `VACUUM INTO ?`, path); err != nil {
		f.Close()
		os.Remove(path)
		return normalize(err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	d, err := os.Open(filepath.Dir(path))
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// ReadWrite runs fn in a write transaction and commits it if fn returns nil.
// When ReadWrite returns nil the change is durable.
func (db *DB) ReadWrite(ctx context.Context, fn func(*Tx) error) error {
	return db.run(ctx, db.w, fn)
}

// Read runs fn in a read-only transaction.
func (db *DB) Read(ctx context.Context, fn func(*Tx) error) error {
	return db.run(ctx, db.r, fn)
}

func (db *DB) run(ctx context.Context, d *sql.DB, fn func(*Tx) error) error {
	tx, err := d.BeginTx(ctx, nil)
	if err != nil {
		return normalize(err)
	}
	if err := fn(&Tx{tx: tx, db: db, pool: d}); err != nil {
		tx.Rollback()
		return normalize(err)
	}
	return normalize(tx.Commit())
}

// normalize maps driver errors to hush error codes; the driver's text stays
// as operator-only detail.
func normalize(err error) error {
	if err == nil {
		return nil
	}
	var he *hush.Error
	if errors.As(err, &he) {
		return err
	}
	if errors.Is(err, sql.ErrNoRows) {
		return hush.Wrap(hush.ENOTFOUND, "not found", err)
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() & 0xff {
		case sqlite3.SQLITE_CONSTRAINT:
			return hush.Wrap(hush.ECONFLICT, "conflicts with existing data", err)
		case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED:
			return hush.Wrap(hush.EUNAVAILABLE, "the database is busy; try again", err)
		case sqlite3.SQLITE_FULL, sqlite3.SQLITE_READONLY, sqlite3.SQLITE_IOERR:
			return hush.Wrap(hush.EINTERNAL, "storage is unavailable", err)
		}
	}
	if strings.Contains(err.Error(), "append-only") {
		return hush.Wrap(hush.ECONFLICT, "history cannot be changed", err)
	}
	return hush.Wrap(hush.EINTERNAL, "storage error", err)
}
