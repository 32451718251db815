package sqlstore

import (
	"context"

	"github.com/usermgmt/usermgmt/ports"
)

// Transactor is the ports.Transactor of a database.
type Transactor struct{ db *DB }

var _ ports.Transactor = (*Transactor)(nil)

// NewTransactor returns the transactor of db.
func NewTransactor(db *DB) *Transactor { return &Transactor{db: db} }

// WithinTx runs fn in a transaction that every repository of the same DB
// joins when called with fn's ctx. A nested WithinTx joins the outer
// transaction (no savepoint: an error anywhere rolls back all of it). fn's
// error is returned as is; a failed begin or commit is wrapped.
//
// On SQLite the transaction holds the single write connection from BEGIN
// (IMMEDIATE) to the end: keep fn short, do no slow I/O in it, and write only
// through fn's ctx. A write inside fn made with another ctx waits for the
// write connection that fn itself holds: it blocks until that ctx is done.
func (t *Transactor) WithinTx(ctx context.Context, fn func(ctx context.Context) error) error {
	if _, ok := t.db.tx(ctx); ok {
		return fn(ctx)
	}
	return t.db.runInTx(ctx, fn)
}
