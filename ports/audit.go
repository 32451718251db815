package ports

import (
	"context"
	"time"

	"github.com/usermgmt/usermgmt/core/audit"
)

// AuditLog persists the audit trail: an append-only hash chain (see
// core/audit). Entries are numbered 1, 2, 3... with no gaps; the store
// keeps the chain head (the last entry's seq and hash) and the checkpoint
// the chain restarts from after pruning.
type AuditLog interface {
	// Append adds one entry at the end of the chain. It serialises appends
	// across transactions and hosts (it locks the chain head until ctx's
	// transaction ends), calls seal with the head, and stores what seal
	// returns, which must be sealed on that head (Seq = head.Seq+1, PrevHash
	// = head.Hash); it then advances the head. An error from seal aborts
	// and is returned as is. With a ctx from WithinTx the entry commits or
	// rolls back with the caller's change, and a rolled-back entry leaves
	// the head where it was. Because the head stays locked until commit,
	// callers append last in their transaction and commit promptly: every
	// other audited transaction waits meanwhile. seal may run more than
	// once; it must be pure and quick.
	Append(ctx context.Context, seal func(prev audit.Link) (audit.Entry, error)) (audit.Entry, error)
	// AppendAll appends, in order, the entries seal returns, as Append
	// appends one but under one hold of the head and in one write: seal
	// gets the head and returns entries sealed one on the other, the first
	// on the head. None appends nothing. A change with many events (an
	// import batch, an erasure batch) so holds the head once, briefly.
	AppendAll(ctx context.Context, seal func(prev audit.Link) ([]audit.Entry, error)) ([]audit.Entry, error)
	// Head returns the chain head: audit.Genesis() before the first append.
	Head(ctx context.Context) (audit.Link, error)
	// Search returns up to limit entries that match f, newest first (by
	// seq), with seq below before (0: from the newest). next is the before
	// of the following page, 0 when there is none.
	Search(ctx context.Context, f audit.Filter, before int64, limit int) (items []audit.Entry, next int64, err error)
	// Scan calls fn with every entry that matches f and has a seq above
	// after, in seq order. It reads in batches, holding no transaction or
	// cursor open while fn runs, so it suits exports of any size; entries
	// appended meanwhile may or may not be seen. An error from fn stops the
	// scan and is returned as is.
	Scan(ctx context.Context, f audit.Filter, after int64, fn func(audit.Entry) error) error
	// Checkpoint returns where the chain restarts after pruning, and false
	// (with the zero Checkpoint, the genesis) when nothing was pruned.
	Checkpoint(ctx context.Context) (audit.Checkpoint, bool, error)
	// Prune deletes, in ctx's transaction or one of its own, up to limit of
	// the oldest entries: the run of consecutive entries after the
	// checkpoint whose At is before before, ending at the first newer one
	// (At may go slightly back and forth along the chain, which must stay
	// whole). Any entry may go, the head's included. It calls seal with the
	// current checkpoint (the zero Checkpoint if none) and the entries about
	// to go, in seq order, and stores the checkpoint seal returns, which
	// must end them, in place of the current one; an error from seal aborts
	// and is returned as is. With nothing to prune it returns 0 without
	// calling seal. Concurrent Prunes, on any number of hosts, take turns
	// and never delete an entry twice. It returns how many it deleted.
	Prune(ctx context.Context, before time.Time, limit int,
		seal func(cur audit.Checkpoint, pruned []audit.Entry) (audit.Checkpoint, error)) (int, error)
}
