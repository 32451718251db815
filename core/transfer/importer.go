package transfer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/usermgmt/usermgmt/core/audit"
	"github.com/usermgmt/usermgmt/core/credential"
	"github.com/usermgmt/usermgmt/core/errs"
	"github.com/usermgmt/usermgmt/core/event"
	"github.com/usermgmt/usermgmt/core/role"
	"github.com/usermgmt/usermgmt/core/user"
	"github.com/usermgmt/usermgmt/ports"
)

// DefaultBatch is how many records an import stores per transaction: big
// enough that the per-transaction cost vanishes, small enough that the
// audit chain head, which every audited change waits for, is held briefly.
const DefaultBatch = 500

// Conflicts of a record with an account that is there (or comes earlier
// in the file). An account is the same when its email, username and
// creation time are (and its id, when the record gives one); a display
// name or role changed since an earlier import is no conflict, and stays.
var (
	ErrIDConflict       = errs.New(errs.Conflict, "import.id_conflict", "the id belongs to an account with another email, username or creation time")
	ErrEmailConflict    = errs.New(errs.Conflict, "import.email_conflict", "the email belongs to another account")
	ErrUsernameConflict = errs.New(errs.Conflict, "import.username_conflict", "the username belongs to another account")
)

// importActor is who the audit trail says created imported accounts.
var importActor = audit.Actor{Kind: audit.ActorSystem, ID: "import"}

// Record is one account as an import file gives it.
type Record struct {
	Line int // where the record starts in its file, from 1
	// ID is optional: a UUID the account keeps, or empty for a new UUIDv7.
	ID, Email, Username, DisplayName string
	// Role is a built-in or existing custom role; empty is "user".
	Role string
	// PasswordHash is argon2id in PHC form or bcrypt ($2a$, $2b$, $2y$).
	PasswordHash string
	CreatedAt    time.Time
	// Err says why the line could not be read as a record; it fails alone.
	Err error
}

// Source yields the records of a file in order.
type Source interface {
	// Next returns the next record, or io.EOF after the last. Any other
	// error ends the import: the rest of the file cannot be read.
	Next() (Record, error)
}

// Status is what an import did with a record.
type Status string

// The statuses. In a dry run, Created means it would be created.
const (
	Created   Status = "created"
	Unchanged Status = "unchanged"
	Failed    Status = "failed"
)

// Result is the outcome of one record.
type Result struct {
	Line   int
	ID     user.ID // the account's id; empty when the record failed
	Status Status
	Err    error // why it failed: an Invalid or Conflict error
}

// Summary counts the outcomes of an import.
type Summary struct{ Created, Unchanged, Failed int }

// Options tune an import.
type Options struct {
	// DryRun validates and looks up every record but writes nothing.
	DryRun bool
	// Batch is how many records go in one transaction (DefaultBatch).
	Batch int
	// OnResult, if set, learns each record's outcome, in file order, once
	// its batch is done.
	OnResult func(Result)
}

// ImporterDeps are the ports an import drives; all are required. Outbox
// is the audit recorder's, so each user.created is audited with it.
type ImporterDeps struct {
	Tx       ports.Transactor
	Accounts ports.AccountImports
	Roles    ports.Roles
	Hashes   ports.HashChecker
	Outbox   ports.Outbox
	Clock    ports.Clock
	IDs      ports.IDs
}

// Importer imports accounts from another system.
type Importer struct{ d ImporterDeps }

// NewImporter returns the import over d.
func NewImporter(d ImporterDeps) (*Importer, error) {
	if d.Tx == nil || d.Accounts == nil || d.Roles == nil || d.Hashes == nil || d.Outbox == nil || d.Clock == nil || d.IDs == nil {
		return nil, errors.New("transfer.NewImporter: missing dependency")
	}
	return &Importer{d: d}, nil
}

// Import reads src to its end and creates the accounts it names, a batch
// per transaction, each with its password hash and a user.created event
// (metadata source "import") audited as the system's "import". Every
// record is checked against the rules of a new account before its batch
// is stored, so a bad record fails alone; should the store still refuse a
// batch (an account created meanwhile by someone else), its records are
// stored one by one. A record whose account is there already is
// Unchanged. The error is for what ends the import early (the source, the
// store, ctx): the summary counts what was done until then, and running
// the import again resumes it.
func (im *Importer) Import(ctx context.Context, src Source, o Options) (Summary, error) {
	if o.Batch <= 0 {
		o.Batch = DefaultBatch
	}
	r := &importRun{im: im, o: o, roles: map[string]bool{}, known: newIndex()}
	ctx = audit.WithActor(ctx, importActor)
	for {
		if err := ctx.Err(); err != nil {
			return r.sum, fmt.Errorf("import users: %w", err)
		}
		batch, readErr := r.read(ctx, src)
		if err := r.apply(ctx, batch); err != nil {
			return r.sum, fmt.Errorf("import users: %w", err)
		}
		switch {
		case errors.Is(readErr, io.EOF):
			return r.sum, nil
		case readErr != nil:
			return r.sum, fmt.Errorf("import users: %w", readErr)
		}
	}
}

// item is a record on its way through a batch.
type item struct {
	acct    ports.ImportedAccount
	givenID bool
	res     Result // Status set once decided
}

func (it *item) fail(err error) { it.res.Status, it.res.Err, it.res.ID = Failed, err, "" }

// importRun is the state of one Import.
type importRun struct {
	im    *Importer
	o     Options
	sum   Summary
	roles map[string]bool // role names checked so far, and whether they exist
	// known holds the accounts this run has decided to create and the
	// store does not have yet: those of the batch under way, and in a dry
	// run every one so far, so later records are judged as if they were
	// stored.
	known *index
}

// read takes up to a batch of records from src and checks each. It
// returns what it read with io.EOF at the end of src, or with the error
// that ends the import.
func (r *importRun) read(ctx context.Context, src Source) ([]*item, error) {
	now := r.im.d.Clock.Now()
	var batch []*item
	for len(batch) < r.o.Batch {
		rec, err := src.Next()
		if err != nil {
			return batch, err
		}
		it := &item{res: Result{Line: rec.Line}}
		if rec.Err != nil {
			it.fail(rec.Err)
		} else if err := r.check(ctx, rec, now, it); err != nil {
			if errs.KindOf(err) != errs.Invalid {
				return batch, err
			}
			it.fail(err)
		}
		batch = append(batch, it)
	}
	return batch, nil
}

// check applies the rules of a new account to rec and fills it.
func (r *importRun) check(ctx context.Context, rec Record, now time.Time, it *item) error {
	var v errs.Validation
	id, given := user.ID(r.im.d.IDs.NewID()), rec.ID != ""
	if given {
		parsed, err := user.ParseID(rec.ID)
		v.Check("id", err)
		if err == nil {
			id = parsed
		}
	}
	u, err := user.Import(id, rec.Email, rec.Username, rec.DisplayName, rec.CreatedAt, now)
	if err := v.Merge(err); err != nil {
		return err
	}
	if err := r.checkRole(ctx, &v, rec.Role); err != nil {
		return err
	}
	if rec.PasswordHash == "" {
		v.Add("passwordHash", "is required")
	} else {
		v.Check("passwordHash", r.im.d.Hashes.CheckHash(credential.PasswordHash(rec.PasswordHash)))
	}
	if err := v.Err(); err != nil {
		return err
	}
	if rec.Role != "" && rec.Role != user.RoleUser {
		if err := u.GrantRole(rec.Role, now); err != nil {
			return err
		}
	}
	it.acct = ports.ImportedAccount{User: u, PasswordHash: credential.PasswordHash(rec.PasswordHash)}
	it.givenID = given
	return nil
}

// checkRole records in v whether name is a built-in role or a custom one
// that exists; only a failure to look it up is returned.
func (r *importRun) checkRole(ctx context.Context, v *errs.Validation, name string) error {
	if name == "" {
		return nil
	}
	if !role.ValidName(name) {
		v.Add("role", role.ErrInvalidName.Msg)
		return nil
	}
	exists, seen := r.roles[name]
	if !seen {
		if _, ok := role.BuiltInRole(name); ok {
			exists = true
		} else {
			_, err := r.im.d.Roles.Get(ctx, name)
			if err != nil && !errors.Is(err, role.ErrNotFound) {
				return fmt.Errorf("look up role %q: %w", name, err)
			}
			exists = err == nil
		}
		r.roles[name] = exists
	}
	if !exists {
		v.Add("role", "names a role that does not exist")
	}
	return nil
}

// apply decides and stores a batch, then reports it.
func (r *importRun) apply(ctx context.Context, batch []*item) error {
	var pending []*item
	for _, it := range batch {
		if it.res.Status == "" {
			pending = append(pending, it)
		}
	}
	if len(pending) > 0 {
		stored, err := r.im.matching(ctx, pending)
		if err != nil {
			return err
		}
		var fresh []*item
		for _, it := range pending {
			if decide(it, stored, r.known) {
				fresh = append(fresh, it)
				r.known.add(it.acct.User)
			}
		}
		if !r.o.DryRun && len(fresh) > 0 {
			err := r.im.store(ctx, fresh)
			if errs.KindOf(err) == errs.Conflict {
				err = r.im.oneByOne(ctx, fresh)
			}
			if err != nil {
				return err
			}
		}
		if !r.o.DryRun {
			r.known = newIndex()
		}
	}
	for _, it := range batch {
		switch it.res.Status {
		case Created:
			r.sum.Created++
		case Unchanged:
			r.sum.Unchanged++
		default:
			r.sum.Failed++
		}
		if r.o.OnResult != nil {
			r.o.OnResult(it.res)
		}
	}
	return nil
}

// matching looks up the stored accounts that share an id, email or
// username with items.
func (im *Importer) matching(ctx context.Context, items []*item) (*index, error) {
	ids := make([]user.ID, 0, len(items))
	emails := make([]string, 0, len(items))
	names := make([]string, 0, len(items))
	for _, it := range items {
		if it.givenID {
			ids = append(ids, it.acct.User.ID())
		}
		emails = append(emails, it.acct.User.Email())
		names = append(names, it.acct.User.Username())
	}
	us, err := im.d.Accounts.Matching(ctx, ids, emails, names)
	if err != nil {
		return nil, fmt.Errorf("look up accounts: %w", err)
	}
	x := newIndex()
	for _, u := range us {
		x.add(u)
	}
	return x, nil
}

// decide judges it against the stored accounts and those this run will
// create, and reports whether it is new. Otherwise its result is set.
func decide(it *item, stored, known *index) bool {
	u := it.acct.User
	find := func(f func(*index) (user.User, bool)) (user.User, bool) {
		if v, ok := f(known); ok {
			return v, true
		}
		return f(stored)
	}
	same := func(o user.User) bool {
		return o.Email() == u.Email() && o.Username() == u.Username() && o.CreatedAt().Equal(u.CreatedAt())
	}
	if it.givenID {
		if o, ok := find(func(x *index) (user.User, bool) { v, ok := x.byID[u.ID()]; return v, ok }); ok {
			if !same(o) {
				it.fail(ErrIDConflict)
				return false
			}
			it.res.ID, it.res.Status = o.ID(), Unchanged
			return false
		}
	}
	if o, ok := find(func(x *index) (user.User, bool) { v, ok := x.byEmail[u.Email()]; return v, ok }); ok {
		if it.givenID || !same(o) {
			it.fail(ErrEmailConflict)
			return false
		}
		it.res.ID, it.res.Status = o.ID(), Unchanged
		return false
	}
	if _, ok := find(func(x *index) (user.User, bool) { v, ok := x.byName[u.Username()]; return v, ok }); ok {
		it.fail(ErrUsernameConflict)
		return false
	}
	it.res.ID, it.res.Status = u.ID(), Created
	return true
}

// store creates items' accounts and their events in one transaction.
func (im *Importer) store(ctx context.Context, items []*item) error {
	now := im.d.Clock.Now()
	accts := make([]ports.ImportedAccount, len(items))
	evs := make([]event.Event, len(items))
	for i, it := range items {
		u := it.acct.User
		accts[i] = it.acct
		evs[i] = event.New(im.d.IDs.NewID(), string(u.ID()), now, event.UserCreated{
			UserID: string(u.ID()), Email: u.Email(), Username: u.Username(), Role: u.Role(),
			RegistrationMethod: event.MethodEmail, Metadata: map[string]string{"source": "import"},
		})
	}
	return im.d.Tx.WithinTx(ctx, func(ctx context.Context) error {
		if err := im.d.Accounts.CreateAccounts(ctx, accts); err != nil {
			return err
		}
		return im.d.Outbox.Append(ctx, evs...)
	})
}

// oneByOne stores each item in a transaction of its own, looked up again
// in it: what the store refuses now fails alone.
func (im *Importer) oneByOne(ctx context.Context, items []*item) error {
	for _, it := range items {
		err := im.d.Tx.WithinTx(ctx, func(ctx context.Context) error {
			stored, err := im.matching(ctx, []*item{it})
			if err != nil {
				return err
			}
			if !decide(it, stored, newIndex()) {
				return nil
			}
			return im.store(ctx, []*item{it})
		})
		switch {
		case errs.KindOf(err) == errs.Conflict:
			it.fail(err)
		case err != nil:
			return err
		}
	}
	return nil
}

// index finds accounts by id, email and username.
type index struct {
	byID    map[user.ID]user.User
	byEmail map[string]user.User
	byName  map[string]user.User
}

func newIndex() *index {
	return &index{byID: map[user.ID]user.User{}, byEmail: map[string]user.User{}, byName: map[string]user.User{}}
}

func (x *index) add(u user.User) {
	x.byID[u.ID()], x.byEmail[u.Email()], x.byName[u.Username()] = u, u, u
}
