package sqlstore

import (
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strconv"
	"strings"

	"github.com/uptrace/bun"
)

// Migrations are SQL files per dialect, named NNNN_name.sql; NNNN is the
// version. A file is applied once, in one transaction with the row that
// records it, and must never change afterwards (its checksum is verified).
//
//go:embed migrations/postgres/*.sql migrations/sqlite/*.sql
var migrationFiles embed.FS

// migrationLockKey is the Postgres advisory lock that serialises Migrate
// across processes ("usermgmt" in ASCII).
const migrationLockKey = 0x757365726d676d74

type migration struct {
	version  int
	name     string
	sql      string
	checksum string
}

func loadMigrations(dialect string) ([]migration, error) {
	dir := "migrations/" + dialect
	entries, err := fs.ReadDir(migrationFiles, dir)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: read migrations: %w", err)
	}
	var ms []migration
	for _, e := range entries {
		base, ok := strings.CutSuffix(e.Name(), ".sql")
		if !ok || e.IsDir() {
			continue
		}
		num, name, ok := strings.Cut(base, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v <= 0 {
			return nil, fmt.Errorf("sqlstore: migration file %s: want NNNN_name.sql", e.Name())
		}
		b, err := migrationFiles.ReadFile(path.Join(dir, e.Name()))
		if err != nil {
			return nil, fmt.Errorf("sqlstore: read migration %s: %w", e.Name(), err)
		}
		sum := sha256.Sum256(b)
		ms = append(ms, migration{version: v, name: name, sql: string(b), checksum: hex.EncodeToString(sum[:])})
	}
	slices.SortFunc(ms, func(a, b migration) int { return a.version - b.version })
	for i := 1; i < len(ms); i++ {
		if ms[i].version == ms[i-1].version {
			return nil, fmt.Errorf("sqlstore: two migrations have version %d", ms[i].version)
		}
	}
	return ms, nil
}

// Migrate applies every migration the database lacks. It is idempotent and
// safe when several processes call it at once: all of it runs in one
// transaction that first takes a lock (a transaction-scoped advisory lock on
// Postgres, the write lock of BEGIN IMMEDIATE on SQLite), so a second caller
// waits, then finds nothing left to do. A crash leaves no stale lock behind.
func (db *DB) Migrate(ctx context.Context) error {
	ms, err := loadMigrations(db.dialect)
	if err != nil {
		return err
	}
	var (
		applied []migration
		unknown []int
	)
	err = db.runInTx(ctx, func(ctx context.Context) error {
		tx, _ := db.tx(ctx)
		// Statements go to database/sql directly: migration SQL is not a Bun
		// template, and a '?' in it must stay a '?'.
		exec := func(q string, args ...any) error {
			_, err := tx.Tx.ExecContext(ctx, q, args...)
			return err
		}
		if db.postgres() {
			if err := exec(`SELECT pg_advisory_xact_lock(` + strconv.FormatInt(migrationLockKey, 10) + `)`); err != nil {
				return fmt.Errorf("sqlstore: take migration lock: %w", err)
			}
		}
		if err := exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
			version    integer PRIMARY KEY,
			name       text NOT NULL,
			checksum   text NOT NULL,
			applied_at text NOT NULL
		)`); err != nil {
			return fmt.Errorf("sqlstore: create schema_migrations: %w", err)
		}
		done, err := appliedMigrations(ctx, tx)
		if err != nil {
			return err
		}
		for _, m := range ms {
			if sum, ok := done[m.version]; ok {
				if sum != m.checksum {
					return fmt.Errorf("sqlstore: migration %04d_%s changed after it was applied", m.version, m.name)
				}
				continue
			}
			if err := exec(m.sql); err != nil {
				return fmt.Errorf("sqlstore: apply migration %04d_%s: %w", m.version, m.name, err)
			}
			// Bun formats the timestamp so the statement is the same on both dialects.
			if _, err := tx.NewRaw(`INSERT INTO schema_migrations (version, name, checksum, applied_at) VALUES (?, ?, ?, CURRENT_TIMESTAMP)`,
				m.version, m.name, m.checksum).Exec(ctx); err != nil {
				return fmt.Errorf("sqlstore: record migration %04d_%s: %w", m.version, m.name, err)
			}
			applied = append(applied, m)
		}
		for v := range done {
			if !slices.ContainsFunc(ms, func(m migration) bool { return m.version == v }) {
				unknown = append(unknown, v)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	if len(unknown) > 0 {
		// A newer build migrated this database (a rolling deploy): carry on,
		// as migrations are additive, but say so.
		slices.Sort(unknown)
		db.log.WarnContext(ctx, "sqlstore: database has migrations this build does not know", "dialect", db.dialect, "versions", unknown)
	}
	for _, m := range applied {
		db.log.InfoContext(ctx, "sqlstore: migration applied", "dialect", db.dialect, "version", m.version, "name", m.name)
	}
	return nil
}

type migrationRow struct {
	Version  int    `bun:"version"`
	Checksum string `bun:"checksum"`
}

func appliedMigrations(ctx context.Context, tx bun.Tx) (map[int]string, error) {
	var rows []migrationRow
	if err := tx.NewRaw(`SELECT version, checksum FROM schema_migrations`).Scan(ctx, &rows); err != nil {
		return nil, fmt.Errorf("sqlstore: read schema_migrations: %w", err)
	}
	done := make(map[int]string, len(rows))
	for _, r := range rows {
		done[r.Version] = r.Checksum
	}
	return done, nil
}
