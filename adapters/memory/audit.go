package memory

import (
	"cmp"
	"context"
	"errors"
	"maps"
	"slices"
	"time"

	"github.com/usermgmt/usermgmt/core/audit"
	"github.com/usermgmt/usermgmt/ports"
)

// auditBatch is how many entries Scan copies per turn of the lock, so a
// long export does not hold up every writer.
const auditBatch = 256

// auditState is the chain: entries in seq order, with no gaps, from the
// checkpoint to the head.
type auditState struct {
	entries    []audit.Entry
	head       audit.Link
	checkpoint audit.Checkpoint
}

// AuditLog is the in-memory ports.AuditLog. The store's lock serialises
// appends; a transaction holds it to the end, as a database holds the
// chain head's row lock.
type AuditLog struct{ s *Store }

// NewAuditLog returns the store's audit log.
func NewAuditLog(s *Store) *AuditLog { return &AuditLog{s} }

var _ ports.AuditLog = (*AuditLog)(nil)

func cloneEntry(e audit.Entry) audit.Entry {
	e.Details = maps.Clone(e.Details)
	return e
}

// Seals that did not seal on what they were given.
var (
	errNotChained     = errors.New("memory: audit entry is not sealed on the chain head")
	errCheckpointPast = errors.New("memory: audit checkpoint does not end the pruned entries")
)

// Append seals an entry on the head and stores it.
func (a *AuditLog) Append(ctx context.Context, seal func(prev audit.Link) (audit.Entry, error)) (audit.Entry, error) {
	es, err := a.AppendAll(ctx, func(prev audit.Link) ([]audit.Entry, error) {
		e, err := seal(prev)
		return []audit.Entry{e}, err
	})
	if err != nil {
		return audit.Entry{}, err
	}
	return es[0], nil
}

// AppendAll seals entries on the head and stores them.
func (a *AuditLog) AppendAll(ctx context.Context, seal func(prev audit.Link) ([]audit.Entry, error)) ([]audit.Entry, error) {
	defer a.s.lock(ctx)()
	st := &a.s.audit
	es, err := seal(st.head)
	if err != nil {
		return nil, err
	}
	prev := st.head
	for _, e := range es {
		if e.Seq != prev.Seq+1 || e.PrevHash != prev.Hash {
			return nil, errNotChained
		}
		if err := e.Validate(); err != nil {
			return nil, err
		}
		prev = e.Link()
	}
	n, oldHead := len(st.entries), st.head
	for _, e := range es {
		st.entries = append(st.entries, cloneEntry(e))
	}
	st.head = prev
	onRollback(ctx, func() {
		st.entries = st.entries[:n]
		st.head = oldHead
	})
	return es, nil
}

// Head returns the chain head.
func (a *AuditLog) Head(ctx context.Context) (audit.Link, error) {
	defer a.s.lock(ctx)()
	return a.s.audit.head, nil
}

// Search returns a page of matching entries, newest first.
func (a *AuditLog) Search(ctx context.Context, f audit.Filter, before int64, limit int) ([]audit.Entry, int64, error) {
	if limit <= 0 {
		return nil, 0, nil
	}
	defer a.s.lock(ctx)()
	es := a.s.audit.entries
	i := len(es)
	if before > 0 {
		i, _ = slices.BinarySearchFunc(es, before, func(e audit.Entry, seq int64) int { return cmp.Compare(e.Seq, seq) })
	}
	var out []audit.Entry
	for i--; i >= 0; i-- {
		if !f.Match(es[i]) {
			continue
		}
		if len(out) == limit {
			return out, out[limit-1].Seq, nil
		}
		out = append(out, cloneEntry(es[i]))
	}
	return out, 0, nil
}

// Scan calls fn with matching entries after after, in seq order, a batch at
// a time, never holding the lock while fn runs.
func (a *AuditLog) Scan(ctx context.Context, f audit.Filter, after int64, fn func(audit.Entry) error) error {
	for {
		batch := a.scanBatch(ctx, f, after)
		for _, e := range batch {
			if err := fn(e); err != nil {
				return err
			}
		}
		if len(batch) < auditBatch {
			return nil
		}
		after = batch[len(batch)-1].Seq
	}
}

func (a *AuditLog) scanBatch(ctx context.Context, f audit.Filter, after int64) []audit.Entry {
	defer a.s.lock(ctx)()
	es := a.s.audit.entries
	i, _ := slices.BinarySearchFunc(es, after+1, func(e audit.Entry, seq int64) int { return cmp.Compare(e.Seq, seq) })
	var out []audit.Entry
	for ; i < len(es) && len(out) < auditBatch; i++ {
		if f.Match(es[i]) {
			out = append(out, cloneEntry(es[i]))
		}
	}
	return out
}

// Checkpoint returns the checkpoint, if anything was pruned.
func (a *AuditLog) Checkpoint(ctx context.Context) (audit.Checkpoint, bool, error) {
	defer a.s.lock(ctx)()
	cp := a.s.audit.checkpoint
	return cp, !cp.IsGenesis(), nil
}

// Prune deletes the oldest entries before before, up to limit, and moves
// the checkpoint past them.
func (a *AuditLog) Prune(ctx context.Context, before time.Time, limit int,
	seal func(cur audit.Checkpoint, pruned []audit.Entry) (audit.Checkpoint, error)) (int, error) {
	defer a.s.lock(ctx)()
	st := &a.s.audit
	n := 0
	for n < len(st.entries) && n < limit && st.entries[n].At.Before(before) {
		n++
	}
	if n == 0 {
		return 0, nil
	}
	pruned := make([]audit.Entry, n)
	for i := range pruned {
		pruned[i] = cloneEntry(st.entries[i])
	}
	cp, err := seal(st.checkpoint, pruned)
	if err != nil {
		return 0, err
	}
	if cp.Link() != pruned[n-1].Link() {
		return 0, errCheckpointPast
	}
	old := *st
	st.entries = slices.Clone(st.entries[n:])
	st.checkpoint = cp
	onRollback(ctx, func() { *st = old })
	return n, nil
}
