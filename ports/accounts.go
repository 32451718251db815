package ports

import (
	"context"
	"time"

	"github.com/usermgmt/usermgmt/core/credential"
	"github.com/usermgmt/usermgmt/core/user"
)

// ImportedAccount is an account brought in from another system: the user,
// as user.Import made it, and the password hash it had there. The hash is
// stored as set when the user was last updated.
type ImportedAccount struct {
	User         user.User
	PasswordHash credential.PasswordHash
}

// AccountImports stores accounts brought in from another system, a batch
// at a time: an import of many thousands makes a few statements per
// batch, not a few per account.
type AccountImports interface {
	// Matching returns the stored users whose id is one of ids, whose
	// email is one of emails or whose username is one of usernames
	// (emails and usernames compared in their normalised, lower-case
	// form), each once, in no particular order.
	Matching(ctx context.Context, ids []user.ID, emails, usernames []string) ([]user.User, error)
	// CreateAccounts stores the accounts, each user with its password
	// hash, in ctx's transaction or one of its own. An id, email or
	// username that a stored user or another of the accounts has is
	// user.ErrIDTaken, user.ErrEmailTaken or user.ErrUsernameTaken (kind
	// Conflict), decided by the store, so concurrent writers race safely.
	// After an error the caller rolls its transaction back, which undoes
	// whatever of the batch was stored.
	CreateAccounts(ctx context.Context, accounts []ImportedAccount) error
}

// UserEraser erases accounts for good once their retention has ended.
type UserEraser interface {
	// EraseDeleted removes up to limit users whose status is deleted and
	// who were deleted before before, oldest deletion first, with
	// everything that is theirs (password, sessions, second factors,
	// one-time tokens, activity), and returns them as they were. It runs
	// in ctx's transaction or one of its own. Concurrent callers, on any
	// number of hosts, never erase one user twice.
	EraseDeleted(ctx context.Context, before time.Time, limit int) ([]user.User, error)
}
