package memory

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/usermgmt/usermgmt/core/user"
	"github.com/usermgmt/usermgmt/ports"
)

// userRow is a user as stored: a snapshot with preferences kept as JSON so
// callers can never alias the stored maps.
type userRow struct {
	snap  user.Stored
	prefs []byte
}

func toUserRow(u user.User) (*userRow, error) {
	s := u.Snapshot()
	p, err := json.Marshal(s.Preferences)
	if err != nil {
		return nil, fmt.Errorf("memory: encode preferences: %w", err)
	}
	s.Preferences = nil
	return &userRow{snap: s, prefs: p}, nil
}

func fromUserRow(r *userRow) (user.User, error) {
	s := r.snap
	if err := json.Unmarshal(r.prefs, &s.Preferences); err != nil {
		return user.User{}, fmt.Errorf("memory: decode preferences: %w", err)
	}
	return user.Rehydrate(s)
}

// Users is the in-memory ports.Users.
type Users struct{ s *Store }

// NewUsers returns the store's Users.
func NewUsers(s *Store) *Users { return &Users{s} }

var _ ports.Users = (*Users)(nil)

// Create stores u unless its email or username is taken.
func (r *Users) Create(ctx context.Context, u user.User) error {
	row, err := toUserRow(u)
	if err != nil {
		return err
	}
	defer r.s.lock(ctx)()
	id := string(u.ID())
	if err := r.conflict(row, id); err != nil {
		return err
	}
	r.s.users[id] = row
	onRollback(ctx, func() { delete(r.s.users, id) })
	return nil
}

// ByID returns the user with id.
func (r *Users) ByID(ctx context.Context, id user.ID) (user.User, error) {
	return r.find(ctx, func(s *user.Stored) bool { return s.ID == id })
}

// ByEmail returns the user with the (normalised) email.
func (r *Users) ByEmail(ctx context.Context, email string) (user.User, error) {
	e, err := user.NormalizeEmail(email)
	if err != nil {
		return user.User{}, user.ErrNotFound
	}
	return r.find(ctx, func(s *user.Stored) bool { return s.Email == e })
}

// ByUsername returns the user with the (normalised) username.
func (r *Users) ByUsername(ctx context.Context, username string) (user.User, error) {
	n, err := user.NormalizeUsername(username)
	if err != nil {
		return user.User{}, user.ErrNotFound
	}
	return r.find(ctx, func(s *user.Stored) bool { return s.Username == n })
}

func (r *Users) find(ctx context.Context, match func(*user.Stored) bool) (user.User, error) {
	defer r.s.lock(ctx)()
	for _, x := range r.s.users {
		if match(&x.snap) {
			return fromUserRow(x)
		}
	}
	return user.User{}, user.ErrNotFound
}

// Update applies fn to the stored user and saves it.
func (r *Users) Update(ctx context.Context, id user.ID, fn func(*user.User) error) (user.User, error) {
	defer r.s.lock(ctx)()
	old, ok := r.s.users[string(id)]
	if !ok {
		return user.User{}, user.ErrNotFound
	}
	u, err := fromUserRow(old)
	if err != nil {
		return user.User{}, err
	}
	if err := fn(&u); err != nil {
		return user.User{}, err
	}
	row, err := toUserRow(u)
	if err != nil {
		return user.User{}, err
	}
	if err := r.conflict(row, string(id)); err != nil {
		return user.User{}, err
	}
	r.s.users[string(id)] = row
	onRollback(ctx, func() { r.s.users[string(id)] = old })
	return fromUserRow(row)
}

// conflict reports whether another user than self holds row's email or username.
func (r *Users) conflict(row *userRow, self string) error {
	for k, x := range r.s.users {
		switch {
		case k == self:
		case x.snap.Email == row.snap.Email:
			return user.ErrEmailTaken
		case x.snap.Username == row.snap.Username:
			return user.ErrUsernameTaken
		}
	}
	return nil
}
