// Package sqlstoretest gives tests fresh, migrated sqlstore databases, so
// no test sees another's rows: a SQLite file in t.TempDir(), or a new database on the
// Postgres server at USERMGMT_TEST_POSTGRES_URL (default
// postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable), created per
// test and dropped by t.Cleanup.
//
// Postgres tests skip with a message naming the server when it is
// unreachable, fail instead when CI=true, and skip under -short.
package sqlstoretest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/uptrace/bun/driver/pgdriver"
	"github.com/uptrace/bun/driver/sqliteshim"

	"github.com/usermgmt/usermgmt/adapters/adaptertest"
	"github.com/usermgmt/usermgmt/adapters/sqlstore"
)

// EnvPostgresURL names the variable that points the tests at a Postgres
// server; the user must be allowed to CREATE DATABASE.
const EnvPostgresURL = "USERMGMT_TEST_POSTGRES_URL"

// DefaultPostgresURL is the server used when EnvPostgresURL is unset.
const DefaultPostgresURL = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

// Stores returns every sqlstore repository of db as the contract suites
// want them, the outbox encoding with adaptertest.Encoder.
func Stores(db *sqlstore.DB) adaptertest.Stores {
	ob := sqlstore.NewOutbox(db, adaptertest.Encoder())
	users := sqlstore.NewUsers(db)
	return adaptertest.Stores{
		Tx:          sqlstore.NewTransactor(db),
		Users:       users,
		Credentials: sqlstore.NewCredentials(db),
		Sessions:    sqlstore.NewSessions(db),
		Outbox:      ob,
		Relay:       ob,
		Backlog:     ob,
		Keys:        sqlstore.NewSigningKeys(db),
		Processed:   sqlstore.NewProcessedEvents(db),
		Activities:  sqlstore.NewActivities(db),
		Tokens:      sqlstore.NewOneTimeTokens(db),
		Factors:     sqlstore.NewMFAFactors(db),
		BackupCodes: sqlstore.NewBackupCodes(db),
		Challenges:  sqlstore.NewMFAChallenges(db),
		Roles:       sqlstore.NewRoles(db),
		Audit:       sqlstore.NewAuditLog(db),
		Directory:   sqlstore.NewDirectory(db),
		Imports:     users,
		Eraser:      users,
	}
}

// SQLiteSetup is an adaptertest.Setup over a fresh SQLite database.
func SQLiteSetup(t *testing.T) adaptertest.Stores { return Stores(SQLite(t)) }

// PostgresSetup is an adaptertest.Setup over a fresh Postgres database.
func PostgresSetup(t *testing.T) adaptertest.Stores { return Stores(Postgres(t)) }

// Logger returns a logger that writes warnings and errors to the test's output.
func Logger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// SQLitePath returns a database file path in a fresh temporary directory.
func SQLitePath(t testing.TB) string {
	return filepath.Join(t.TempDir(), "usermgmt.db")
}

// SQLite opens and migrates a fresh SQLite database; t.Cleanup closes it.
func SQLite(t testing.TB) *sqlstore.DB {
	t.Helper()
	return open(t, sqlstore.Config{SQLitePath: SQLitePath(t)})
}

// Postgres opens and migrates a fresh Postgres database; t.Cleanup closes
// and drops it.
func Postgres(t testing.TB) *sqlstore.DB {
	t.Helper()
	return open(t, sqlstore.Config{URL: PostgresURL(t)})
}

func open(t testing.TB, cfg sqlstore.Config) *sqlstore.DB {
	t.Helper()
	cfg.Logger = Logger(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	db, err := sqlstore.Open(ctx, cfg)
	if err != nil {
		t.Fatalf("sqlstoretest: %v", err)
	}
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Errorf("sqlstoretest: %v", err)
		}
	})
	if err := db.Migrate(ctx); err != nil {
		t.Fatalf("sqlstoretest: %v", err)
	}
	return db
}

// Raw opens a plain database/sql pool on the database cfg names, beside
// the store, for tests that reach past it (to tamper with it, or to date a
// row back); t.Cleanup closes it.
func Raw(t testing.TB, cfg sqlstore.Config) *sql.DB {
	t.Helper()
	var raw *sql.DB
	if cfg.URL != "" {
		raw = sql.OpenDB(pgdriver.NewConnector(pgdriver.WithDSN(cfg.URL)))
	} else {
		var err error
		if raw, err = sql.Open(sqliteshim.ShimName, cfg.SQLitePath+"?_pragma=busy_timeout(10000)"); err != nil {
			t.Fatalf("sqlstoretest: %v", err)
		}
	}
	t.Cleanup(func() { _ = raw.Close() })
	return raw
}

// RequirePostgres skips t (or fails it when CI=true) unless the test
// Postgres server answers; it skips under -short. Call it first in a test
// whose subtests use Postgres, so one message explains the skip.
func RequirePostgres(t testing.TB) {
	t.Helper()
	if testing.Short() {
		t.Skip("sqlstoretest: Postgres tests skipped in -short mode")
	}
	if err := reachable(); err != nil {
		msg := fmt.Sprintf("sqlstoretest: Postgres at %s (set %s) is unreachable: %v", redacted(serverURL()), EnvPostgresURL, err)
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
}

// PostgresURL creates an empty database (no migrations) on the test server
// and returns its URL; t.Cleanup drops it, closing its connections (FORCE).
// Close every pool on it in an earlier-registered cleanup, or let FORCE do it.
func PostgresURL(t testing.TB) string {
	t.Helper()
	RequirePostgres(t)
	admin, err := adminDB()
	if err != nil {
		t.Fatalf("sqlstoretest: %v", err)
	}
	b := make([]byte, 8)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	name := "usermgmt_test_" + hex.EncodeToString(b)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("sqlstoretest: create database %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := admin.ExecContext(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("sqlstoretest: drop database %s: %v", name, err)
		}
	})
	u, err := url.Parse(serverURL())
	if err != nil {
		t.Fatalf("sqlstoretest: %s: %v", EnvPostgresURL, err)
	}
	u.Path = "/" + name
	return u.String()
}

func serverURL() string {
	if s := os.Getenv(EnvPostgresURL); s != "" {
		return s
	}
	return DefaultPostgresURL
}

// redacted hides the password of a URL for messages.
func redacted(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}

// The admin pool is shared by every test of the binary: it only creates and
// drops databases. It lives until the process exits.
var (
	adminOnce sync.Once
	admin     *sql.DB
	adminErr  error
)

func adminDB() (*sql.DB, error) {
	adminOnce.Do(func() {
		u, err := url.Parse(serverURL())
		if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
			adminErr = fmt.Errorf("%s must be a postgres:// URL", EnvPostgresURL)
			return
		}
		db := sql.OpenDB(pgdriver.NewConnector(pgdriver.WithDSN(serverURL()), pgdriver.WithDialTimeout(3*time.Second)))
		db.SetMaxOpenConns(4)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := db.PingContext(ctx); err != nil {
			_ = db.Close()
			adminErr = err
			return
		}
		admin = db
	})
	return admin, adminErr
}

func reachable() error {
	_, err := adminDB()
	return err
}
