package sqlstore

import (
	"context"

	"github.com/uptrace/bun"

	"github.com/usermgmt/usermgmt/core/user"
)

// SeedUsersInBatches is SeedUsers with a batch size of the test's choosing.
var SeedUsersInBatches = seedUsers

// Bun returns the write connection, for statements a test runs itself.
func (db *DB) Bun() *bun.DB { return db.w }

// SearchSQL returns the statement Search runs for q.
func (d *Directory) SearchSQL(ctx context.Context, q user.Query) (string, error) {
	q, err := q.Normalize()
	if err != nil {
		return "", err
	}
	sq, err := d.selectQuery(ctx, q)
	if err != nil {
		return "", err
	}
	return sq.String(), nil
}
