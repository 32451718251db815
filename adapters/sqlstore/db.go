// Package sqlstore persists the core's aggregates with Bun on PostgreSQL
// (pgdialect + pgdriver) or SQLite (sqlitedialect + sqliteshim, pure Go).
// It implements ports.Transactor, ports.Users (with ports.AccountImports
// and ports.UserEraser), ports.Credentials, ports.Sessions, ports.Outbox,
// ports.OutboxRelay, ports.SigningKeys and ports.AuditLog, and owns the
// versioned schema migrations of both dialects.
//
// Transactions travel in the context: Transactor.WithinTx puts
// the Bun transaction under a key private to this package, and every
// repository called with that context joins it. A context that carries a
// transaction of another *DB is ignored, never joined.
//
// Times are stored as timestamptz on PostgreSQL and as integer Unix
// microseconds on SQLite (see dbTime): both keep exactly the microsecond
// precision of ports.Clock, and SQLite compares them as integers.
//
// SQLite: every write and every transaction goes through one connection (a
// pool of size one opened with _txlock=immediate), so writers of this process
// queue in Go instead of failing with SQLITE_BUSY; reads outside a
// transaction use a separate read-only pool (WAL lets them run during writes).
package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect"
	"github.com/uptrace/bun/dialect/pgdialect"
	"github.com/uptrace/bun/dialect/sqlitedialect"
	"github.com/uptrace/bun/driver/pgdriver"
	"github.com/uptrace/bun/driver/sqliteshim"
	"github.com/uptrace/bun/schema"

	"github.com/usermgmt/usermgmt/core/errs"
)

// Dialect names returned by (*DB).Dialect.
const (
	DialectPostgres = "postgres"
	DialectSQLite   = "sqlite"
)

// SQLiteMemory is the SQLitePath of a private in-memory database (one
// connection; for tests and demos only).
const SQLiteMemory = ":memory:"

// sqliteBusyTimeout is how long a SQLite connection waits for a lock held by
// another process before it fails.
const sqliteBusyTimeout = 10 * time.Second

// Config says which database to open.
type Config struct {
	// URL is a postgres:// (or postgresql://) URL; empty selects SQLite.
	URL string
	// SQLitePath is the SQLite database file (created with its directory if
	// missing), or SQLiteMemory. Required when URL is empty.
	SQLitePath string
	// MaxOpenConns bounds the Postgres pool, or the SQLite read pool (SQLite
	// writes always use one connection). 0 picks a default from GOMAXPROCS.
	MaxOpenConns int
	// Logger receives migration and connection messages; nil discards them.
	Logger *slog.Logger
}

// DB is an open database: a Postgres pool, or a SQLite write connection and
// read pool. It is safe for concurrent use.
type DB struct {
	dialect string
	w       *bun.DB // writes and transactions
	r       *bun.DB // reads outside a transaction; the same as w on Postgres
	log     *slog.Logger
}

// Open connects to the database cfg names and checks that it answers. It
// does not migrate: call Migrate.
func Open(ctx context.Context, cfg Config) (*DB, error) {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cfg.MaxOpenConns < 0 {
		return nil, errors.New("sqlstore: MaxOpenConns must not be negative")
	}
	var (
		db  *DB
		err error
	)
	if cfg.URL != "" {
		db, err = openPostgres(cfg)
	} else {
		db, err = openSQLite(ctx, cfg)
	}
	if err != nil {
		return nil, err
	}
	db.log = log
	if err := db.Ping(ctx); err != nil {
		_ = db.Close()
		return nil, err
	}
	log.DebugContext(ctx, "sqlstore: database open", "dialect", db.dialect)
	return db, nil
}

func openPostgres(cfg Config) (*DB, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		// The URL may hold a password: never echo it.
		return nil, errors.New("sqlstore: URL must be a postgres:// or postgresql:// URL")
	}
	sqldb := sql.OpenDB(pgdriver.NewConnector(pgdriver.WithDSN(cfg.URL)))
	n := cfg.MaxOpenConns
	if n == 0 {
		n = max(8, 4*runtime.GOMAXPROCS(0))
	}
	sqldb.SetMaxOpenConns(n)
	sqldb.SetMaxIdleConns(n) // the default (2) would churn connections under load
	sqldb.SetConnMaxIdleTime(5 * time.Minute)
	db := bun.NewDB(sqldb, pgdialect.New())
	return &DB{dialect: DialectPostgres, w: db, r: db}, nil
}

func openSQLite(ctx context.Context, cfg Config) (*DB, error) {
	path := cfg.SQLitePath
	switch {
	case path == "":
		return nil, errors.New("sqlstore: SQLitePath is required when URL is empty")
	case strings.ContainsAny(path, "?#"):
		return nil, fmt.Errorf("sqlstore: SQLitePath %q must not contain '?' or '#'", path)
	case strings.HasPrefix(path, "file:"):
		return nil, fmt.Errorf("sqlstore: SQLitePath %q must be a file path, not a URI", path)
	}
	busy := "busy_timeout(" + strconv.FormatInt(sqliteBusyTimeout.Milliseconds(), 10) + ")"
	q := url.Values{}
	q.Add("_pragma", busy)
	q.Add("_pragma", "foreign_keys(1)")
	q.Add("_txlock", "immediate")
	if path == SQLiteMemory {
		// Every connection would see its own empty database: use exactly one.
		w, err := openSQLitePool(path, q, 1)
		if err != nil {
			return nil, err
		}
		return &DB{dialect: DialectSQLite, w: w, r: w}, nil
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("sqlstore: create directory of %s: %w", path, err)
	}
	if err := ownerOnly(path); err != nil {
		return nil, err
	}
	wq := cloneValues(q)
	wq.Add("_pragma", "journal_mode(WAL)")
	wq.Add("_pragma", "synchronous(NORMAL)")
	w, err := openSQLitePool(path, wq, 1)
	if err != nil {
		return nil, err
	}
	// Open the writer first so the file exists and is in WAL mode before any
	// reader connects.
	if err := w.PingContext(ctx); err != nil {
		_ = w.Close()
		return nil, fmt.Errorf("sqlstore: open sqlite %s: %w", path, err)
	}
	rq := cloneValues(q)
	rq.Del("_txlock")
	rq.Add("_pragma", "query_only(1)") // a write through the read pool is a bug: fail loudly
	n := cfg.MaxOpenConns
	if n == 0 {
		n = max(4, runtime.GOMAXPROCS(0))
	}
	r, err := openSQLitePool(path, rq, n)
	if err != nil {
		_ = w.Close()
		return nil, err
	}
	return &DB{dialect: DialectSQLite, w: w, r: r}, nil
}

// ownerOnly creates the database file with mode 0600 if it is missing and
// takes group and other access away from the file and its companions if an
// older release (or the umask) left them open: they hold password hashes
// and sealed secrets (SE-12). SQLite gives the WAL and shared-memory files
// it creates the mode of the database file, so creating that one first is
// enough for new files.
func ownerOnly(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600) //nolint:gosec // the operator's own database path
	if err != nil {
		return fmt.Errorf("sqlstore: create sqlite %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("sqlstore: create sqlite %s: %w", path, err)
	}
	for _, name := range []string{path, path + "-wal", path + "-shm", path + "-journal"} {
		fi, err := os.Stat(name)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return fmt.Errorf("sqlstore: stat %s: %w", name, err)
		}
		if fi.Mode().Perm()&0o077 == 0 {
			continue
		}
		if err := os.Chmod(name, fi.Mode().Perm()&0o700); err != nil {
			return fmt.Errorf("sqlstore: restrict %s to its owner: %w", name, err)
		}
	}
	return nil
}

func openSQLitePool(path string, q url.Values, n int) (*bun.DB, error) {
	sqldb, err := sql.Open(sqliteshim.ShimName, path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("sqlstore: open sqlite %s: %w", path, err)
	}
	sqldb.SetMaxOpenConns(n)
	sqldb.SetMaxIdleConns(n)
	sqldb.SetConnMaxLifetime(0)
	sqldb.SetConnMaxIdleTime(0)
	return bun.NewDB(sqldb, sqlitedialect.New()), nil
}

func cloneValues(v url.Values) url.Values {
	c := make(url.Values, len(v))
	for k, vs := range v {
		c[k] = append([]string(nil), vs...)
	}
	return c
}

// Close closes every connection.
func (db *DB) Close() error {
	err := db.w.Close()
	if db.r != db.w {
		err = errors.Join(err, db.r.Close())
	}
	if err != nil {
		return fmt.Errorf("sqlstore: close: %w", err)
	}
	return nil
}

// Ping checks that the database answers.
func (db *DB) Ping(ctx context.Context) error {
	if err := db.w.PingContext(ctx); err != nil {
		return fmt.Errorf("sqlstore: ping %s: %w", db.dialect, err)
	}
	if db.r != db.w {
		if err := db.r.PingContext(ctx); err != nil {
			return fmt.Errorf("sqlstore: ping %s read pool: %w", db.dialect, err)
		}
	}
	return nil
}

// Dialect returns DialectPostgres or DialectSQLite.
func (db *DB) Dialect() string { return db.dialect }

func (db *DB) postgres() bool { return db.dialect == DialectPostgres }

// txKey is the context key of the transaction WithinTx started.
type txKey struct{}

type txState struct {
	owner *DB
	tx    bun.Tx
}

// tx returns the transaction of db that ctx carries, if any.
func (db *DB) tx(ctx context.Context) (bun.Tx, bool) {
	if st, ok := ctx.Value(txKey{}).(*txState); ok && st.owner == db {
		return st.tx, true
	}
	return bun.Tx{}, false
}

// conn returns ctx's transaction or the write connection: use it for every
// statement that writes.
func (db *DB) conn(ctx context.Context) bun.IDB {
	if tx, ok := db.tx(ctx); ok {
		return tx
	}
	return db.w
}

// readConn returns ctx's transaction or the read pool: use it for reads.
func (db *DB) readConn(ctx context.Context) bun.IDB {
	if tx, ok := db.tx(ctx); ok {
		return tx
	}
	return db.r
}

// inTx runs fn in ctx's transaction if there is one, else in a new one
// that commits when fn returns nil. owned reports which it was.
func (db *DB) inTx(ctx context.Context, fn func(ctx context.Context, tx bun.IDB) error) (owned bool, err error) {
	if tx, ok := db.tx(ctx); ok {
		return false, fn(ctx, tx)
	}
	return true, db.runInTx(ctx, func(ctx context.Context) error {
		tx, _ := db.tx(ctx)
		return fn(ctx, tx)
	})
}

// affected reports whether the statement that gave res and err changed a
// row; a failure is wrapped as what (a format, with args), built only then.
func affected(res sql.Result, err error, what string, args ...any) (bool, error) {
	if err == nil {
		var n int64
		if n, err = res.RowsAffected(); err == nil {
			return n > 0, nil
		}
	}
	return false, fmt.Errorf("sqlstore: %s: %w", fmt.Sprintf(what, args...), err)
}

// guarded runs one statement (fn) that may fail with a constraint violation
// the caller translates into a domain error. On Postgres such an error aborts
// the whole transaction, unlike on SQLite and in memory, where the caller
// could carry on; inside a Postgres transaction guarded therefore wraps fn in
// a savepoint and rolls back to it on error, so the transaction stays usable.
func (db *DB) guarded(ctx context.Context, idb bun.IDB, fn func() error) error {
	tx, ok := idb.(bun.Tx)
	if !ok || !db.postgres() {
		return fn()
	}
	if _, err := tx.ExecContext(ctx, "SAVEPOINT sqlstore_guard"); err != nil {
		return fmt.Errorf("sqlstore: savepoint: %w", err)
	}
	if err := fn(); err != nil {
		if _, rerr := tx.ExecContext(ctx, "ROLLBACK TO SAVEPOINT sqlstore_guard"); rerr != nil {
			return errors.Join(err, fmt.Errorf("sqlstore: rollback to savepoint: %w", rerr))
		}
		return err
	}
	if _, err := tx.ExecContext(ctx, "RELEASE SAVEPOINT sqlstore_guard"); err != nil {
		return fmt.Errorf("sqlstore: release savepoint: %w", err)
	}
	return nil
}

// runInTx begins a transaction on the write connection, runs fn with a ctx
// that carries it, and commits if fn returns nil. fn's error is returned as is.
func (db *DB) runInTx(ctx context.Context, fn func(ctx context.Context) error) (err error) {
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlstore: begin: %w", err)
	}
	done := false
	defer func() {
		if !done {
			_ = tx.Rollback() // fn failed or panicked; the rollback error adds nothing
		}
	}()
	if err := fn(context.WithValue(ctx, txKey{}, &txState{owner: db, tx: tx})); err != nil {
		return contended(err)
	}
	done = true
	if err := tx.Commit(); err != nil {
		return contended(fmt.Errorf("sqlstore: commit: %w", err))
	}
	return nil
}

// errContended answers a transaction the database ended to break a
// deadlock or a serialization conflict: nothing was written, and the same
// request can succeed a moment later (503 with Retry-After, not a 500).
var errContended = errs.New(errs.Unavailable, "store.contended",
	"the change collided with a concurrent one; try again").WithRetryAfter(time.Second)

func contended(err error) error {
	if kind, _ := classify(err); kind == failRetry {
		return errContended.Wrap(err)
	}
	return err
}

// dbTime is a time column: timestamptz on Postgres, integer Unix
// microseconds on SQLite; the zero time is NULL. Values read back are UTC.
type dbTime struct{ time.Time }

var (
	_ schema.QueryAppender = dbTime{}
	_ sql.Scanner          = (*dbTime)(nil)
)

func at(t time.Time) dbTime { return dbTime{t} }

// AppendQuery writes the time as the dialect stores it.
func (t dbTime) AppendQuery(gen schema.QueryGen, b []byte) ([]byte, error) {
	if t.IsZero() {
		return dialect.AppendNull(b), nil
	}
	if gen.Dialect().Name() == dialect.SQLite {
		return strconv.AppendInt(b, t.UnixMicro(), 10), nil
	}
	return gen.Dialect().AppendTime(b, t.Time), nil
}

// Scan reads a timestamptz (time.Time) or Unix microseconds (int64).
func (t *dbTime) Scan(src any) error {
	switch v := src.(type) {
	case nil:
		t.Time = time.Time{}
	case int64:
		t.Time = time.UnixMicro(v).UTC()
	case time.Time:
		t.Time = v.UTC()
	default:
		return fmt.Errorf("sqlstore: cannot scan %T into a time", src)
	}
	return nil
}
