package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/uptrace/bun"

	"github.com/usermgmt/usermgmt/core/user"
	"github.com/usermgmt/usermgmt/ports"
)

// OneTimeTokens persists mailed one-time tokens by hash (table
// password_resets, which holds every purpose since migration 0006).
type OneTimeTokens struct{ db *DB }

var _ ports.OneTimeTokens = (*OneTimeTokens)(nil)

// NewOneTimeTokens returns the one-time tokens of db.
func NewOneTimeTokens(db *DB) *OneTimeTokens { return &OneTimeTokens{db: db} }

// Issue replaces the user's tokens of the purpose with a new one.
func (r *OneTimeTokens) Issue(ctx context.Context, purpose ports.TokenPurpose, uid user.ID, hash string, issuedAt, expires time.Time) error {
	_, err := r.db.inTx(ctx, func(ctx context.Context, tx bun.IDB) error {
		if _, err := tx.NewRaw(`DELETE FROM password_resets WHERE user_id = ? AND purpose = ?`, string(uid), string(purpose)).Exec(ctx); err != nil {
			return err
		}
		_, err := tx.NewRaw(`INSERT INTO password_resets (token_hash, user_id, purpose, issued_at, expires_at) VALUES (?, ?, ?, ?, ?)`,
			hash, string(uid), string(purpose), at(issuedAt), at(expires)).Exec(ctx)
		return err
	})
	if err != nil {
		return fmt.Errorf("sqlstore: issue %s token: %w", purpose, err)
	}
	return nil
}

// Lookup returns the user of a live token without using it.
func (r *OneTimeTokens) Lookup(ctx context.Context, purpose ports.TokenPurpose, hash string, now time.Time) (user.ID, error) {
	var uid string
	err := r.db.readConn(ctx).NewRaw(`SELECT user_id FROM password_resets
		WHERE token_hash = ? AND purpose = ? AND used_at IS NULL AND expires_at > ?`, hash, string(purpose), at(now)).Scan(ctx, &uid)
	return tokenResult(uid, err)
}

// Consume uses a live token in one statement, so it is single-use under
// any concurrency.
func (r *OneTimeTokens) Consume(ctx context.Context, purpose ports.TokenPurpose, hash string, now time.Time) (user.ID, error) {
	var uid string
	err := r.db.conn(ctx).NewRaw(`UPDATE password_resets SET used_at = ?
		WHERE token_hash = ? AND purpose = ? AND used_at IS NULL AND expires_at > ? RETURNING user_id`,
		at(now), hash, string(purpose), at(now)).Scan(ctx, &uid)
	return tokenResult(uid, err)
}

func tokenResult(uid string, err error) (user.ID, error) {
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return "", user.ErrNotFound
	case err != nil:
		return "", fmt.Errorf("sqlstore: one-time token: %w", err)
	}
	return user.ID(uid), nil
}

// InvalidateUser drops every token of uid with the purpose.
func (r *OneTimeTokens) InvalidateUser(ctx context.Context, purpose ports.TokenPurpose, uid user.ID) error {
	if _, err := r.db.conn(ctx).NewRaw(`DELETE FROM password_resets WHERE user_id = ? AND purpose = ?`, string(uid), string(purpose)).Exec(ctx); err != nil {
		return fmt.Errorf("sqlstore: invalidate %s tokens: %w", purpose, err)
	}
	return nil
}
