package admin

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/usermgmt/usermgmt/core/errs"
	"github.com/usermgmt/usermgmt/core/role"
	"github.com/usermgmt/usermgmt/core/token"
	"github.com/usermgmt/usermgmt/core/user"
)

// BulkAction names what a bulk request does to each account.
type BulkAction string

// The bulk actions.
const (
	BulkActivate       BulkAction = "activate"
	BulkDeactivate     BulkAction = "deactivate"
	BulkDelete         BulkAction = "delete"
	BulkRestore        BulkAction = "restore"
	BulkAssignRole     BulkAction = "assign-role"
	BulkRemoveRole     BulkAction = "remove-role"
	BulkRevokeSessions BulkAction = "revoke-sessions"
)

// MaxBulkItems bounds one bulk request.
const MaxBulkItems = 1000

// Bulk is one action over many accounts.
type Bulk struct {
	Action BulkAction
	IDs    []user.ID
	Reason string // deactivate and delete
	Role   string // assign-role and remove-role
}

// ItemStatus is how one account of a bulk request fared.
type ItemStatus string

// The item statuses.
const (
	ItemChanged   ItemStatus = "changed"
	ItemUnchanged ItemStatus = "unchanged"
	ItemFailed    ItemStatus = "failed"
)

// BulkResult is the outcome for one account; Err is set when it failed.
type BulkResult struct {
	ID     user.ID
	Status ItemStatus
	Err    error
}

// Bulk applies b to every account it names, in the order given, each in
// its own transaction with its own events, and each authorized on its own
// (AC-04): one account the caller may not touch fails alone. Repeating a
// request changes nothing twice. An id named twice is done once.
func (s *Users) Bulk(ctx context.Context, p token.Claims, b Bulk) ([]BulkResult, error) {
	mk, err := s.bulkChange(ctx, b)
	if err != nil {
		return nil, err
	}
	// A caller without the action's permission is refused once, not once
	// per item: a thousand refusals would only flood the audit trail.
	if _, err := s.d.Auth.Principal(ctx, p, mk().perm); err != nil {
		return nil, fmt.Errorf("bulk %s: %w", b.Action, err)
	}
	ids := make([]user.ID, 0, len(b.IDs))
	for _, id := range b.IDs {
		if !slices.Contains(ids, id) {
			ids = append(ids, id)
		}
	}
	out := make([]BulkResult, len(ids))
	for i, id := range ids {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		_, changed, err := s.run(ctx, p, id, mk())
		switch {
		case b.Action == BulkRestore && errors.Is(err, user.ErrNotDeleted):
			out[i] = BulkResult{ID: id, Status: ItemUnchanged}
		case err != nil:
			if errs.KindOf(err) == errs.Internal || errs.KindOf(err) == errs.Unavailable {
				s.log.ErrorContext(ctx, "bulk item failed", "action", b.Action, "user", id, "err", err)
			}
			out[i] = BulkResult{ID: id, Status: ItemFailed, Err: err}
		case changed:
			out[i] = BulkResult{ID: id, Status: ItemChanged}
		default:
			out[i] = BulkResult{ID: id, Status: ItemUnchanged}
		}
	}
	return out, nil
}

// bulkChange checks b and returns a maker of the change for each item
// (a change holds per-item state, so each item gets its own).
func (s *Users) bulkChange(ctx context.Context, b Bulk) (func() change, error) {
	var v errs.Validation
	if len(b.IDs) == 0 || len(b.IDs) > MaxBulkItems {
		v.Add("ids", "must name 1 to 1000 accounts")
	}
	for _, id := range b.IDs {
		if id == "" || len(id) > 64 {
			v.Add("ids", "must be account ids")
			break
		}
	}
	roleAction := b.Action == BulkAssignRole || b.Action == BulkRemoveRole
	if b.Role != "" && !roleAction {
		v.Add("role", "is only for assign-role and remove-role")
	}
	if b.Reason != "" && b.Action != BulkDeactivate && b.Action != BulkDelete {
		v.Add("reason", "is only for deactivate and delete")
	}
	var mk func() change
	switch b.Action {
	case BulkActivate:
		mk = s.activation
	case BulkRestore:
		mk = s.restoration
	case BulkRevokeSessions:
		mk = func() change { var n int; return s.sessionsEnd(&n) }
	case BulkDeactivate, BulkDelete:
		op := s.deactivation
		if b.Action == BulkDelete {
			op = s.deletion
		}
		if _, err := op(b.Reason); err != nil {
			v.Add("reason", "must be 1 to 500 printable characters")
		}
		mk = func() change { c, _ := op(b.Reason); return c }
	case BulkAssignRole, BulkRemoveRole:
		r, err := s.resolveNames(ctx, []string{b.Role})
		if err != nil && errs.KindOf(err) != errs.Invalid {
			return nil, err
		}
		if err != nil || b.Role == "" || b.Role == role.User {
			v.Add("role", "must name an existing role other than user")
			break
		}
		named := r[len(r)-1]
		mk = func() change {
			return s.roleChange(func(current []string) ([]role.Role, error) {
				return s.withRole(ctx, current, named, b.Action == BulkAssignRole)
			})
		}
	default:
		v.Add("action", "must be activate, deactivate, delete, restore, assign-role, remove-role or revoke-sessions")
	}
	if err := v.Err(); err != nil {
		return nil, err
	}
	return mk, nil
}

// withRole is current with named added or removed, as roles. Names of
// custom roles deleted since are dropped: they grant nothing.
func (s *Users) withRole(ctx context.Context, current []string, named role.Role, add bool) ([]role.Role, error) {
	var out []role.Role
	if add {
		out = append(out, named)
	}
	for _, n := range current {
		if n == named.Name {
			continue
		}
		rs, err := s.resolveNames(ctx, []string{n})
		if errors.Is(err, ErrUnknownRole) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, rs[len(rs)-1])
	}
	return out, nil
}
