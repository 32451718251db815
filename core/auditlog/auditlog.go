// Package auditlog holds the audit trail's use cases: record an entry in
// the transaction of the action it describes, verify the chain, search and
// export it, and prune it past its retention. Recorder turns every event
// an action appends to the outbox into an entry of the same transaction, so
// no change that publishes an event goes unaudited.
//
// The chain key (USERMGMT_AUDIT_KEY in a host) seals entries and
// checkpoints. Without one the chain still catches careless edits, but
// anyone able to write to the database can recompute it; see core/audit.
package auditlog

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/usermgmt/usermgmt/core/audit"
	"github.com/usermgmt/usermgmt/core/errs"
	"github.com/usermgmt/usermgmt/ports"
)

// Defaults of Search and Prune.
const (
	DefaultRetention  = 365 * 24 * time.Hour
	DefaultPruneBatch = 1000
	DefaultPageSize   = 50
	MaxPageSize       = 500
)

// verifyAttempts bounds how often Verify starts again because a prune
// moved the checkpoint while it ran.
const verifyAttempts = 3

// ErrInvalidCursor is a negative page cursor.
var ErrInvalidCursor = errs.New(errs.Invalid, "audit.invalid_cursor", "the page cursor is invalid")

// Deps are the ports the use cases drive; all are required.
type Deps struct {
	Log   ports.AuditLog
	Clock ports.Clock
}

// Log runs the audit trail's use cases.
type Log struct {
	d   Deps
	key []byte
}

// New returns a Log that seals with key (which may be empty: see the
// package doc).
func New(d Deps, key []byte) (*Log, error) {
	if d.Log == nil || d.Clock == nil {
		return nil, errors.New("auditlog.New: missing dependency")
	}
	return &Log{d: d, key: slices.Clone(key)}, nil
}

// Record appends e to the chain, in ctx's transaction if it has one. It
// fills what e leaves empty: the actor from ctx (audit.WithActor), else
// the system; IP, user agent and request id from ctx (audit.WithRequest);
// At from the clock. An invalid entry is an Invalid error. The chain head
// stays locked until ctx's transaction ends: record last, just before
// commit.
func (l *Log) Record(ctx context.Context, e audit.Entry) error {
	return l.RecordAll(ctx, e)
}

// RecordAll appends es to the chain in order, each filled in as Record
// fills one, under one hold of the chain head; one invalid entry records
// none.
func (l *Log) RecordAll(ctx context.Context, es ...audit.Entry) error {
	if len(es) == 0 {
		return nil
	}
	filled := make([]audit.Entry, len(es))
	for i, e := range es {
		filled[i] = l.fill(ctx, e).Normalized()
		if err := filled[i].Validate(); err != nil {
			return err
		}
	}
	if _, err := l.d.Log.AppendAll(ctx, func(prev audit.Link) ([]audit.Entry, error) {
		sealed := make([]audit.Entry, len(filled))
		for i, e := range filled {
			sealed[i] = audit.Seal(prev, e, l.key)
			prev = sealed[i].Link()
		}
		return sealed, nil
	}); err != nil {
		if len(es) == 1 {
			return fmt.Errorf("record audit entry %s: %w", filled[0].Action, err)
		}
		return fmt.Errorf("record %d audit entries: %w", len(es), err)
	}
	return nil
}

// fill completes e from ctx and the clock, as Record says.
func (l *Log) fill(ctx context.Context, e audit.Entry) audit.Entry {
	if e.Actor.IsZero() {
		if a, ok := audit.ActorFrom(ctx); ok {
			e.Actor = a
		} else {
			e.Actor = audit.Actor{Kind: audit.ActorSystem}
		}
	}
	r := audit.RequestFrom(ctx)
	if e.IP == "" {
		e.IP = r.IP
	}
	if e.UserAgent == "" {
		e.UserAgent = r.UserAgent
	}
	if e.RequestID == "" {
		e.RequestID = r.RequestID
	}
	if e.At.IsZero() {
		e.At = l.d.Clock.Now()
	}
	return e
}

// Report is the outcome of a verification.
type Report struct {
	Checked int64      // entries verified
	From    audit.Link // the checkpoint (or genesis) verification started from
	Head    audit.Link // the stored chain head it walked to
	// FirstBroken is where the chain breaks; nil when it verifies.
	FirstBroken *audit.Broken
}

// errStop ends a scan at the chain head read before it.
var errStop = errors.New("auditlog: stop")

// Verify walks the chain from the checkpoint to the head and reports the
// first broken record. Entries appended while it runs are left for the
// next run. A prune that moves the checkpoint while it runs removes
// entries it expected: it then starts again from the new checkpoint.
// The error is for failures to read, never for a broken chain.
func (l *Log) Verify(ctx context.Context) (Report, error) {
	for attempt := 1; ; attempt++ {
		rep, from, err := l.verifyOnce(ctx)
		if err != nil || rep.FirstBroken == nil || attempt == verifyAttempts {
			return rep, err
		}
		cp, _, err := l.d.Log.Checkpoint(ctx)
		if err != nil {
			return Report{}, fmt.Errorf("verify audit chain: %w", err)
		}
		if cp == from {
			return rep, nil
		}
	}
}

func (l *Log) verifyOnce(ctx context.Context) (Report, audit.Checkpoint, error) {
	cp, _, err := l.d.Log.Checkpoint(ctx)
	if err != nil {
		return Report{}, cp, fmt.Errorf("verify audit chain: %w", err)
	}
	// The head after the checkpoint: the head only moves on, so every
	// entry from the checkpoint to it has committed.
	head, err := l.d.Log.Head(ctx)
	if err != nil {
		return Report{}, cp, fmt.Errorf("verify audit chain: %w", err)
	}
	rep := Report{From: cp.Link(), Head: head}
	v, err := audit.NewVerifier(l.key, cp)
	if err == nil {
		err = l.d.Log.Scan(ctx, audit.Filter{}, cp.Seq, func(e audit.Entry) error {
			if e.Seq > head.Seq {
				return errStop
			}
			return v.Check(e)
		})
		if err == nil || errors.Is(err, errStop) {
			err = v.End(head)
		}
	}
	rep.Checked = v.Checked()
	var b *audit.Broken
	if errors.As(err, &b) {
		rep.FirstBroken = b
		return rep, cp, nil
	}
	if err != nil {
		return Report{}, cp, fmt.Errorf("verify audit chain: %w", err)
	}
	return rep, cp, nil
}

// Page is one page of a search, newest first.
type Page struct {
	Items []audit.Entry
	// Next is the cursor of the following page, 0 when this is the last.
	// It is the seq of the page's last entry: transports make it opaque.
	Next int64
}

// Search returns a page of entries matching f, newest first, starting
// below cursor (0: from the newest). limit defaults to DefaultPageSize and
// is capped at MaxPageSize.
func (l *Log) Search(ctx context.Context, f audit.Filter, cursor int64, limit int) (Page, error) {
	if err := f.Validate(); err != nil {
		return Page{}, err
	}
	if cursor < 0 {
		return Page{}, ErrInvalidCursor
	}
	if limit <= 0 {
		limit = DefaultPageSize
	}
	limit = min(limit, MaxPageSize)
	items, next, err := l.d.Log.Search(ctx, f, cursor, limit)
	if err != nil {
		return Page{}, fmt.Errorf("search audit log: %w", err)
	}
	return Page{Items: items, Next: next}, nil
}

// Export calls fn with every entry matching f, oldest first, streaming: it
// never holds more than a batch in memory. An error from fn stops it and
// is returned as is.
func (l *Log) Export(ctx context.Context, f audit.Filter, fn func(audit.Entry) error) error {
	if err := f.Validate(); err != nil {
		return err
	}
	var fnErr error
	err := l.d.Log.Scan(ctx, f, 0, func(e audit.Entry) error {
		if err := fn(e); err != nil {
			fnErr = err
			return err
		}
		return nil
	})
	switch {
	case fnErr != nil:
		return fnErr
	case err != nil:
		return fmt.Errorf("export audit log: %w", err)
	}
	return nil
}

// Prune deletes entries older than retention (DefaultRetention when not
// positive) at now, batch entries per transaction (DefaultPruneBatch when
// not positive), until none is left, and returns how many it deleted. Each
// batch is verified before it goes and the chain restarts from a
// checkpoint sealed with the key: a broken batch is not pruned (that
// would erase the evidence) but returned as an error wrapping the
// *audit.Broken, and pruning stops there until someone looks.
func (l *Log) Prune(ctx context.Context, now time.Time, retention time.Duration, batch int) (int, error) {
	if retention <= 0 {
		retention = DefaultRetention
	}
	if batch <= 0 {
		batch = DefaultPruneBatch
	}
	before := now.Add(-retention)
	seal := func(cur audit.Checkpoint, pruned []audit.Entry) (audit.Checkpoint, error) {
		v, err := audit.NewVerifier(l.key, cur)
		if err != nil {
			return audit.Checkpoint{}, err
		}
		for _, e := range pruned {
			if err := v.Check(e); err != nil {
				return audit.Checkpoint{}, err
			}
		}
		return audit.NewCheckpoint(pruned[len(pruned)-1], now, l.key), nil
	}
	total := 0
	for {
		n, err := l.d.Log.Prune(ctx, before, batch, seal)
		total += n
		if err != nil {
			return total, fmt.Errorf("prune audit log: %w", err)
		}
		if n < batch {
			return total, nil
		}
		if err := ctx.Err(); err != nil {
			return total, fmt.Errorf("prune audit log: %w", err)
		}
	}
}
