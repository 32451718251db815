package memory

import (
	"context"
	"slices"
	"sort"

	"github.com/usermgmt/usermgmt/core/user"
	"github.com/usermgmt/usermgmt/ports"
)

// Directory is the in-memory ports.UserDirectory: a scan of every user,
// filtered by user.Query.Matches and sorted by user.Less, which is the
// meaning the database queries are checked against.
type Directory struct{ s *Store }

// NewDirectory returns the store's Directory.
func NewDirectory(s *Store) *Directory { return &Directory{s} }

var _ ports.UserDirectory = (*Directory)(nil)

// Search returns the page of users q selects.
func (d *Directory) Search(ctx context.Context, q user.Query) ([]user.Listed, bool, error) {
	// Normalising again is idempotent and keeps a careless caller from
	// asking for an unbounded page.
	q, err := q.Normalize()
	if err != nil {
		return nil, false, err
	}
	all, err := d.matching(ctx, q)
	if err != nil {
		return nil, false, err
	}
	less := func(a, b user.Key) bool {
		if q.Descending {
			return user.Less(b, a, q.Sort)
		}
		return user.Less(a, b, q.Sort)
	}
	slices.SortFunc(all, func(a, b user.Listed) int {
		ka, kb := user.KeyOf(a, q.Sort), user.KeyOf(b, q.Sort)
		switch {
		case less(ka, kb):
			return -1
		case less(kb, ka):
			return 1
		}
		return 0
	})
	if q.After != nil {
		// The key's user may have changed or left the listing since: the
		// page starts at the first user strictly after the key, not after
		// that user.
		all = all[sort.Search(len(all), func(i int) bool { return less(*q.After, user.KeyOf(all[i], q.Sort)) }):]
	}
	if len(all) > q.Limit {
		return all[:q.Limit], true, nil
	}
	return all, false, nil
}

func (d *Directory) matching(ctx context.Context, q user.Query) ([]user.Listed, error) {
	defer d.s.lock(ctx)()
	var out []user.Listed
	for id, row := range d.s.users {
		u, err := fromUserRow(row)
		if err != nil {
			return nil, err
		}
		if l := (user.Listed{User: u, LastLoginAt: d.s.lastLogin[id]}); q.Matches(l) {
			out = append(out, l)
		}
	}
	return out, nil
}

// Listed returns the user with id and their last sign-in.
func (d *Directory) Listed(ctx context.Context, id user.ID) (user.Listed, error) {
	defer d.s.lock(ctx)()
	row, ok := d.s.users[string(id)]
	if !ok {
		return user.Listed{}, user.ErrNotFound
	}
	u, err := fromUserRow(row)
	if err != nil {
		return user.Listed{}, err
	}
	return user.Listed{User: u, LastLoginAt: d.s.lastLogin[string(id)]}, nil
}
