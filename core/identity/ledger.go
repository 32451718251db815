package identity

import (
	"context"
	"time"

	"github.com/usermgmt/usermgmt/core/event"
	"github.com/usermgmt/usermgmt/core/user"
	"github.com/usermgmt/usermgmt/ports"
)

// Ledger commits a state change together with the events it causes: the
// events go to the outbox inside the change's own transaction, so an event
// is published if and only if its change happened.
type Ledger struct {
	tx     ports.Transactor
	outbox ports.Outbox
	ids    ports.IDs
}

// NewLedger returns the Ledger over a store's transactor and outbox.
func NewLedger(tx ports.Transactor, outbox ports.Outbox, ids ports.IDs) (*Ledger, error) {
	if tx == nil || outbox == nil || ids == nil {
		return nil, missing("NewLedger")
	}
	return &Ledger{tx: tx, outbox: outbox, ids: ids}, nil
}

// commit runs fn in one transaction; repositories called with its ctx join it.
func (l *Ledger) commit(ctx context.Context, fn func(ctx context.Context) error) error {
	return l.tx.WithinTx(ctx, fn)
}

// record appends the event p about subject, in the caller's transaction.
func (l *Ledger) record(ctx context.Context, subject user.ID, at time.Time, p event.Payload) error {
	return l.outbox.Append(ctx, l.event(subject, at, p))
}

// recordAll appends evs, in the caller's transaction.
func (l *Ledger) recordAll(ctx context.Context, evs ...event.Event) error {
	return l.outbox.Append(ctx, evs...)
}

func (l *Ledger) event(subject user.ID, at time.Time, p event.Payload) event.Event {
	return event.New(l.ids.NewID(), string(subject), at, p)
}
