package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/uptrace/bun"

	"github.com/usermgmt/usermgmt/core/credential"
	"github.com/usermgmt/usermgmt/core/user"
	"github.com/usermgmt/usermgmt/ports"
)

// Credentials is the ports.Credentials of a database.
type Credentials struct{ db *DB }

var _ ports.Credentials = (*Credentials)(nil)

// NewCredentials returns the credential repository of db.
func NewCredentials(db *DB) *Credentials { return &Credentials{db: db} }

type credentialRow struct {
	bun.BaseModel `bun:"table:credentials,alias:c"`

	UserID       string `bun:"user_id,pk"`
	PasswordHash string `bun:"password_hash"`
	UpdatedAt    dbTime `bun:"updated_at"`
	RecoveredAt  dbTime `bun:"recovered_at"`
}

func toCredentialRow(id user.ID, h credential.PasswordHash, updated time.Time) credentialRow {
	return credentialRow{UserID: string(id), PasswordHash: string(h), UpdatedAt: at(updated)}
}

func fromCredentialRow(r credentialRow) credential.PasswordHash {
	return credential.PasswordHash(r.PasswordHash)
}

// PasswordHash returns the user's hash or credential.ErrNoPassword.
func (r *Credentials) PasswordHash(ctx context.Context, id user.ID) (credential.PasswordHash, error) {
	var row credentialRow
	err := r.db.readConn(ctx).NewSelect().Model(&row).Where("c.user_id = ?", string(id)).Scan(ctx)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return "", credential.ErrNoPassword
	case err != nil:
		return "", fmt.Errorf("sqlstore: select password hash of user %s: %w", id, err)
	}
	return fromCredentialRow(row), nil
}

// SetPasswordHash creates or replaces the user's hash (one upsert). A user
// that does not exist is user.ErrNotFound.
func (r *Credentials) SetPasswordHash(ctx context.Context, id user.ID, h credential.PasswordHash, updated time.Time) error {
	row := toCredentialRow(id, h, updated)
	_, err := r.db.conn(ctx).NewInsert().Model(&row).
		On("CONFLICT (user_id) DO UPDATE").
		Set("password_hash = EXCLUDED.password_hash").
		Set("updated_at = EXCLUDED.updated_at").
		Exec(ctx)
	if err != nil {
		if kind, _ := classify(err); kind == failForeignKey {
			return user.ErrNotFound
		}
		return fmt.Errorf("sqlstore: upsert password hash of user %s: %w", id, err)
	}
	return nil
}

// SetRecovered sets or clears the recovery mark of the user's password.
func (r *Credentials) SetRecovered(ctx context.Context, id user.ID, when time.Time) error {
	res, err := r.db.conn(ctx).NewUpdate().Model((*credentialRow)(nil)).
		Set("recovered_at = ?", at(when)).Where("user_id = ?", string(id)).Exec(ctx)
	ok, err := affected(res, err, "set recovery mark")
	if err != nil {
		return err
	}
	if !ok {
		return credential.ErrNoPassword
	}
	return nil
}

// Recovered returns the recovery mark of the user's password.
func (r *Credentials) Recovered(ctx context.Context, id user.ID) (time.Time, error) {
	var when dbTime
	err := r.db.readConn(ctx).NewSelect().Model((*credentialRow)(nil)).Column("recovered_at").
		Where("c.user_id = ?", string(id)).Scan(ctx, &when)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return time.Time{}, fmt.Errorf("sqlstore: select recovery mark of user %s: %w", id, err)
	}
	return when.Time, nil
}
