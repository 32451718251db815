package admin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/usermgmt/usermgmt/core/errs"
	"github.com/usermgmt/usermgmt/core/role"
	"github.com/usermgmt/usermgmt/core/token"
	"github.com/usermgmt/usermgmt/core/user"
	"github.com/usermgmt/usermgmt/ports"
)

// ErrInvalidCursor refuses a cursor this service did not make for the same
// filters and order.
var ErrInvalidCursor = errs.New(errs.Invalid, "admin.invalid_cursor", "invalid query").
	WithFields(errs.FieldError{Field: "cursor", Message: "is not a cursor of this listing"})

// Directory finds accounts for staff.
type Directory struct {
	dir  ports.UserDirectory
	box  ports.SecretBox
	auth *Authorizer
}

// NewDirectory returns the account search. Cursors are sealed by box:
// opaque to clients, and bound to the filters and order they continue.
func NewDirectory(dir ports.UserDirectory, box ports.SecretBox, auth *Authorizer) (*Directory, error) {
	if dir == nil || box == nil || auth == nil {
		return nil, errors.New("admin.NewDirectory: missing dependency")
	}
	return &Directory{dir: dir, box: box, auth: auth}, nil
}

// Page is one page of a listing; Next continues it ("" on the last page).
type Page struct {
	Items []user.Listed
	Next  string
}

// Search lists the accounts matching q after cursor (users:read).
func (d *Directory) Search(ctx context.Context, p token.Claims, q user.Query, cursor string) (Page, error) {
	if _, err := d.auth.Principal(ctx, p, role.UsersRead); err != nil {
		return Page{}, fmt.Errorf("search users: %w", err)
	}
	q, err := q.Normalize()
	if err != nil {
		return Page{}, err
	}
	if cursor != "" {
		k, err := d.open(cursor, q)
		if err != nil {
			return Page{}, err
		}
		q.After = &k
	}
	items, more, err := d.dir.Search(ctx, q)
	if err != nil {
		return Page{}, fmt.Errorf("search users: %w", err)
	}
	page := Page{Items: items}
	if more && len(items) > 0 {
		if page.Next, err = d.seal(user.KeyOf(items[len(items)-1], q.Sort), q); err != nil {
			return Page{}, fmt.Errorf("search users: %w", err)
		}
	}
	return page, nil
}

// Get returns one account (users:read).
func (d *Directory) Get(ctx context.Context, p token.Claims, id user.ID) (user.Listed, error) {
	if _, err := d.auth.Principal(ctx, p, role.UsersRead); err != nil {
		return user.Listed{}, fmt.Errorf("get user: %w", err)
	}
	l, err := d.dir.Listed(ctx, id)
	if err != nil {
		return user.Listed{}, fmt.Errorf("get user: %w", err)
	}
	return l, nil
}

type cursorKey struct {
	E string    `json:"e,omitempty"`
	T time.Time `json:"t"`
	I user.ID   `json:"i"`
}

// binding is what a cursor is sealed to: every filter and the order, so a
// cursor replayed under other filters fails to open rather than skipping
// or repeating items.
func binding(q user.Query) []byte {
	q.After, q.Limit = nil, 0
	b, _ := json.Marshal(struct {
		Q user.Query
		S string
	}{q, q.Status.String()})
	return append([]byte("admin.users.cursor\x00"), b...)
}

func (d *Directory) seal(k user.Key, q user.Query) (string, error) {
	b, err := json.Marshal(cursorKey{E: k.Email, T: k.Time, I: k.ID})
	if err != nil {
		return "", err
	}
	return sealCursor(d.box, b, binding(q))
}

func (d *Directory) open(cursor string, q user.Query) (user.Key, error) {
	b, err := openCursor(d.box, cursor, binding(q))
	if err != nil {
		return user.Key{}, err
	}
	var k cursorKey
	if err := json.Unmarshal(b, &k); err != nil || k.I == "" {
		return user.Key{}, ErrInvalidCursor
	}
	return user.Key{Email: k.E, Time: k.T, ID: k.I}, nil
}
