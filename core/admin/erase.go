package admin

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/usermgmt/usermgmt/core/audit"
	"github.com/usermgmt/usermgmt/core/auditlog"
	"github.com/usermgmt/usermgmt/ports"
)

// EraseBatch is how many accounts one transaction of an erasure removes:
// each cascades to the account's sessions, factors and tokens, so batches
// stay small and their locks short.
const EraseBatch = 100

// ActionErased is the audit action of an account erased at the end of its
// retention.
const ActionErased = "user.erased"

// eraseActor is who the audit trail says erased accounts.
var eraseActor = audit.Actor{Kind: audit.ActorSystem, ID: "retention"}

// Erasure ends the lifecycle Delete begins: an account deleted longer ago
// than the retention, in which Restore can bring it back, is erased for
// good with everything that is its own. It is the system's job (the
// worker's prune), not an administrator's, so it takes no principal; each
// erased account leaves an audit entry user.erased by the system in the
// transaction that erases it.
type Erasure struct {
	tx        ports.Transactor
	users     ports.UserEraser
	trail     *auditlog.Log
	clock     ports.Clock
	retention time.Duration
}

// NewErasure returns the erasure of accounts deleted longer than retention
// ago; it must be the retention Users restores within.
func NewErasure(tx ports.Transactor, users ports.UserEraser, trail *auditlog.Log, clock ports.Clock, retention time.Duration) (*Erasure, error) {
	if tx == nil || users == nil || trail == nil || clock == nil {
		return nil, errors.New("admin.NewErasure: missing dependency")
	}
	if retention <= 0 {
		return nil, errors.New("admin.NewErasure: the retention must be positive")
	}
	return &Erasure{tx: tx, users: users, trail: trail, clock: clock, retention: retention}, nil
}

// EraseExpired erases every account whose retention has ended, a batch per
// transaction, and returns how many it erased; progress, if set, learns
// the running total after each batch. Hosts may run it at once: no account
// is erased twice.
func (e *Erasure) EraseExpired(ctx context.Context, progress func(erased int)) (int, error) {
	total := 0
	for {
		if err := ctx.Err(); err != nil {
			return total, fmt.Errorf("erase deleted users: %w", err)
		}
		n := 0
		err := e.tx.WithinTx(ctx, func(ctx context.Context) error {
			now := e.clock.Now()
			gone, err := e.users.EraseDeleted(ctx, now.Add(-e.retention), EraseBatch)
			if err != nil {
				return err
			}
			entries := make([]audit.Entry, len(gone))
			for i, u := range gone {
				entries[i] = audit.Entry{At: now, Actor: eraseActor, Action: ActionErased, Target: string(u.ID()),
					Outcome: audit.Success, Details: map[string]string{
						"deletedAt": u.DeletedAt().Format(time.RFC3339), "retention": e.retention.String()}}
			}
			n = len(gone)
			return e.trail.RecordAll(ctx, entries...)
		})
		if err != nil {
			return total, fmt.Errorf("erase deleted users: %w", err)
		}
		total += n
		if progress != nil && n > 0 {
			progress(total)
		}
		if n < EraseBatch {
			return total, nil
		}
	}
}
