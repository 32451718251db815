package user

import (
	"slices"
	"time"

	"github.com/usermgmt/usermgmt/core/errs"
)

// Errors of the account lifecycle.
var (
	ErrDeleted        = errs.New(errs.Conflict, "user.deleted", "the account is deleted: restore it first")
	ErrNotDeleted     = errs.New(errs.Conflict, "user.not_deleted", "the account is not deleted")
	ErrRestoreExpired = errs.New(errs.Conflict, "user.restore_expired", "the account was deleted longer ago than it can be restored")
)

// DeletedAt is when the account was deleted; zero unless it is.
func (u User) DeletedAt() time.Time { return u.deletedAt }

// Activate makes an inactive account active again and reports whether
// anything changed. A deleted account is restored, not activated.
func (u *User) Activate(now time.Time) (bool, error) {
	switch u.status {
	case StatusActive:
		return false, nil
	case StatusDeleted:
		return false, ErrDeleted
	}
	u.status = StatusActive
	u.touch(now)
	return true, nil
}

// Deactivate makes the account inactive: it can no longer sign in. It
// reports whether anything changed.
func (u *User) Deactivate(now time.Time) bool {
	if u.status != StatusActive {
		return false
	}
	u.status = StatusInactive
	u.touch(now)
	return true
}

// Delete marks the account deleted at now: it cannot sign in, and it can
// be restored until its retention ends, when it is erased. It reports
// whether anything changed.
func (u *User) Delete(now time.Time) bool {
	if u.status == StatusDeleted {
		return false
	}
	u.status, u.deletedAt = StatusDeleted, now.UTC()
	u.touch(now)
	return true
}

// Restore undoes Delete while now is within retention of the deletion;
// the account comes back inactive, so an administrator decides when it
// may sign in again.
func (u *User) Restore(now time.Time, retention time.Duration) error {
	if u.status != StatusDeleted {
		return ErrNotDeleted
	}
	if !now.Before(u.deletedAt.Add(retention)) {
		return ErrRestoreExpired
	}
	u.status, u.deletedAt = StatusInactive, time.Time{}
	u.touch(now)
	return nil
}

// AdminUpdate is an administrator's change to an account; nil fields stay
// as they are. Status and roles have their own operations, with their own
// rules and events.
type AdminUpdate struct {
	Email         *string
	Username      *string
	DisplayName   *string
	EmailVerified *bool
}

// ApplyAdmin applies p and returns what changed. A new email address is
// unverified unless p says otherwise.
func (u *User) ApplyAdmin(p AdminUpdate, now time.Time) ([]Change, error) {
	var v errs.Validation
	next := *u
	var changes []Change
	if p.Email != nil {
		e, err := NormalizeEmail(*p.Email)
		v.Check("email", err)
		if err == nil && e != u.email {
			changes = append(changes, Change{"email", u.email, e})
			next.email, next.emailVerified = e, false
		}
	}
	if p.Username != nil {
		n, err := NormalizeUsername(*p.Username)
		v.Check("username", err)
		if err == nil && n != u.username {
			changes = append(changes, Change{"username", u.username, n})
			next.username = n
		}
	}
	if p.DisplayName != nil {
		d, err := normalizeDisplayName(*p.DisplayName)
		if err == nil && d == "" {
			err = ErrInvalidDisplayName
		}
		v.Check("displayName", err)
		if err == nil && d != u.displayName {
			changes = append(changes, Change{"displayName", u.displayName, d})
			next.displayName = d
		}
	}
	if p.EmailVerified != nil {
		next.emailVerified = *p.EmailVerified
	}
	if err := v.Err(); err != nil {
		return nil, err
	}
	if next.emailVerified != u.emailVerified {
		changes = append(changes, Change{"emailVerified", u.emailVerified, next.emailVerified})
	}
	if len(changes) == 0 {
		return nil, nil
	}
	next.roles = slices.Clone(u.roles)
	*u = next
	u.touch(now)
	return changes, nil
}
