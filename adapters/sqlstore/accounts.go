package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/uptrace/bun"

	"github.com/usermgmt/usermgmt/core/user"
	"github.com/usermgmt/usermgmt/ports"
)

var (
	_ ports.AccountImports = (*Users)(nil)
	_ ports.UserEraser     = (*Users)(nil)
)

// Matching reads the users with one of the ids, emails or usernames in one
// query: a branch per key, each an index scan of its unique index. (One
// WHERE of three IN lists joined by OR is planned as a sequential scan on
// Postgres once the lists are long, as an import batch's are.) A user
// found by several keys comes back once.
func (r *Users) Matching(ctx context.Context, ids []user.ID, emails, usernames []string) ([]user.User, error) {
	lower := func(ss []string) []string {
		out := make([]string, len(ss))
		for i, s := range ss {
			out[i] = strings.ToLower(strings.TrimSpace(s))
		}
		return out
	}
	keys := []struct {
		expr string
		vals any
		n    int
	}{{"u.id", ids, len(ids)}, {"lower(u.email)", lower(emails), len(emails)}, {"lower(u.username)", lower(usernames), len(usernames)}}
	var rows []userRow
	read := func(ctx context.Context, idb bun.IDB) error {
		var q *bun.SelectQuery
		for _, k := range keys {
			if k.n == 0 {
				continue
			}
			b := idb.NewSelect().Model((*userRow)(nil)).Where(k.expr+" IN (?)", bun.List(k.vals))
			if q == nil {
				q = b
			} else {
				q = q.UnionAll(b)
			}
		}
		if q == nil {
			return nil
		}
		return q.Scan(ctx, &rows)
	}
	var err error
	if _, joined := r.db.tx(ctx); joined || !r.db.postgres() {
		err = read(ctx, r.db.readConn(ctx))
	} else {
		// Postgres would run the branches in parallel workers, which take
		// ten times longer to start than the index scans take to run.
		_, err = r.db.inTx(ctx, func(ctx context.Context, tx bun.IDB) error {
			if _, err := tx.ExecContext(ctx, "SET LOCAL max_parallel_workers_per_gather = 0"); err != nil {
				return err
			}
			return read(ctx, tx)
		})
	}
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("sqlstore: select matching users: %w", err)
	}
	seen := make(map[string]bool, len(rows))
	unique := rows[:0]
	for _, row := range rows {
		if !seen[row.ID] {
			seen[row.ID] = true
			unique = append(unique, row)
		}
	}
	return usersOf(unique)
}

// CreateAccounts inserts the users in one statement and their password
// hashes in another; the unique indexes decide conflicts.
func (r *Users) CreateAccounts(ctx context.Context, accounts []ports.ImportedAccount) error {
	if len(accounts) == 0 {
		return nil
	}
	users := make([]userRow, len(accounts))
	creds := make([]credentialRow, len(accounts))
	for i, a := range accounts {
		row, err := toUserRow(a.User)
		if err != nil {
			return err
		}
		users[i] = row
		creds[i] = toCredentialRow(a.User.ID(), a.PasswordHash, a.User.UpdatedAt())
	}
	_, err := r.db.inTx(ctx, func(ctx context.Context, tx bun.IDB) error {
		if _, err := tx.NewInsert().Model(&users).Exec(ctx); err != nil {
			if taken := takenError(err); taken != nil {
				return taken
			}
			return fmt.Errorf("sqlstore: insert %d users: %w", len(users), err)
		}
		if _, err := tx.NewInsert().Model(&creds).Exec(ctx); err != nil {
			return fmt.Errorf("sqlstore: insert %d password hashes: %w", len(creds), err)
		}
		return nil
	})
	return err
}

// eraseSQL deletes a batch of users due for erasure and returns them; the
// foreign keys cascade to everything that is theirs. On Postgres the
// batch is taken FOR UPDATE SKIP LOCKED, so hosts erasing at once take
// different users; SQLite's single writer serialises them anyway.
const eraseSQL = `DELETE FROM users WHERE id IN (
	SELECT id FROM users WHERE status = 'deleted' AND deleted_at < ?
	ORDER BY deleted_at, id LIMIT ?%s)
RETURNING ` + userColumns

// EraseDeleted removes up to limit users deleted before before.
func (r *Users) EraseDeleted(ctx context.Context, before time.Time, limit int) ([]user.User, error) {
	if limit <= 0 {
		return nil, nil
	}
	lock := ""
	if r.db.postgres() {
		lock = " FOR UPDATE SKIP LOCKED"
	}
	var rows []userRow
	if err := r.db.conn(ctx).NewRaw(fmt.Sprintf(eraseSQL, lock), at(before), limit).Scan(ctx, &rows); err != nil && !errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("sqlstore: erase deleted users: %w", err)
	}
	return usersOf(rows)
}

func usersOf(rows []userRow) ([]user.User, error) {
	out := make([]user.User, len(rows))
	for i, row := range rows {
		u, err := fromUserRow(row)
		if err != nil {
			return nil, err
		}
		out[i] = u
	}
	return out, nil
}
