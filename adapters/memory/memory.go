// Package memory implements every port in process memory. It is the stand-in
// for core unit tests and usermgmt.NewInMemory, and passes the same contract
// suites (adapters/adaptertest) as the SQL adapter, so code tested against it
// behaves the same on SQLite and Postgres.
package memory

import (
	"context"
	"sync"
	"time"

	"github.com/usermgmt/usermgmt/core/activity"
	"github.com/usermgmt/usermgmt/core/mfa"
	"github.com/usermgmt/usermgmt/core/role"
	"github.com/usermgmt/usermgmt/core/session"
	"github.com/usermgmt/usermgmt/core/user"
)

// Store holds all state behind one mutex. Transactions hold the mutex for
// their whole run and keep an undo log, so a failed transaction restores
// exactly what it changed.
type Store struct {
	mu          sync.Mutex
	users       map[string]*userRow
	lastLogin   map[string]time.Time // user id -> newest session's start, kept by Sessions.Create
	credentials map[string]credentialRow
	sessions    map[string]*sessionRow
	outbox      []*outboxRow
	keys        []keyRow
	processed   map[string]time.Time // consumer + "/" + event id
	activities  map[string]activity.Activity
	tokens      map[string]tokenRow
	factors     map[factorKey]mfa.Factor
	enrollments map[factorKey]mfa.Enrollment
	backupCodes map[user.ID]map[string]backupCode
	challenges  map[session.TokenHash]mfa.Challenge
	roles       map[string]role.Role
	audit       auditState
}

// New returns an empty store.
func New() *Store {
	return &Store{
		users:       map[string]*userRow{},
		lastLogin:   map[string]time.Time{},
		credentials: map[string]credentialRow{},
		sessions:    map[string]*sessionRow{},
		processed:   map[string]time.Time{},
		activities:  map[string]activity.Activity{},
		tokens:      map[string]tokenRow{},
		factors:     map[factorKey]mfa.Factor{},
		enrollments: map[factorKey]mfa.Enrollment{},
		backupCodes: map[user.ID]map[string]backupCode{},
		challenges:  map[session.TokenHash]mfa.Challenge{},
		roles:       map[string]role.Role{},
	}
}

type txKey struct{}

type txState struct{ undo []func() }

// Transactor runs functions in memory transactions.
type Transactor struct{ s *Store }

// NewTransactor returns the store's Transactor.
func NewTransactor(s *Store) *Transactor { return &Transactor{s} }

// WithinTx runs fn holding the store's lock; a nested call joins the outer
// transaction. If fn fails, its writes are undone in reverse order.
func (t *Transactor) WithinTx(ctx context.Context, fn func(context.Context) error) error {
	if _, ok := ctx.Value(txKey{}).(*txState); ok {
		return fn(ctx)
	}
	// Like a database, refuse to begin once the caller has given up.
	if err := ctx.Err(); err != nil {
		return err
	}
	t.s.mu.Lock()
	defer t.s.mu.Unlock()
	st := &txState{}
	if err := fn(context.WithValue(ctx, txKey{}, st)); err != nil {
		for i := len(st.undo) - 1; i >= 0; i-- {
			st.undo[i]()
		}
		return err
	}
	return nil
}

// lock takes the store's lock unless ctx is inside a transaction, which
// already holds it, and returns the function that releases it.
func (s *Store) lock(ctx context.Context) func() {
	if _, ok := ctx.Value(txKey{}).(*txState); ok {
		return func() {}
	}
	s.mu.Lock()
	return s.mu.Unlock
}

// onRollback registers how to undo a write made with ctx, if it is in a transaction.
func onRollback(ctx context.Context, undo func()) {
	if st, ok := ctx.Value(txKey{}).(*txState); ok {
		st.undo = append(st.undo, undo)
	}
}
