package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/uptrace/bun"

	"github.com/usermgmt/usermgmt/core/user"
	"github.com/usermgmt/usermgmt/ports"
)

// Names of the unique indexes whose violations mean a taken id, email or
// username (SQLite names a primary key by its column).
const (
	usersEmailKey    = "users_email_key"
	usersUsernameKey = "users_username_key"
	usersPKey        = "users_pkey"
	usersPKeySQLite  = "users.id"
)

// maxUpdateAttempts bounds the retries of Users.Update after a serialization
// failure or deadlock.
const maxUpdateAttempts = 5

// Users is the ports.Users of a database.
type Users struct{ db *DB }

var _ ports.Users = (*Users)(nil)

// NewUsers returns the user repository of db.
func NewUsers(db *DB) *Users { return &Users{db: db} }

type userRow struct {
	bun.BaseModel `bun:"table:users,alias:u"`

	ID            string `bun:"id,pk"`
	Email         string `bun:"email"`
	Username      string `bun:"username"`
	DisplayName   string `bun:"display_name"`
	Status        string `bun:"status"`
	Roles         string `bun:"roles"` // JSON array
	EmailVerified bool   `bun:"email_verified"`
	MFAEnabled    bool   `bun:"mfa_enabled"`
	Preferences   string `bun:"preferences"` // JSON object
	AvatarURL     string `bun:"avatar_url"`
	Locale        string `bun:"locale"`
	TimeZone      string `bun:"time_zone"`
	CreatedAt     dbTime `bun:"created_at"`
	UpdatedAt     dbTime `bun:"updated_at"`
	DeletedAt     dbTime `bun:"deleted_at"` // NULL unless deleted
	Version       int64  `bun:"version"`
	// SearchText is what the directory's text filter matches (see
	// searchText); written with the row, never read back into a user.
	SearchText string `bun:"search_text"`
}

// userColumns lists the columns of userRow that make a user, for raw
// statements.
const userColumns = `id, email, username, display_name, status, roles, email_verified, mfa_enabled,
	preferences, avatar_url, locale, time_zone, created_at, updated_at, deleted_at, version`

func toUserRow(u user.User) (userRow, error) {
	s := u.Snapshot()
	roles, err := json.Marshal(s.Roles)
	if err != nil {
		return userRow{}, fmt.Errorf("sqlstore: encode roles of user %s: %w", s.ID, err)
	}
	prefs := s.Preferences
	if prefs == nil {
		prefs = user.Preferences{}
	}
	p, err := json.Marshal(prefs)
	if err != nil {
		return userRow{}, fmt.Errorf("sqlstore: encode preferences of user %s: %w", s.ID, err)
	}
	return userRow{ID: string(s.ID), Email: s.Email, Username: s.Username, DisplayName: s.DisplayName,
		Status: s.Status, Roles: string(roles), EmailVerified: s.EmailVerified, MFAEnabled: s.MFAEnabled,
		Preferences: string(p), AvatarURL: s.AvatarURL, Locale: s.Locale, TimeZone: s.TimeZone,
		CreatedAt: at(s.CreatedAt), UpdatedAt: at(s.UpdatedAt), DeletedAt: at(s.DeletedAt), Version: s.Version,
		SearchText: searchText(s.Email, s.Username, s.DisplayName)}, nil
}

// searchSeparator joins the fields of search_text: a normalised
// user.Query text never holds a control character, so no match spans two
// fields.
const searchSeparator = "\x01"

// searchText is the users.search_text of a user: the fields
// user.Query.Matches looks in, folded as it folds them (email and username
// are stored lower-case already). Folding here rather than with SQL lower()
// keeps SQLite, whose lower() knows only ASCII, exact.
func searchText(email, username, displayName string) string {
	return email + searchSeparator + username + searchSeparator + strings.ToLower(displayName)
}

func fromUserRow(r userRow) (user.User, error) {
	s := user.Stored{ID: user.ID(r.ID), Email: r.Email, Username: r.Username, DisplayName: r.DisplayName,
		Status: r.Status, EmailVerified: r.EmailVerified, MFAEnabled: r.MFAEnabled,
		AvatarURL: r.AvatarURL, Locale: r.Locale, TimeZone: r.TimeZone,
		CreatedAt: r.CreatedAt.Time, UpdatedAt: r.UpdatedAt.Time, DeletedAt: r.DeletedAt.Time, Version: r.Version}
	if err := json.Unmarshal([]byte(r.Roles), &s.Roles); err != nil {
		return user.User{}, user.ErrCorrupt.Wrap(fmt.Errorf("roles of user %s: %w", r.ID, err))
	}
	if err := json.Unmarshal([]byte(r.Preferences), &s.Preferences); err != nil {
		return user.User{}, user.ErrCorrupt.Wrap(fmt.Errorf("preferences of user %s: %w", r.ID, err))
	}
	return user.Rehydrate(s)
}

// Create stores u; a taken email or username is user.ErrEmailTaken or
// user.ErrUsernameTaken, decided by the unique indexes (so concurrent
// Creates race safely).
func (r *Users) Create(ctx context.Context, u user.User) error {
	row, err := toUserRow(u)
	if err != nil {
		return err
	}
	idb := r.db.conn(ctx)
	err = r.db.guarded(ctx, idb, func() error {
		_, err := idb.NewInsert().Model(&row).Exec(ctx)
		return err
	})
	if err != nil {
		if taken := takenError(err); taken != nil {
			return taken
		}
		return fmt.Errorf("sqlstore: insert user %s: %w", u.ID(), err)
	}
	return nil
}

// takenError translates a unique violation of the id, email or username,
// or returns nil.
func takenError(err error) error {
	if kind, name := classify(err); kind == failUnique {
		switch name {
		case usersEmailKey:
			return user.ErrEmailTaken
		case usersUsernameKey:
			return user.ErrUsernameTaken
		case usersPKey, usersPKeySQLite:
			return user.ErrIDTaken
		}
	}
	return nil
}

// ByID returns the user with id or user.ErrNotFound.
func (r *Users) ByID(ctx context.Context, id user.ID) (user.User, error) {
	return r.one(ctx, "u.id = ?", string(id))
}

// ByEmail returns the user whose email is email, compared in lower case.
func (r *Users) ByEmail(ctx context.Context, email string) (user.User, error) {
	return r.one(ctx, "lower(u.email) = ?", strings.ToLower(strings.TrimSpace(email)))
}

// ByUsername returns the user whose username is username, compared in lower case.
func (r *Users) ByUsername(ctx context.Context, username string) (user.User, error) {
	return r.one(ctx, "lower(u.username) = ?", strings.ToLower(strings.TrimSpace(username)))
}

func (r *Users) one(ctx context.Context, where string, arg any) (user.User, error) {
	var row userRow
	err := r.db.readConn(ctx).NewSelect().Model(&row).Where(where, arg).Limit(1).Scan(ctx)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return user.User{}, user.ErrNotFound
	case err != nil:
		return user.User{}, fmt.Errorf("sqlstore: select user: %w", err)
	}
	return fromUserRow(row)
}

// Update locks the user's row (SELECT ... FOR UPDATE on Postgres; SQLite
// transactions hold the database's write lock from BEGIN IMMEDIATE), applies
// fn and saves the result with a version check. Without a transaction in ctx
// it runs in its own, retried on serialization failures and deadlocks; fn may
// therefore run more than once. fn's error is returned as is.
func (r *Users) Update(ctx context.Context, id user.ID, fn func(*user.User) error) (user.User, error) {
	_, joined := r.db.tx(ctx) // the caller's transaction must survive a failed save
	for attempt := 1; ; attempt++ {
		var (
			out   user.User
			fnErr error
		)
		owned, err := r.db.inTx(ctx, func(ctx context.Context, tx bun.IDB) error {
			var row userRow
			q := tx.NewSelect().Model(&row).Where("u.id = ?", string(id))
			if r.db.postgres() {
				q = q.For("UPDATE")
			}
			if err := q.Scan(ctx); err != nil {
				if errors.Is(err, sql.ErrNoRows) {
					return user.ErrNotFound
				}
				return fmt.Errorf("sqlstore: lock user %s: %w", id, err)
			}
			u, err := fromUserRow(row)
			if err != nil {
				return err
			}
			if err := fn(&u); err != nil {
				fnErr = err
				return err
			}
			if u.ID() != id {
				return fmt.Errorf("sqlstore: update of user %s changed its id to %s", id, u.ID())
			}
			next, err := toUserRow(u)
			if err != nil {
				return err
			}
			var res sql.Result
			save := func() (err error) {
				res, err = tx.NewUpdate().Model(&next).ExcludeColumn("id", "created_at").
					WherePK().Where("u.version = ?", row.Version).Exec(ctx)
				return err
			}
			if joined {
				err = r.db.guarded(ctx, tx, save)
			} else {
				err = save()
			}
			if err != nil {
				if taken := takenError(err); taken != nil {
					return taken
				}
				return fmt.Errorf("sqlstore: update user %s: %w", id, err)
			}
			n, err := res.RowsAffected()
			if err != nil {
				return fmt.Errorf("sqlstore: update user %s: %w", id, err)
			}
			if n != 1 {
				// Cannot happen while the row is locked; treat it as a lost race.
				return fmt.Errorf("sqlstore: update user %s: version %d changed concurrently: %w", id, row.Version, errConcurrentUpdate)
			}
			out = u
			return nil
		})
		switch {
		case fnErr != nil:
			return user.User{}, fnErr
		case err == nil:
			return out, nil
		case owned && attempt < maxUpdateAttempts && retryable(err):
			continue
		}
		return user.User{}, err
	}
}

// errConcurrentUpdate marks an optimistic check that failed; Update retries it.
var errConcurrentUpdate = errors.New("concurrent update")

func retryable(err error) bool {
	if errors.Is(err, errConcurrentUpdate) {
		return true
	}
	kind, _ := classify(err)
	return kind == failRetry
}
