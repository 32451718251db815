package ports

import (
	"context"
	"time"

	"github.com/usermgmt/usermgmt/core/role"
	"github.com/usermgmt/usermgmt/core/session"
	"github.com/usermgmt/usermgmt/core/user"
)

// Roles persists custom roles; the built-in ones live in code.
type Roles interface {
	// List returns every custom role, by name.
	List(ctx context.Context) ([]role.Role, error)
	// Get returns role.ErrNotFound when there is no custom role of that name.
	Get(ctx context.Context, name string) (role.Role, error)
	// Create returns role.ErrExists when the name is taken, even by a
	// concurrent Create.
	Create(ctx context.Context, r role.Role) error
	// Update locks the role, applies fn and saves the result; fn may run
	// more than once. role.ErrNotFound when there is none.
	Update(ctx context.Context, name string, fn func(*role.Role) error) (role.Role, error)
	// Delete returns role.ErrNotFound when there is none.
	Delete(ctx context.Context, name string) error
}

// SessionReissuer moves a user's live sessions onto new ids, so that every
// access token of the old ids is refused at once (through the revocations
// it returns) while the refresh tokens keep working: the next refresh
// mints a token with the user's roles as they are now (AC-06).
type SessionReissuer interface {
	// Reissue gives each live session of uid a new id from newID, carrying
	// its refresh token and the memory of its rotated ones, and ends the
	// old id with session.ReasonReissued at at. It returns the old ids.
	Reissue(ctx context.Context, uid user.ID, newID func() session.ID, at time.Time) ([]session.Revocation, error)
}
