package main

import (
	"context"
	"database/sql"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"github.com/uptrace/bun/driver/pgdriver"
)

// benchEncryptionKey is the key of the servers the bench starts on
// Postgres, which requires one (a test key: nothing it seals is kept).
const benchEncryptionKey = "USERMGMT_ENCRYPTION_KEY=AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="

// runPostgres measures refresh rotation on Postgres, in a database of its
// own that it drops afterwards. An unreachable server is a skip, not an
// error: the embedded default needs no Postgres.
func runPostgres(ctx context.Context, opt options, rep *report) error {
	admin, err := openPostgres(ctx, opt.postgres)
	if err != nil {
		fmt.Fprintf(stdout, "\nPostgres: skipped, %s is unreachable (%v)\n", redact(opt.postgres), err)
		rep.skip("refresh on Postgres", "Postgres unreachable")
		return nil
	}
	defer admin.Close()

	name := fmt.Sprintf("usermgmt_bench_%d", os.Getpid())
	dbURL, drop, err := scratchDatabase(ctx, admin, opt.postgres, name)
	if err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	defer drop()

	dir, err := os.MkdirTemp("", "usermgmt-bench-pg-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	progress("starting the server on Postgres (database " + name + ")")
	srv, err := startServer(ctx, "postgres", opt.server, filepath.Join(dir, "server.log"),
		[]string{"USERMGMT_DATABASE_URL=" + dbURL, "USERMGMT_AUTO_MIGRATE=on", "USERMGMT_DATA_DIR=" + filepath.Join(dir, "data"), benchEncryptionKey})
	if err != nil {
		return err
	}
	defer srv.stop()

	acc, err := newAccounts()
	if err != nil {
		return err
	}
	t := newTarget(srv, acc, opt.chains)
	if err := t.setup(ctx, opt.chains); err != nil {
		return err
	}
	progress("measuring refresh on Postgres")
	l := load{workers: opt.workers, dur: opt.warmDur(), want: http.StatusOK}
	if _, err := t.drive(ctx, l, t.refresh); err != nil { // warm-up: connections and the pool settle
		return err
	}
	l.dur = opt.duration
	ss, err := interleave(ctx, opt.blocks, func() (sample, error) { return t.drive(ctx, l, t.refresh) })
	if err != nil {
		return err
	}
	s := merge(ss[0])
	// Throughput: as many chains as it takes to keep the database busy while
	// each answer waits out the concurrent window.
	many := load{workers: opt.chains, dur: opt.duration, want: http.StatusOK}
	ms, err := interleave(ctx, opt.blocks, func() (sample, error) { return t.drive(ctx, many, t.refresh) })
	if err != nil {
		return err
	}
	m := merge(ms[0])
	printTable(stdout, fmt.Sprintf("Routes on Postgres (%d blocks × %s)", opt.blocks, opt.duration),
		[]row{{name: "refresh", workers: opt.workers, s: s, note: "one chain per worker"},
			{name: "refresh", workers: opt.chains, s: m, note: "throughput: one chain per worker"}})

	rate := median(perBlock(ms, func(blk []sample) float64 { return blk[0].rate() }))
	rep.atLeast("refresh rotations/s on Postgres", rate, 2000, "%.0f",
		fmt.Sprintf("%d workers, one chain each; median of %d blocks; each answer waits the 50ms concurrent window", opt.chains, opt.blocks))
	rep.below(fmt.Sprintf("p99 at %d workers: refresh (Postgres)", opt.workers), s.pct(99), 100*time.Millisecond, "all blocks pooled")
	return nil
}

// scratchDatabase creates database name beside dsn's and returns its URL
// and what drops it.
func scratchDatabase(ctx context.Context, admin *sql.DB, dsn, name string) (string, func(), error) {
	dbURL, err := withDatabase(dsn, name)
	if err != nil {
		return "", nil, err
	}
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		return "", nil, err
	}
	return dbURL, func() {
		// Not ctx: the database goes even when the run was interrupted.
		dctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := admin.ExecContext(dctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			progress("could not drop database " + name + ": " + err.Error())
		}
	}, nil
}

// openPostgres connects to the maintenance database, failing fast when
// nothing listens.
func openPostgres(ctx context.Context, dsn string) (*sql.DB, error) {
	db := sql.OpenDB(pgdriver.NewConnector(pgdriver.WithDSN(dsn), pgdriver.WithTimeout(5*time.Second)))
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := db.PingContext(pctx); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// withDatabase returns dsn pointing at database name instead.
func withDatabase(dsn, name string) (string, error) {
	u, err := url.Parse(dsn)
	if err != nil {
		return "", fmt.Errorf("-postgres: %w", err)
	}
	u.Path = "/" + name
	return u.String(), nil
}

// redact hides a password in dsn for printing.
func redact(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil {
		return "the -postgres URL"
	}
	return u.Redacted()
}
