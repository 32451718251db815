package user

import (
	"strings"
	"time"
	"unicode/utf8"

	"github.com/usermgmt/usermgmt/core/errs"
)

// SortField is a key a user list can be ordered by. Every order ends with
// the id, so the order is total and a keyset page boundary is exact.
type SortField string

// The sort keys. Under SortLastLoginAt a user who never signed in sorts as
// the zero time, before every sign-in: first when ascending, last when
// descending ("oldest first" puts the accounts nobody uses on top). Stores
// sort NULL the same way, so the order never depends on the store.
const (
	SortCreatedAt   SortField = "createdAt"
	SortEmail       SortField = "email"
	SortLastLoginAt SortField = "lastLoginAt"
)

// Limits of a query.
const (
	DefaultPageSize = 20
	MaxPageSize     = 100
	MaxQueryText    = 100
)

// Query selects users for administration. Zero fields do not filter.
type Query struct {
	// Text matches a case-insensitive substring of the email, username or
	// display name. Once normalised it holds no control character, so a
	// store may join the three fields with one and match the joined text
	// without a match spanning two fields.
	Text string
	// Status zero lists active and inactive users: deleted ones are
	// listed only when asked for.
	Status          Status
	Role            string
	MFAEnabled      *bool
	EmailVerified   *bool
	CreatedAfter    time.Time // exclusive
	CreatedBefore   time.Time // exclusive
	LastLoginBefore time.Time // exclusive; users who never signed in match
	Sort            SortField
	Descending      bool
	// After continues a listing after the last item of the previous page:
	// the Key of that item, under the same Sort and filters.
	After *Key
	Limit int
}

// Key is the position of one user in an ordered listing: the sort value
// and the id that breaks ties. Value is the email for SortEmail and the
// time (the zero time for a user who never signed in) otherwise.
type Key struct {
	Email string
	Time  time.Time
	ID    ID
}

// Listed is a user in a listing, with the time of their last sign-in (zero
// when they never signed in).
type Listed struct {
	User
	LastLoginAt time.Time
}

// KeyOf is the position of l under sort.
func KeyOf(l Listed, sort SortField) Key {
	switch sort {
	case SortEmail:
		return Key{Email: l.Email(), ID: l.ID()}
	case SortLastLoginAt:
		return Key{Time: l.LastLoginAt, ID: l.ID()}
	default:
		return Key{Time: l.CreatedAt(), ID: l.ID()}
	}
}

// ErrInvalidQuery names what is wrong with a query.
var ErrInvalidQuery = errs.New(errs.Invalid, "user.invalid_query", "invalid query")

// Normalize checks q and fills its defaults: sort by creation, newest
// first, DefaultPageSize items; text trimmed and lower-cased.
func (q Query) Normalize() (Query, error) {
	var v errs.Validation
	// Validity is checked before lower-casing, which would turn invalid
	// bytes into U+FFFD and hide them.
	valid := utf8.ValidString(q.Text)
	q.Text = strings.ToLower(strings.TrimSpace(q.Text))
	if !valid || utf8.RuneCountInString(q.Text) > MaxQueryText ||
		strings.ContainsFunc(q.Text, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		v.Add("q", "must be at most 100 printable characters")
	}
	if q.Role != "" && !validRole(q.Role) {
		v.Check("role", ErrInvalidRole)
	}
	switch q.Sort {
	case "":
		q.Sort, q.Descending = SortCreatedAt, true
	case SortCreatedAt, SortEmail, SortLastLoginAt:
	default:
		v.Add("sort", "must be createdAt, email or lastLoginAt")
	}
	switch {
	case q.Limit == 0:
		q.Limit = DefaultPageSize
	case q.Limit < 1 || q.Limit > MaxPageSize:
		v.Add("limit", "must be 1 to 100")
	}
	if !q.CreatedAfter.IsZero() && !q.CreatedBefore.IsZero() && !q.CreatedAfter.Before(q.CreatedBefore) {
		v.Add("createdBefore", "must be after createdAfter")
	}
	if err := v.Err(); err != nil {
		return Query{}, err
	}
	return q, nil
}

// Matches reports whether l passes q's filters (not its page position);
// in-memory stores use it, and it states the meaning the database
// queries must have.
func (q Query) Matches(l Listed) bool {
	u := l.User
	switch {
	case q.Text != "" && !strings.Contains(u.email, q.Text) && !strings.Contains(u.username, q.Text) &&
		!strings.Contains(strings.ToLower(u.displayName), q.Text):
		return false
	case !q.Status.IsZero() && u.status != q.Status, q.Status.IsZero() && u.status == StatusDeleted:
		return false
	case q.Role != "" && !u.HasRole(q.Role):
		return false
	case q.MFAEnabled != nil && u.mfaEnabled != *q.MFAEnabled:
		return false
	case q.EmailVerified != nil && u.emailVerified != *q.EmailVerified:
		return false
	case !q.CreatedAfter.IsZero() && !u.createdAt.After(q.CreatedAfter):
		return false
	case !q.CreatedBefore.IsZero() && !u.createdAt.Before(q.CreatedBefore):
		return false
	case !q.LastLoginBefore.IsZero() && !l.LastLoginAt.IsZero() && !l.LastLoginAt.Before(q.LastLoginBefore):
		return false
	}
	return true
}

// Less reports whether a comes before b under sort, ascending; ties are
// broken by id. The descending order is its exact reverse, the id included,
// so a page boundary is exact either way. Strings compare byte by byte
// (databases must use a binary collation to agree).
func Less(a, b Key, sort SortField) bool {
	if sort == SortEmail {
		if a.Email != b.Email {
			return a.Email < b.Email
		}
	} else if !a.Time.Equal(b.Time) {
		return a.Time.Before(b.Time)
	}
	return a.ID < b.ID
}
