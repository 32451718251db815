package admin

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/usermgmt/usermgmt/core/errs"
	"github.com/usermgmt/usermgmt/core/event"
	"github.com/usermgmt/usermgmt/core/role"
	"github.com/usermgmt/usermgmt/core/session"
	"github.com/usermgmt/usermgmt/core/token"
	"github.com/usermgmt/usermgmt/core/user"
)

// Update edits an account's email, username, display name or email
// verification (users:write).
func (s *Users) Update(ctx context.Context, p token.Claims, id user.ID, upd user.AdminUpdate) (user.User, error) {
	u, _, err := s.run(ctx, p, id, s.edit(upd))
	if err != nil {
		return user.User{}, fmt.Errorf("update user: %w", err)
	}
	return u, nil
}

// Activate lets an inactive account sign in again (users:write).
func (s *Users) Activate(ctx context.Context, p token.Claims, id user.ID) (user.User, error) {
	u, _, err := s.run(ctx, p, id, s.activation())
	if err != nil {
		return user.User{}, fmt.Errorf("activate user: %w", err)
	}
	return u, nil
}

// Deactivate stops an account from signing in and ends its sessions at
// once (users:write).
func (s *Users) Deactivate(ctx context.Context, p token.Claims, id user.ID, reason string) (user.User, error) {
	return s.withReason(ctx, p, id, reason, s.deactivation, "deactivate user")
}

// Delete deletes an account: it cannot sign in, its sessions end, and it
// can be restored until the retention ends (users:delete).
func (s *Users) Delete(ctx context.Context, p token.Claims, id user.ID, reason string) (user.User, error) {
	return s.withReason(ctx, p, id, reason, s.deletion, "delete user")
}

func (s *Users) withReason(ctx context.Context, p token.Claims, id user.ID, reason string, op func(string) (change, error), what string) (user.User, error) {
	c, err := op(reason)
	if err != nil {
		return user.User{}, err
	}
	u, _, err := s.run(ctx, p, id, c)
	if err != nil {
		return user.User{}, fmt.Errorf("%s: %w", what, err)
	}
	return u, nil
}

// Restore brings a deleted account back, inactive, within the retention
// (users:delete).
func (s *Users) Restore(ctx context.Context, p token.Claims, id user.ID) (user.User, error) {
	u, _, err := s.run(ctx, p, id, s.restoration())
	if err != nil {
		return user.User{}, fmt.Errorf("restore user: %w", err)
	}
	return u, nil
}

// SetRoles replaces an account's roles (roles:manage). Nobody changes
// their own roles, grants a role with a permission they lack, or leaves
// an account they could not act on; the account's sessions move to new
// ids, so its access tokens stop at once and the next refresh carries the
// new roles (AC-05, AC-06).
func (s *Users) SetRoles(ctx context.Context, p token.Claims, id user.ID, names []string) (user.User, error) {
	want, err := s.resolveNames(ctx, names)
	if err != nil {
		return user.User{}, err
	}
	u, _, err := s.run(ctx, p, id, s.roleChange(func([]string) ([]role.Role, error) { return want, nil }))
	if err != nil {
		return user.User{}, fmt.Errorf("set roles: %w", err)
	}
	return u, nil
}

// EndSessions ends every session of an account, each with a forced
// user.logout (sessions:revoke), and reports how many ended.
func (s *Users) EndSessions(ctx context.Context, p token.Claims, id user.ID) (int, error) {
	var n int
	_, _, err := s.run(ctx, p, id, s.sessionsEnd(&n))
	if err != nil {
		return 0, fmt.Errorf("end user sessions: %w", err)
	}
	return n, nil
}

// RetentionPolicy says, in the words of user.deleted, how long a deleted
// account can be restored.
func (s *Users) RetentionPolicy() string {
	return fmt.Sprintf("soft-delete: restorable for %s, then erased", s.retention)
}

func (s *Users) edit(upd user.AdminUpdate) change {
	// Not on oneself: the owner's own changes go through self-service,
	// where a new address must be proven.
	return change{perm: role.UsersWrite,
		apply: func(u *user.User, _ role.Set, by Principal, now time.Time) ([]event.Payload, error) {
			cs, err := u.ApplyAdmin(upd, now)
			if err != nil || len(cs) == 0 {
				return nil, err
			}
			return []event.Payload{changed(u.ID(), by, cs)}, nil
		}}
}

func (s *Users) activation() change {
	return change{perm: role.UsersWrite,
		apply: func(u *user.User, _ role.Set, by Principal, now time.Time) ([]event.Payload, error) {
			ok, err := u.Activate(now)
			if err != nil || !ok {
				return nil, err
			}
			return []event.Payload{event.UserActivated{UserID: string(u.ID()), ActivatedBy: string(by.User.ID()), ActivationMethod: "admin"}}, nil
		}}
}

func (s *Users) deactivation(reason string) (change, error) {
	reason, err := checkReason(reason)
	if err != nil {
		return change{}, err
	}
	var ended bool
	return change{perm: role.UsersWrite,
		apply: func(u *user.User, _ role.Set, by Principal, now time.Time) ([]event.Payload, error) {
			if u.Status() == user.StatusDeleted {
				return nil, user.ErrDeleted
			}
			if ended = u.Deactivate(now); !ended {
				return nil, nil
			}
			return []event.Payload{event.UserDeactivated{UserID: string(u.ID()), DeactivatedBy: string(by.User.ID()), Reason: reason}}, nil
		},
		after: s.lockOut(&ended)}, nil
}

func (s *Users) deletion(reason string) (change, error) {
	reason, err := checkReason(reason)
	if err != nil {
		return change{}, err
	}
	var deleted bool
	return change{perm: role.UsersDelete,
		apply: func(u *user.User, _ role.Set, by Principal, now time.Time) ([]event.Payload, error) {
			if deleted = u.Delete(now); !deleted {
				return nil, nil
			}
			return []event.Payload{event.UserDeleted{UserID: string(u.ID()), DeletionReason: reason, DeletedBy: string(by.User.ID()),
				RetentionPolicy: s.RetentionPolicy()}}, nil
		},
		after: s.lockOut(&deleted)}, nil
}

// lockOut ends every session of an account that can no longer sign in,
// once *done says it changed, unless it was the last active superadmin.
func (s *Users) lockOut(done *bool) func(context.Context, user.User, Principal, time.Time) ([]session.Revocation, []event.Payload, error) {
	return func(ctx context.Context, u user.User, _ Principal, now time.Time) ([]session.Revocation, []event.Payload, error) {
		if !*done {
			return nil, nil, nil
		}
		if u.HasRole(role.SuperAdmin) {
			if err := s.keepSuperAdmin(ctx, u.ID()); err != nil {
				return nil, nil, err
			}
		}
		return s.endSessions(ctx, u, now)
	}
}

func (s *Users) restoration() change {
	return change{perm: role.UsersDelete,
		apply: func(u *user.User, _ role.Set, by Principal, now time.Time) ([]event.Payload, error) {
			before := u.Status()
			if err := u.Restore(now, s.retention); err != nil {
				return nil, err
			}
			return []event.Payload{changed(u.ID(), by, []user.Change{{Field: "status", Previous: before.String(), Current: u.Status().String()}})}, nil
		}}
}

// roleChange sets the account's roles to what next makes of its current
// ones.
func (s *Users) roleChange(next func(current []string) ([]role.Role, error)) change {
	var was, added []string
	return change{perm: role.RolesManage,
		apply: func(u *user.User, _ role.Set, by Principal, now time.Time) ([]event.Payload, error) {
			was = u.Roles()
			want, err := next(was)
			if err != nil {
				return nil, err
			}
			var add, drop []string
			for _, r := range want {
				if !u.HasRole(r.Name) {
					if err := by.Perms.Grant(r); err != nil {
						return nil, err
					}
					add = append(add, r.Name)
				}
			}
			added = add
			for _, n := range was {
				if !slices.ContainsFunc(want, func(r role.Role) bool { return r.Name == n }) {
					drop = append(drop, n)
				}
			}
			ok, err := u.ReplaceRoles(drop, add, now)
			if err != nil || !ok {
				return nil, err
			}
			return []event.Payload{changed(u.ID(), by, []user.Change{{Field: "roles", Previous: was, Current: u.Roles()}})}, nil
		},
		after: func(ctx context.Context, u user.User, by Principal, now time.Time) ([]session.Revocation, []event.Payload, error) {
			if slices.Equal(was, u.Roles()) {
				return nil, nil, nil
			}
			// A custom role granted is locked until commit, so a delete of
			// it either waits and then sees this holder, or went first and
			// the grant fails (AC-05: no account holds a role that is gone).
			for _, n := range added {
				if _, builtIn := role.BuiltInRole(n); builtIn {
					continue
				}
				if _, err := s.d.Auth.lockRole(ctx, n); err != nil {
					if errors.Is(err, role.ErrNotFound) {
						return nil, nil, ErrUnknownRole
					}
					return nil, nil, err
				}
			}
			perms, err := s.d.Auth.Permissions(ctx, u.Roles())
			if err != nil {
				return nil, nil, err
			}
			if err := by.Perms.ActOn(perms); err != nil {
				return nil, nil, err
			}
			if slices.Contains(was, role.SuperAdmin) && !u.HasRole(role.SuperAdmin) {
				if err := s.keepSuperAdmin(ctx, u.ID()); err != nil {
					return nil, nil, err
				}
			}
			rs, err := s.d.Sessions.Reissue(ctx, u.ID(), func() session.ID { return session.ID(s.d.IDs.NewID()) }, now)
			return rs, nil, err
		}}
}

// ErrUnknownRole refuses a role that is neither built in nor defined.
var ErrUnknownRole = errs.New(errs.Invalid, "admin.unknown_role", "invalid request").
	WithFields(errs.FieldError{Field: "roles", Message: "names a role that does not exist"})

func (s *Users) sessionsEnd(n *int) change {
	return change{perm: role.SessionsRevoke, self: true,
		apply: func(*user.User, role.Set, Principal, time.Time) ([]event.Payload, error) { return nil, nil },
		after: func(ctx context.Context, u user.User, _ Principal, now time.Time) ([]session.Revocation, []event.Payload, error) {
			rs, ps, err := s.endSessions(ctx, u, now)
			*n = len(rs)
			return rs, ps, err
		}}
}
