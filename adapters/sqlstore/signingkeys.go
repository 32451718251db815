package sqlstore

import (
	"bytes"
	"context"
	"fmt"

	"github.com/uptrace/bun"

	"github.com/usermgmt/usermgmt/core/token"
	"github.com/usermgmt/usermgmt/ports"
)

// SigningKeys is the ports.SigningKeys of a database. Seeds are stored as
// given: encrypting them at rest is the caller's choice.
type SigningKeys struct{ db *DB }

var _ ports.SigningKeys = (*SigningKeys)(nil)

// NewSigningKeys returns the signing-key store of db.
func NewSigningKeys(db *DB) *SigningKeys { return &SigningKeys{db: db} }

type signingKeyRow struct {
	bun.BaseModel `bun:"table:signing_keys,alias:k"`

	Kid       string `bun:"kid,pk"`
	Seed      []byte `bun:"seed"`
	CreatedAt dbTime `bun:"created_at"`
}

func toSigningKeyRow(k token.SigningKey) signingKeyRow {
	return signingKeyRow{Kid: k.Kid, Seed: bytes.Clone(k.Seed), CreatedAt: at(k.CreatedAt)}
}

func fromSigningKeyRow(r signingKeyRow) token.SigningKey {
	return token.SigningKey{Kid: r.Kid, Seed: r.Seed, CreatedAt: r.CreatedAt.Time}
}

// SigningKeys returns every key, newest first.
func (s *SigningKeys) SigningKeys(ctx context.Context) ([]token.SigningKey, error) {
	var rows []signingKeyRow
	if err := s.db.readConn(ctx).NewSelect().Model(&rows).OrderExpr("k.created_at DESC, k.kid DESC").Scan(ctx); err != nil {
		return nil, fmt.Errorf("sqlstore: select signing keys: %w", err)
	}
	out := make([]token.SigningKey, len(rows))
	for i, r := range rows {
		out[i] = fromSigningKeyRow(r)
	}
	return out, nil
}

// AddSigningKey stores k; a kid that exists already is an error.
func (s *SigningKeys) AddSigningKey(ctx context.Context, k token.SigningKey) error {
	if k.Kid == "" || len(k.Seed) == 0 {
		return fmt.Errorf("sqlstore: signing key %q: kid and seed are required", k.Kid)
	}
	row := toSigningKeyRow(k)
	if _, err := s.db.conn(ctx).NewInsert().Model(&row).Exec(ctx); err != nil {
		return fmt.Errorf("sqlstore: insert signing key %s: %w", k.Kid, err)
	}
	return nil
}
