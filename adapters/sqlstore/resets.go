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

// ResetTokens persists password-reset tokens by hash.
type ResetTokens struct{ db *DB }

var _ ports.ResetTokens = (*ResetTokens)(nil)

// NewResetTokens returns the reset tokens of db.
func NewResetTokens(db *DB) *ResetTokens { return &ResetTokens{db: db} }

// Issue replaces the user's tokens with a new one, in one transaction.
func (r *ResetTokens) Issue(ctx context.Context, uid user.ID, hash string, issuedAt, expires time.Time) error {
	_, err := r.db.inTx(ctx, func(ctx context.Context, tx bun.IDB) error {
		if _, err := tx.NewRaw(`DELETE FROM password_resets WHERE user_id = ?`, string(uid)).Exec(ctx); err != nil {
			return err
		}
		_, err := tx.NewRaw(`INSERT INTO password_resets (token_hash, user_id, issued_at, expires_at) VALUES (?, ?, ?, ?)`,
			hash, string(uid), at(issuedAt), at(expires)).Exec(ctx)
		return err
	})
	if err != nil {
		return fmt.Errorf("sqlstore: issue reset token: %w", err)
	}
	return nil
}

// Lookup returns the user of a live token without using it.
func (r *ResetTokens) Lookup(ctx context.Context, hash string, now time.Time) (user.ID, error) {
	var uid string
	err := r.db.readConn(ctx).NewRaw(`SELECT user_id FROM password_resets
		WHERE token_hash = ? AND used_at IS NULL AND expires_at > ?`, hash, at(now)).Scan(ctx, &uid)
	return resetResult(uid, err)
}

// Consume uses a live token in one statement, so it is single-use under
// any concurrency.
func (r *ResetTokens) Consume(ctx context.Context, hash string, now time.Time) (user.ID, error) {
	var uid string
	err := r.db.conn(ctx).NewRaw(`UPDATE password_resets SET used_at = ?
		WHERE token_hash = ? AND used_at IS NULL AND expires_at > ? RETURNING user_id`, at(now), hash, at(now)).Scan(ctx, &uid)
	return resetResult(uid, err)
}

func resetResult(uid string, err error) (user.ID, error) {
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return "", user.ErrNotFound
	case err != nil:
		return "", fmt.Errorf("sqlstore: reset token: %w", err)
	}
	return user.ID(uid), nil
}

// InvalidateUser drops every token of uid.
func (r *ResetTokens) InvalidateUser(ctx context.Context, uid user.ID) error {
	if _, err := r.db.conn(ctx).NewRaw(`DELETE FROM password_resets WHERE user_id = ?`, string(uid)).Exec(ctx); err != nil {
		return fmt.Errorf("sqlstore: invalidate reset tokens: %w", err)
	}
	return nil
}
