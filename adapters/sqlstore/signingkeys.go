package sqlstore

import (
	"bytes"
	"context"
	"fmt"

	"github.com/uptrace/bun"

	"github.com/usermgmt/usermgmt/core/token"
	"github.com/usermgmt/usermgmt/ports"
)

// SigningKeys is the ports.SigningKeys of a database. The seed column holds
// what the key ring gives it: the sealed seed (SE-12), or the clear seed in
// rows written before keys were sealed, until the ring reseals them.
type SigningKeys struct{ db *DB }

var _ ports.SigningKeys = (*SigningKeys)(nil)

// NewSigningKeys returns the signing-key store of db.
func NewSigningKeys(db *DB) *SigningKeys { return &SigningKeys{db: db} }

type signingKeyRow struct {
	bun.BaseModel `bun:"table:signing_keys,alias:k"`

	Kid        string `bun:"kid,pk"`
	SealedSeed []byte `bun:"seed"`
	CreatedAt  dbTime `bun:"created_at"`
}

func toSigningKeyRow(k token.SigningKey) signingKeyRow {
	return signingKeyRow{Kid: k.Kid, SealedSeed: bytes.Clone(k.SealedSeed), CreatedAt: at(k.CreatedAt)}
}

func fromSigningKeyRow(r signingKeyRow) token.SigningKey {
	return token.SigningKey{Kid: r.Kid, SealedSeed: r.SealedSeed, CreatedAt: r.CreatedAt.Time}
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
	if k.Kid == "" || len(k.SealedSeed) == 0 {
		return fmt.Errorf("sqlstore: signing key %q: kid and seed are required", k.Kid)
	}
	row := toSigningKeyRow(k)
	if _, err := s.db.conn(ctx).NewInsert().Model(&row).Exec(ctx); err != nil {
		return fmt.Errorf("sqlstore: insert signing key %s: %w", k.Kid, err)
	}
	return nil
}

// ResealSigningKey replaces kid's seed with sealed if it still is old, in
// one statement, so concurrent reseals of one key leave exactly one.
func (s *SigningKeys) ResealSigningKey(ctx context.Context, kid string, old, sealed []byte) (bool, error) {
	res, err := s.db.conn(ctx).NewUpdate().Model((*signingKeyRow)(nil)).
		Set("seed = ?", sealed).Where("kid = ?", kid).Where("seed = ?", old).Exec(ctx)
	return affected(res, err, "reseal signing key %s", kid)
}

// DeleteSigningKeys deletes the keys named by kids.
func (s *SigningKeys) DeleteSigningKeys(ctx context.Context, kids []string) (int, error) {
	if len(kids) == 0 {
		return 0, nil
	}
	res, err := s.db.conn(ctx).NewDelete().Model((*signingKeyRow)(nil)).Where("kid IN (?)", bun.List(kids)).Exec(ctx)
	if err != nil {
		return 0, fmt.Errorf("sqlstore: delete signing keys: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("sqlstore: delete signing keys: %w", err)
	}
	return int(n), nil
}
