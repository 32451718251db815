package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/uptrace/bun"

	"github.com/usermgmt/usermgmt/core/role"
	"github.com/usermgmt/usermgmt/ports"
)

// Roles is the ports.Roles of a database.
type Roles struct{ db *DB }

var _ ports.Roles = (*Roles)(nil)

// NewRoles returns the custom-role repository of db.
func NewRoles(db *DB) *Roles { return &Roles{db: db} }

type roleRow struct {
	bun.BaseModel `bun:"table:roles,alias:r"`

	Name        string `bun:"name,pk"`
	Description string `bun:"description"`
	Permissions string `bun:"permissions"` // JSON array
	CreatedAt   dbTime `bun:"created_at"`
	UpdatedAt   dbTime `bun:"updated_at"`
}

func toRoleRow(r role.Role) (roleRow, error) {
	perms := r.Permissions
	if perms == nil {
		perms = []role.Permission{}
	}
	b, err := json.Marshal(perms)
	if err != nil {
		return roleRow{}, fmt.Errorf("sqlstore: encode permissions of role %s: %w", r.Name, err)
	}
	return roleRow{Name: r.Name, Description: r.Description, Permissions: string(b), CreatedAt: at(r.CreatedAt), UpdatedAt: at(r.UpdatedAt)}, nil
}

func fromRoleRow(x roleRow) (role.Role, error) {
	r := role.Role{Name: x.Name, Description: x.Description, CreatedAt: x.CreatedAt.Time, UpdatedAt: x.UpdatedAt.Time}
	if err := json.Unmarshal([]byte(x.Permissions), &r.Permissions); err != nil {
		return role.Role{}, fmt.Errorf("sqlstore: permissions of role %s: %w", x.Name, err)
	}
	return r, nil
}

// List returns every custom role, by name.
func (r *Roles) List(ctx context.Context) ([]role.Role, error) {
	var rows []roleRow
	if err := r.db.readConn(ctx).NewSelect().Model(&rows).OrderExpr("r.name").Scan(ctx); err != nil {
		return nil, fmt.Errorf("sqlstore: list roles: %w", err)
	}
	out := make([]role.Role, 0, len(rows))
	for _, x := range rows {
		ro, err := fromRoleRow(x)
		if err != nil {
			return nil, err
		}
		out = append(out, ro)
	}
	return out, nil
}

// Get returns the custom role named name.
func (r *Roles) Get(ctx context.Context, name string) (role.Role, error) {
	var x roleRow
	err := r.db.readConn(ctx).NewSelect().Model(&x).Where("r.name = ?", name).Scan(ctx)
	if errors.Is(err, sql.ErrNoRows) {
		return role.Role{}, role.ErrNotFound
	}
	if err != nil {
		return role.Role{}, fmt.Errorf("sqlstore: get role %s: %w", name, err)
	}
	return fromRoleRow(x)
}

// Create stores a new custom role.
func (r *Roles) Create(ctx context.Context, ro role.Role) error {
	row, err := toRoleRow(ro)
	if err != nil {
		return err
	}
	_, err = r.db.inTx(ctx, func(ctx context.Context, tx bun.IDB) error {
		return r.db.guarded(ctx, tx, func() error {
			_, err := tx.NewInsert().Model(&row).Exec(ctx)
			return err
		})
	})
	if kind, _ := classify(err); kind == failUnique {
		return role.ErrExists
	}
	if err != nil {
		return fmt.Errorf("sqlstore: insert role %s: %w", ro.Name, err)
	}
	return nil
}

// Update locks the custom role named name, applies fn and saves it.
func (r *Roles) Update(ctx context.Context, name string, fn func(*role.Role) error) (role.Role, error) {
	var out role.Role
	_, err := r.db.inTx(ctx, func(ctx context.Context, tx bun.IDB) error {
		var x roleRow
		q := tx.NewSelect().Model(&x).Where("r.name = ?", name)
		if r.db.postgres() {
			q = q.For("UPDATE")
		}
		if err := q.Scan(ctx); err != nil {
			if errors.Is(err, sql.ErrNoRows) {
				return role.ErrNotFound
			}
			return fmt.Errorf("sqlstore: lock role %s: %w", name, err)
		}
		ro, err := fromRoleRow(x)
		if err != nil {
			return err
		}
		if err := fn(&ro); err != nil {
			return err
		}
		ro.Name = name
		next, err := toRoleRow(ro)
		if err != nil {
			return err
		}
		if _, err := tx.NewUpdate().Model(&next).ExcludeColumn("name", "created_at").WherePK().Exec(ctx); err != nil {
			return fmt.Errorf("sqlstore: update role %s: %w", name, err)
		}
		out = ro
		return nil
	})
	return out, err
}

// Delete removes the custom role named name.
func (r *Roles) Delete(ctx context.Context, name string) error {
	res, err := r.db.conn(ctx).NewDelete().Model((*roleRow)(nil)).Where("name = ?", name).Exec(ctx)
	if err != nil {
		return fmt.Errorf("sqlstore: delete role %s: %w", name, err)
	}
	if n, err := res.RowsAffected(); err == nil && n == 0 {
		return role.ErrNotFound
	}
	return nil
}
