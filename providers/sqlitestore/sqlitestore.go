// Package sqlitestore is a [providers.Storage] kept in a SQLite database
// file, on modernc.org/sqlite (pure Go, no cgo).
//
// One database file holds the records of many clients without mixing them:
// [Open] returns a [DB], and [DB.Store] gives each client (a namespace of
// the application's choosing, such as a device or account id) its own
// [Store]. Every Store of a DB, and every goroutine using one, may run
// concurrently: readers run in parallel on a pool of connections, writers
// (transactions and single writes) one at a time on a dedicated connection.
//
// # Durability
//
// The database uses a write-ahead log (journal_mode=WAL) and a busy
// timeout ([Options.BusyTimeout]) for writers of other processes or other
// DBs on the same file. [Options.Synchronous] chooses what a successful
// write guarantees:
//
//   - [SyncFull] (the default, synchronous=FULL): the log is flushed to
//     stable storage (fsync) before a transaction returns. A write that
//     returned nil survives a crash of the process, of the operating system
//     and a power loss.
//   - [SyncNormal] (synchronous=NORMAL): the log is flushed only at
//     checkpoints. A write that returned nil survives a crash of the
//     process (SIGKILL, panic), but the most recent transactions may be
//     lost on an operating-system crash or power loss; the database itself
//     stays consistent (it rolls back to an earlier transaction, never to a
//     mixture). For MLS a lost transaction means a group may restart from
//     an earlier state, which can reuse a message key or nonce: use
//     SyncNormal only where that risk is accepted.
//
// In both modes every transaction is atomic: after a crash the store holds
// either all of its changes or none of them.
//
// Group commit: transactions that wait for the writer while another one
// runs (of any Store of the DB, from any goroutine) are run together, as
// one SQLite transaction with a savepoint each, and share its commit (one
// flush) and its erasing checkpoint. Each still runs alone and in turn,
// succeeds or fails on its own (a function that returns an error or
// panics rolls back to its savepoint), and returns only once the group is
// durable; an error of the database itself (a full disk, an I/O error)
// fails every transaction of its group. Many clients writing at once (the
// senders of a group, say) then pay about one flush per group instead of
// one each.
//
// # Deletion
//
// Deleted and overwritten records are erased from the file: every
// connection runs with secure_delete=ON (freed space and pages are
// overwritten with zeros) and temp_store=MEMORY. The write-ahead log still
// holds the page images written by earlier transactions; with
// [EraseOnCommit] (the default) every transaction that deleted or
// overwrote a record is followed by a checkpoint that copies the log into
// the database and truncates the log to zero bytes
// (wal_checkpoint(TRUNCATE)), so the old bytes are gone from the database
// file, its -wal and its -shm when the call returns. That checkpoint costs
// two more flushes to stable storage per transaction. [EraseOnCheckpoint]
// skips it for speed and leaves old bytes in the log until the next
// checkpoint: one that [Options.EraseDelay] schedules after an erasing
// transaction, [DB.Checkpoint], an automatic one (after about 1000 pages of
// writes) or [DB.Close].
//
// This erases at the level of the files. A journaling file system or a
// flash device may still keep old blocks of them; encryption at rest
// ([Options.Key]) with the key kept elsewhere covers those too.
//
// # Cost
//
// What the store adds to a group operation over memstore, at 10,000
// members on a shared 2-core machine (cmd/mlsbench, one run, medians;
// the process CPU time added, and after the slash the wall time spent in
// the store's calls, which includes waiting for the flushes):
//
//	                               send            receive         self-update+merge  processing+merge
//	NORMAL, EraseOnCheckpoint 1s   21 µs / 23 µs   28 µs / 25 µs   0.47 ms / 0.59 ms  0.25 ms / 0.23 ms
//	FULL, EraseOnCheckpoint 1s     0.20 / 0.28 ms  0.25 / 0.36 ms  0.68 ms / 1.1 ms   0.29 ms / 0.57 ms
//	NORMAL, EraseOnCommit          0.85 / 6.2 ms   0.88 / 2.9 ms   2.6 ms / 7.2 ms    1.3 ms / 6.3 ms
//	FULL, EraseOnCommit (default)  0.88 / 6.3 ms   0.51 / 0.90 ms  2.8 ms / 14 ms     1.5 ms / 12 ms
//
// A message writes one record of 83 bytes (its sender's ratchet), a
// self-update about 8 KiB. Most of the default's cost is the erasure, not
// the durability: a message overwrites its sender's ratchet record, so
// with EraseOnCommit every message and every Commit ends with a
// wal_checkpoint(TRUNCATE), which copies the log into the database,
// flushes the database file to stable storage (SQLite flushes at
// checkpoints under NORMAL too) and truncates the log; FULL adds the flush
// of the log at each commit. An application that accepts deleted keys
// staying in the log for a bounded time (EraseOnCheckpoint with an
// EraseDelay) pays a fraction of it. Regenerate with
//
//	go run ./cmd/mlsbench -sizes 2,100,1000,10000 \
//		-store memory,sqlite:normal:commit,sqlite:full:commit,sqlite:normal:1s,sqlite:full:1s
//
// # Encryption at rest
//
// With [Options.Key] every value is sealed (XChaCha20-Poly1305) with the
// record's address as associated data, so a copy of the file reveals no
// value and a value moved to another record fails to open (ErrCorrupt); a
// wrong key fails at Open (ErrWrongKey). See [KeySize].
//
// # Versions
//
// The file's layout is versioned; Open migrates an older file forward in
// one transaction and refuses a newer one (ErrUnsupportedVersion).
//
// # Records
//
// All records live in one table, keyed by namespace, key space, key and
// epoch; values are opaque blobs (sealed with [Options.Key] when one is
// given). Statements are prepared once per connection and take every key
// and value as a bound parameter: no SQL is built from data.
package sqlitestore

import (
	"context"
	"crypto/cipher"
	"database/sql"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mlskit/mlskit/providers"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// Synchronous is the durability setting of a [DB] (SQLite's synchronous
// pragma); see the package documentation.
type Synchronous int

const (
	// SyncFull flushes the write-ahead log on every commit: committed
	// transactions survive power loss. The default.
	SyncFull Synchronous = iota
	// SyncNormal flushes only at checkpoints: committed transactions
	// survive a process crash but possibly not a power loss.
	SyncNormal
)

func (s Synchronous) String() string {
	switch s {
	case SyncFull:
		return "FULL"
	case SyncNormal:
		return "NORMAL"
	}
	return fmt.Sprintf("Synchronous(%d)", int(s))
}

// Erasure chooses when deleted bytes leave the write-ahead log; see the
// package documentation.
type Erasure int

const (
	// EraseOnCommit checkpoints and truncates the log after every
	// transaction that deleted or overwrote a record. The default.
	EraseOnCommit Erasure = iota
	// EraseOnCheckpoint leaves deleted bytes in the log until the next
	// checkpoint: within Options.EraseDelay if set, otherwise the next
	// automatic one, DB.Checkpoint or DB.Close.
	EraseOnCheckpoint
)

// DefaultBusyTimeout is how long a writer waits for a lock held by another
// connection (another process, or another DB on the same file) when
// [Options.BusyTimeout] is zero.
const DefaultBusyTimeout = 5 * time.Second

// Options configure [Open]. The zero value is the safe default: FULL
// durability, erasure on commit, a 5 s busy timeout, no encryption.
type Options struct {
	// Synchronous is the durability setting (SyncFull by default).
	Synchronous Synchronous
	// Erasure chooses when deleted bytes leave the log (EraseOnCommit by
	// default).
	Erasure Erasure
	// EraseDelay, with EraseOnCheckpoint, bounds how long deleted bytes
	// stay in the log: a transaction that deleted or overwrote a record
	// schedules a checkpoint at most EraseDelay later (one checkpoint
	// serves every transaction of that interval). Zero schedules none.
	EraseDelay time.Duration
	// BusyTimeout bounds the wait for a lock held by another connection;
	// a write that waits longer fails with ErrBusy. Zero means
	// DefaultBusyTimeout.
	BusyTimeout time.Duration
	// ReadOnly opens the database for reading only: writes fail with
	// ErrReadOnly, and a database that needs a migration cannot be opened.
	ReadOnly bool
	// Key, when not nil, is the 32-byte key (KeySize) that seals every
	// value of a new database (encryption at rest, see below); an
	// encrypted database must be opened with the same key (ErrWrongKey
	// otherwise), and a plaintext one without a key (ErrNotEncrypted).
	// The store keeps only a key derived from it.
	Key []byte
	// Readers is the number of connections serving reads outside
	// transactions; zero means GOMAXPROCS+1.
	Readers int

	// maxPageCount, when not zero, caps the database size (tests
	// simulate a full disk with it).
	maxPageCount int
}

// Errors. Every error of this package that comes from the database matches
// (errors.Is) one of these sentinels when its cause is known, and also
// wraps the driver's error. A failed write or transaction leaves the
// database as it was before it.
var (
	// ErrBusy: the database was locked by another connection for longer
	// than the busy timeout.
	ErrBusy = errors.New("sqlitestore: database is locked")
	// ErrReadOnly: the database, its file or its directory cannot be
	// written, or the DB was opened with Options.ReadOnly.
	ErrReadOnly = errors.New("sqlitestore: database is read-only")
	// ErrFull: the disk (or the database's size limit) is full.
	ErrFull = errors.New("sqlitestore: database or disk is full")
	// ErrCorrupt: the file is not a database of this package, or it is
	// damaged.
	ErrCorrupt = errors.New("sqlitestore: database is corrupt")
	// ErrIO: an I/O error of the operating system.
	ErrIO = errors.New("sqlitestore: I/O error")
	// ErrClosed: the DB was closed.
	ErrClosed = errors.New("sqlitestore: database is closed")
	// ErrTxDone: a call on a transaction after its function returned.
	ErrTxDone = errors.New("sqlitestore: transaction already finished")
	// ErrUnsupportedVersion: the database was written by a newer version
	// of this package (its schema version is unknown).
	ErrUnsupportedVersion = errors.New("sqlitestore: unsupported schema version")
)

// Error is an error of the database: what the store was doing (Op), the
// sentinel classifying it (Kind, nil when unknown) and the underlying error.
type Error struct {
	Op   string
	Kind error
	Err  error
}

func (e *Error) Error() string {
	if e.Kind != nil {
		return fmt.Sprintf("%s: %v: %v", e.Op, e.Kind, e.Err)
	}
	return fmt.Sprintf("sqlitestore: %s: %v", e.Op, e.Err)
}

// Unwrap returns the sentinel and the underlying error, so errors.Is
// matches either.
func (e *Error) Unwrap() []error {
	if e.Kind == nil {
		return []error{e.Err}
	}
	return []error{e.Kind, e.Err}
}

// classify maps a driver error to one of the sentinels (nil when none
// applies).
func classify(err error) error {
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() & 0xff {
		case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED:
			return ErrBusy
		case sqlite3.SQLITE_READONLY:
			return ErrReadOnly
		case sqlite3.SQLITE_FULL:
			return ErrFull
		case sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB:
			return ErrCorrupt
		case sqlite3.SQLITE_IOERR, sqlite3.SQLITE_CANTOPEN:
			return ErrIO
		}
		return nil
	}
	if msg := err.Error(); errors.Is(err, sql.ErrConnDone) ||
		strings.Contains(msg, "sql: database is closed") || strings.Contains(msg, "sql: statement is closed") {
		return ErrClosed
	}
	return nil
}

// dbErr wraps a driver error of the operation op.
func dbErr(op string, err error) error {
	if err == nil {
		return nil
	}
	var e *Error
	if errors.As(err, &e) {
		return err
	}
	return &Error{Op: op, Kind: classify(err), Err: err}
}

// DB is an open database file. It is safe for concurrent use; close it
// with [DB.Close] when done.
type DB struct {
	path string
	opts Options

	// w is the writer: one connection, on which every transaction runs
	// (BEGIN IMMEDIATE). wmu serializes this process's writers before
	// they take it, so that a writer never holds a connection while
	// waiting for another (readers use r).
	w   *sql.DB
	wmu sync.Mutex
	// queue holds the transactions waiting for the writer, which the next
	// one to take wmu runs as a group (group commit, see update).
	qmu   sync.Mutex
	queue []*pendingTx
	// commits counts the SQLite transactions committed (for tests).
	// Guarded by wmu.
	commits int
	// wst are the statements prepared on w.
	wst *stmts
	// r serves reads outside transactions.
	r   *sql.DB
	rst *stmts
	// aead seals the values of an encrypted database (nil: plaintext).
	aead cipher.AEAD

	// checkpointDue is set when an erasing checkpoint could not complete
	// (a reader kept it from truncating the log); the next transaction
	// retries it. Guarded by wmu.
	checkpointDue bool
	// eraseTimer is the checkpoint scheduled by EraseDelay (nil when none
	// is pending). Guarded by wmu.
	eraseTimer *time.Timer

	closed atomic.Bool
}

// Open opens (creating it if needed) the database file at path, brings
// its schema up to date and returns it. opts may be nil for the defaults.
func Open(path string, opts *Options) (*DB, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.BusyTimeout == 0 {
		o.BusyTimeout = DefaultBusyTimeout
	}
	if o.Readers <= 0 {
		o.Readers = runtime.GOMAXPROCS(0) + 1
	}
	switch o.Synchronous {
	case SyncFull, SyncNormal:
	default:
		return nil, fmt.Errorf("sqlitestore: unknown Synchronous %d", o.Synchronous)
	}
	switch o.Erasure {
	case EraseOnCommit, EraseOnCheckpoint:
	default:
		return nil, fmt.Errorf("sqlitestore: unknown Erasure %d", o.Erasure)
	}
	db := &DB{path: path, opts: o}
	var err error
	if db.w, err = sql.Open("sqlite", db.dsn(true)); err != nil {
		return nil, dbErr("open", err)
	}
	db.w.SetMaxOpenConns(1)
	db.w.SetMaxIdleConns(1)
	db.w.SetConnMaxLifetime(0)
	db.w.SetConnMaxIdleTime(0)
	if err := db.init(); err != nil {
		db.w.Close()
		if db.r != nil {
			db.r.Close()
		}
		return nil, err
	}
	return db, nil
}

// dsn returns the data source name of a writer or reader connection. Every
// pragma is a constant of this package or a number; the path is escaped as
// a URI path.
func (db *DB) dsn(writer bool) string {
	var q []string
	if db.opts.ReadOnly {
		q = append(q, "mode=ro")
	}
	q = append(q,
		fmt.Sprintf("_pragma=busy_timeout(%d)", db.opts.BusyTimeout.Milliseconds()),
		"_pragma=secure_delete(1)",
		"_pragma=temp_store(memory)",
		"_pragma=foreign_keys(1)",
	)
	if !db.opts.ReadOnly {
		q = append(q, "_pragma=journal_size_limit(0)")
	}
	if db.opts.maxPageCount > 0 {
		q = append(q, fmt.Sprintf("_pragma=max_page_count(%d)", db.opts.maxPageCount))
	}
	if writer {
		q = append(q, "_txlock=immediate", "_pragma=synchronous("+db.opts.Synchronous.String()+")")
	} else {
		q = append(q, "_pragma=query_only(1)")
	}
	return "file:" + escapePath(db.path) + "?" + strings.Join(q, "&")
}

// escapePath escapes the characters that end or escape the path of a file:
// URI.
func escapePath(p string) string {
	var b strings.Builder
	for i := 0; i < len(p); i++ {
		switch c := p[i]; c {
		case '%', '?', '#':
			fmt.Fprintf(&b, "%%%02X", c)
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// init sets the journal mode, migrates the schema and prepares the
// statements.
func (db *DB) init() error {
	ctx := context.Background()
	if !db.opts.ReadOnly {
		var mode string
		if err := db.w.QueryRowContext(ctx, "PRAGMA journal_mode=WAL").Scan(&mode); err != nil {
			return dbErr("open", err)
		}
		if !strings.EqualFold(mode, "wal") {
			return &Error{Op: "open", Err: fmt.Errorf("journal_mode is %q, want wal", mode)}
		}
	}
	if err := db.migrate(ctx); err != nil {
		return err
	}
	if err := db.loadCipher(ctx); err != nil {
		return err
	}
	db.opts.Key = nil
	var err error
	if db.wst, err = prepare(ctx, db.w); err != nil {
		return err
	}
	if db.r, err = sql.Open("sqlite", db.dsn(false)); err != nil {
		return dbErr("open", err)
	}
	db.r.SetMaxOpenConns(db.opts.Readers)
	db.r.SetMaxIdleConns(db.opts.Readers)
	if db.rst, err = prepare(ctx, db.r); err != nil {
		return err
	}
	return nil
}

// Path returns the database file's path.
func (db *DB) Path() string { return db.path }

// Close checkpoints the log (erasing what it still holds of deleted
// records) and closes the database. Stores of db fail with ErrClosed
// afterwards.
func (db *DB) Close() error {
	db.wmu.Lock()
	defer db.wmu.Unlock()
	if db.closed.Swap(true) {
		return nil
	}
	if db.eraseTimer != nil {
		db.eraseTimer.Stop()
		db.eraseTimer = nil
	}
	var errs []error
	if db.r != nil {
		errs = append(errs, db.r.Close())
	}
	if !db.opts.ReadOnly {
		if err := db.checkpoint(context.Background()); err != nil {
			errs = append(errs, err)
		}
	}
	errs = append(errs, db.w.Close())
	if err := errors.Join(errs...); err != nil {
		return dbErr("close", err)
	}
	return nil
}

// checkpoint copies the log into the database and truncates it. The caller
// holds wmu.
func (db *DB) checkpoint(ctx context.Context) error {
	var busy, logged, done int
	if err := db.w.QueryRowContext(ctx, "PRAGMA wal_checkpoint(TRUNCATE)").Scan(&busy, &logged, &done); err != nil {
		db.checkpointDue = true
		return dbErr("checkpoint", err)
	}
	if busy != 0 {
		db.checkpointDue = true
		return &Error{Op: "checkpoint", Kind: ErrBusy, Err: errors.New("readers kept the log from being truncated")}
	}
	db.checkpointDue = false
	return nil
}

// scheduleErase arranges a checkpoint within EraseDelay. The caller holds
// wmu.
func (db *DB) scheduleErase() {
	if db.eraseTimer != nil || db.opts.EraseDelay <= 0 {
		return
	}
	db.eraseTimer = time.AfterFunc(db.opts.EraseDelay, func() {
		db.wmu.Lock()
		defer db.wmu.Unlock()
		db.eraseTimer = nil
		if !db.closed.Load() {
			_ = db.checkpoint(context.Background())
		}
	})
}

// Checkpoint copies the write-ahead log into the database and truncates it,
// erasing from the log every value deleted or overwritten so far. With
// EraseOnCommit the store does this itself after every erasing
// transaction; with EraseOnCheckpoint an application may call it when
// convenient (for example when the app goes to the background).
func (db *DB) Checkpoint() error {
	db.wmu.Lock()
	defer db.wmu.Unlock()
	if db.closed.Load() {
		return &Error{Op: "checkpoint", Kind: ErrClosed, Err: ErrClosed}
	}
	return db.checkpoint(context.Background())
}

// Check runs SQLite's integrity check (PRAGMA quick_check, which reads the
// whole file) and returns an error matching ErrCorrupt if the database is
// damaged.
func (db *DB) Check() error {
	if db.closed.Load() {
		return &Error{Op: "check", Kind: ErrClosed, Err: ErrClosed}
	}
	rows, err := db.r.QueryContext(context.Background(), "PRAGMA quick_check")
	if err != nil {
		return dbErr("check", err)
	}
	defer rows.Close()
	var problems []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return dbErr("check", err)
		}
		if s != "ok" {
			problems = append(problems, s)
		}
	}
	if err := rows.Err(); err != nil {
		return dbErr("check", err)
	}
	if len(problems) > 0 {
		return &Error{Op: "check", Kind: ErrCorrupt, Err: errors.New(strings.Join(problems, "; "))}
	}
	return nil
}

// Store returns the store of the client namespace: the records written
// through it are invisible to the stores of every other namespace of db.
// namespace may be any byte string, including empty. Stores are cheap;
// all of them share db's connections and writer.
func (db *DB) Store(namespace []byte) *Store {
	return &Store{db: db, ns: append(make([]byte, 0, len(namespace)), namespace...)}
}

// Namespaces lists, in ascending byte order, the namespaces that hold at
// least one record.
func (db *DB) Namespaces() ([][]byte, error) {
	if db.closed.Load() {
		return nil, &Error{Op: "list namespaces", Kind: ErrClosed, Err: ErrClosed}
	}
	return queryBytes(context.Background(), db.rst.namespaces, "list namespaces")
}

// DeleteNamespace erases every record of namespace (a client leaving the
// device), in one transaction.
func (db *DB) DeleteNamespace(namespace []byte) error {
	return db.update("delete namespace", func(t *tx) error {
		res, err := t.stmt(stDeleteNamespace).ExecContext(t.ctx, nonNil(namespace))
		if err != nil {
			return t.fail("delete namespace", err)
		}
		if n, _ := res.RowsAffected(); n > 0 {
			t.erased = true
		}
		return nil
	})
}

var _ providers.Storage = (*Store)(nil)
