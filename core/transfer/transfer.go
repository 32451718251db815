// Package transfer moves accounts across the service's edge in bulk: the
// import of accounts from another system, which keeps their ids, creation
// times and password hashes, and the streaming export of every account.
//
// An import is made to be run again. A record whose account is already
// there is unchanged, so a run that was interrupted resumes by running it
// once more, and a second run of the same file changes nothing.
package transfer

import (
	"context"
	"errors"
	"fmt"

	"github.com/usermgmt/usermgmt/core/user"
	"github.com/usermgmt/usermgmt/ports"
)

// Exporter streams every account out of the directory.
type Exporter struct{ dir ports.UserDirectory }

// NewExporter returns the export over dir.
func NewExporter(dir ports.UserDirectory) (*Exporter, error) {
	if dir == nil {
		return nil, errors.New("transfer.NewExporter: missing dependency")
	}
	return &Exporter{dir: dir}, nil
}

// Export calls fn with every account: active and inactive ones, then
// deleted ones (kept until their erasure), each in order of creation. It
// reads a page at a time by keyset, so it never holds more than a page and
// an account created meanwhile is seen or not, never twice. An error from
// fn stops it and is returned as is.
func (e *Exporter) Export(ctx context.Context, fn func(user.Listed) error) error {
	for _, st := range []user.Status{{}, user.StatusDeleted} {
		q := user.Query{Status: st, Sort: user.SortCreatedAt, Limit: user.MaxPageSize}
		for {
			page, more, err := e.dir.Search(ctx, q)
			if err != nil {
				return fmt.Errorf("export users: %w", err)
			}
			for _, l := range page {
				if err := fn(l); err != nil {
					return err
				}
			}
			if !more || len(page) == 0 {
				break
			}
			k := user.KeyOf(page[len(page)-1], q.Sort)
			q.After = &k
		}
	}
	return nil
}
