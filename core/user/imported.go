package user

import (
	"time"

	"github.com/usermgmt/usermgmt/core/errs"
)

// Errors of accounts brought in from another system.
var (
	ErrInvalidID        = errs.New(errs.Invalid, "user.invalid_id", "must be a UUID in its canonical form (8-4-4-4-12 hexadecimal digits)")
	ErrInvalidCreatedAt = errs.New(errs.Invalid, "user.invalid_created_at", "must be an RFC 3339 time, not in the future")
	ErrIDTaken          = errs.New(errs.Conflict, "user.id_taken", "id already in use")
)

// ParseID returns s as an ID when it is a UUID in canonical form, of any
// version: accounts brought in from another system keep the ids they had
// there, which need not be UUIDv7. Hexadecimal digits are lower-cased, as
// ids this service makes are, so one id has one spelling.
func ParseID(s string) (ID, error) {
	if len(s) != 36 {
		return "", ErrInvalidID
	}
	b := []byte(s)
	for i, c := range b {
		switch {
		case i == 8 || i == 13 || i == 18 || i == 23:
			if c != '-' {
				return "", ErrInvalidID
			}
		case c >= '0' && c <= '9', c >= 'a' && c <= 'f':
		case c >= 'A' && c <= 'F':
			b[i] = c + ('a' - 'A')
		default:
			return "", ErrInvalidID
		}
	}
	return ID(b), nil
}

// Import applies New's rules to an account brought in from another
// system, keeping its id (as ParseID returns it) and when it was created
// there: createdAt must be set and not
// after now. It is kept to the microsecond, as stores keep times, so an
// import compared with what it stored finds it unchanged. The account is
// updated now, when it arrives.
func Import(id ID, email, username, displayName string, createdAt, now time.Time) (User, error) {
	var v errs.Validation
	if p, err := ParseID(string(id)); err != nil || p != id {
		v.Check("id", ErrInvalidID)
	}
	createdAt = createdAt.UTC().Truncate(time.Microsecond)
	if createdAt.IsZero() || createdAt.After(now) {
		v.Check("createdAt", ErrInvalidCreatedAt)
	}
	u, err := New(id, email, username, displayName, now)
	if err := v.Merge(err); err != nil {
		return User{}, err
	}
	if err := v.Err(); err != nil {
		return User{}, err
	}
	u.createdAt = createdAt
	return u, nil
}
