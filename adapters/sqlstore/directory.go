package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/uptrace/bun"

	"github.com/usermgmt/usermgmt/core/user"
	"github.com/usermgmt/usermgmt/ports"
)

// Directory is the ports.UserDirectory of a database. Its queries mean
// what user.Query.Matches and user.Less say (the contract suite checks
// them against those), and each filter and order has an index on Postgres
// (migration 0012).
type Directory struct{ db *DB }

var _ ports.UserDirectory = (*Directory)(nil)

// NewDirectory returns the user directory of db.
func NewDirectory(db *DB) *Directory { return &Directory{db: db} }

// listedRow is a user row with the last sign-in, which userRow leaves out
// so that Users never reads or writes it (the sessions trigger owns it).
type listedRow struct {
	userRow     `bun:",extend"`
	LastLoginAt dbTime `bun:"last_login_at"`
}

func fromListedRow(r listedRow) (user.Listed, error) {
	u, err := fromUserRow(r.userRow)
	if err != nil {
		return user.Listed{}, err
	}
	return user.Listed{User: u, LastLoginAt: r.LastLoginAt.Time}, nil
}

// dirSQL holds the fragments of directory SQL that differ by dialect. They
// are constants: values always travel as Bun arguments.
type dirSQL struct {
	// id and email are the order columns in byte order, as user.Less
	// compares strings (SQLite's default collation is already binary).
	id, email string
	// lastLogin is the last-login order: a user who never signed in sorts
	// as the smallest time, the zero time of user.Key.
	lastLogin string
	// lastLoginKey turns a key's time (a dbTime: NULL when zero) into a
	// value comparable with lastLogin.
	lastLoginKey string
	// text matches search_text against an escaped LIKE pattern.
	text string
	// role matches a role: the argument is a JSON array on Postgres (a
	// containment its GIN index answers), the bare name on SQLite.
	role string
}

func (db *DB) dirSQL() dirSQL {
	if db.postgres() {
		return dirSQL{
			id:           `u.id COLLATE "C"`,
			email:        `u.email COLLATE "C"`,
			lastLogin:    `coalesce(u.last_login_at, '-infinity'::timestamptz)`,
			lastLoginKey: `coalesce(?::timestamptz, '-infinity'::timestamptz)`,
			// Backslash is LIKE's escape by default on Postgres (SQLite
			// has none: it needs the ESCAPE clause).
			text: `u.search_text LIKE ?`,
			role: `u.roles @> ?::jsonb`,
		}
	}
	const never = "-62135596800000000" // time.Time{}.UnixMicro()
	return dirSQL{
		id:           `u.id`,
		email:        `u.email`,
		lastLogin:    `coalesce(u.last_login_at, ` + never + `)`,
		lastLoginKey: `coalesce(?, ` + never + `)`,
		text:         `u.search_text LIKE ? ESCAPE '\'`,
		role:         `EXISTS (SELECT 1 FROM json_each(u.roles) WHERE json_each.value = ?)`,
	}
}

// escapeLike makes user text literal inside a LIKE pattern.
func escapeLike(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}

// Search returns the page of users q selects: one indexed query, LIMIT
// q.Limit+1 telling whether more follow.
func (d *Directory) Search(ctx context.Context, q user.Query) ([]user.Listed, bool, error) {
	// The port takes a normalised query; normalising again is idempotent
	// and guarantees the bounded page and the control-free text that
	// search_text relies on.
	q, err := q.Normalize()
	if err != nil {
		return nil, false, err
	}
	sq, err := d.selectQuery(ctx, q)
	if err != nil {
		return nil, false, err
	}
	var rows []listedRow
	if err := sq.Scan(ctx, &rows); err != nil {
		return nil, false, fmt.Errorf("sqlstore: search users: %w", err)
	}
	more := len(rows) > q.Limit
	if more {
		rows = rows[:q.Limit]
	}
	out := make([]user.Listed, len(rows))
	for i, r := range rows {
		if out[i], err = fromListedRow(r); err != nil {
			return nil, false, err
		}
	}
	return out, more, nil
}

// selectQuery builds the statement of q (normalised).
func (d *Directory) selectQuery(ctx context.Context, q user.Query) (*bun.SelectQuery, error) {
	f := d.db.dirSQL()
	sq := d.db.readConn(ctx).NewSelect().Model((*listedRow)(nil)).ExcludeColumn("search_text")
	if q.Text != "" {
		sq = sq.Where(f.text, "%"+escapeLike(q.Text)+"%")
	}
	if q.Status.IsZero() {
		sq = sq.Where("u.status <> ?", user.StatusDeleted.String())
	} else {
		sq = sq.Where("u.status = ?", q.Status.String())
	}
	if q.Role != "" {
		var arg any = q.Role
		if d.db.postgres() {
			b, err := json.Marshal([]string{q.Role})
			if err != nil {
				return nil, fmt.Errorf("sqlstore: encode role filter: %w", err)
			}
			arg = string(b)
		}
		sq = sq.Where(f.role, arg)
	}
	if q.MFAEnabled != nil {
		sq = sq.Where("u.mfa_enabled = ?", *q.MFAEnabled)
	}
	if q.EmailVerified != nil {
		sq = sq.Where("u.email_verified = ?", *q.EmailVerified)
	}
	if !q.CreatedAfter.IsZero() {
		sq = sq.Where("u.created_at > ?", at(q.CreatedAfter))
	}
	if !q.CreatedBefore.IsZero() {
		sq = sq.Where("u.created_at < ?", at(q.CreatedBefore))
	}
	if !q.LastLoginBefore.IsZero() {
		// Through the order expression, so the last-login index serves it;
		// a user who never signed in (NULL, the smallest time) matches.
		sq = sq.Where(f.lastLogin+" < ?", at(q.LastLoginBefore))
	}

	order, key := "u.created_at", "?"
	var keyArg any
	if q.After != nil {
		keyArg = at(q.After.Time)
	}
	switch q.Sort {
	case user.SortEmail:
		order = f.email
		if q.After != nil {
			keyArg = q.After.Email
		}
	case user.SortLastLoginAt:
		order, key = f.lastLogin, f.lastLoginKey
	case user.SortCreatedAt:
	}
	dir, cmp := "ASC", ">"
	if q.Descending {
		dir, cmp = "DESC", "<"
	}
	if q.After != nil {
		// A row comparison is one index condition on (order, id).
		sq = sq.Where("("+order+", "+f.id+") "+cmp+" ("+key+", ?)", keyArg, string(q.After.ID))
		if !d.db.postgres() {
			// SQLite seeks an expression index (the last-login order) by
			// a plain range only, not by a row value: say it twice.
			sq = sq.Where(order+" "+cmp+"= "+key, keyArg)
		}
	}
	return sq.OrderExpr(order + " " + dir + ", " + f.id + " " + dir).Limit(int64(q.Limit) + 1), nil
}

// Listed returns the user with id and their last sign-in.
func (d *Directory) Listed(ctx context.Context, id user.ID) (user.Listed, error) {
	var row listedRow
	err := d.db.readConn(ctx).NewSelect().Model(&row).ExcludeColumn("search_text").Where("u.id = ?", string(id)).Scan(ctx)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return user.Listed{}, user.ErrNotFound
	case err != nil:
		return user.Listed{}, fmt.Errorf("sqlstore: select user %s: %w", id, err)
	}
	return fromListedRow(row)
}
