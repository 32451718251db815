package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/uptrace/bun"

	"github.com/usermgmt/usermgmt/core/audit"
	"github.com/usermgmt/usermgmt/ports"
)

// auditBatch is how many entries Scan reads per query, and so the most it
// holds in memory.
const auditBatch = 500

// AuditLog is the ports.AuditLog of a database (migrations 0011, 0015). Appends
// take the row lock of audit_head on Postgres (SELECT ... FOR UPDATE), held
// to the end of the transaction; SQLite's single writer serialises them
// anyway.
type AuditLog struct{ db *DB }

var _ ports.AuditLog = (*AuditLog)(nil)

// NewAuditLog returns the audit log of db.
func NewAuditLog(db *DB) *AuditLog { return &AuditLog{db: db} }

type auditRow struct {
	bun.BaseModel `bun:"table:audit_log,alias:a"`

	Seq       int64  `bun:"seq,pk"`
	At        dbTime `bun:"at"`
	ActorKind string `bun:"actor_kind"`
	ActorID   string `bun:"actor_id"`
	Action    string `bun:"action"`
	Target    string `bun:"target"`
	Org       string `bun:"org"`
	IP        string `bun:"ip"`
	UserAgent string `bun:"user_agent"`
	RequestID string `bun:"request_id"`
	Outcome   string `bun:"outcome"`
	Details   string `bun:"details"` // JSON object
	PrevHash  []byte `bun:"prev_hash"`
	Hash      []byte `bun:"hash"`
}

func toAuditRow(e audit.Entry) (auditRow, error) {
	details := e.Details
	if details == nil {
		details = map[string]string{} // "null" is not an object
	}
	d, err := json.Marshal(details)
	if err != nil {
		return auditRow{}, fmt.Errorf("sqlstore: encode details of audit entry %d: %w", e.Seq, err)
	}
	return auditRow{Seq: e.Seq, At: at(e.At), ActorKind: string(e.Actor.Kind), ActorID: e.Actor.ID,
		Action: e.Action, Target: e.Target, Org: e.Org, IP: e.IP, UserAgent: e.UserAgent, RequestID: e.RequestID,
		Outcome: string(e.Outcome), Details: string(d), PrevHash: e.PrevHash[:], Hash: e.Hash[:]}, nil
}

// fromAuditRow reads a row as stored, valid or not: judging it is the
// verifier's job, which needs to see it.
func fromAuditRow(r auditRow) (audit.Entry, error) {
	e := audit.Entry{Seq: r.Seq, At: r.At.Time, Actor: audit.Actor{Kind: audit.ActorKind(r.ActorKind), ID: r.ActorID},
		Action: r.Action, Target: r.Target, Org: r.Org, IP: r.IP, UserAgent: r.UserAgent, RequestID: r.RequestID,
		Outcome: audit.Outcome(r.Outcome)}
	if err := json.Unmarshal([]byte(r.Details), &e.Details); err != nil {
		return audit.Entry{}, fmt.Errorf("sqlstore: audit entry %d: details: %w", r.Seq, audit.ErrCorrupt.Wrap(err))
	}
	if len(e.Details) == 0 {
		e.Details = nil
	}
	var err error
	if e.PrevHash, err = audit.HashFromBytes(r.PrevHash); err != nil {
		return audit.Entry{}, fmt.Errorf("sqlstore: audit entry %d: prev_hash: %w", r.Seq, err)
	}
	if e.Hash, err = audit.HashFromBytes(r.Hash); err != nil {
		return audit.Entry{}, fmt.Errorf("sqlstore: audit entry %d: hash: %w", r.Seq, err)
	}
	return e, nil
}

type auditHeadRow struct {
	Seq  int64  `bun:"seq"`
	Hash []byte `bun:"hash"`
}

// Append locks the chain head, seals an entry on it, stores the entry and
// advances the head: three statements, in ctx's transaction or its own.
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

// AppendAll locks the chain head, seals entries on it, stores them in one
// INSERT and advances the head: three statements, however many entries.
func (a *AuditLog) AppendAll(ctx context.Context, seal func(prev audit.Link) ([]audit.Entry, error)) ([]audit.Entry, error) {
	var out []audit.Entry
	_, err := a.db.inTx(ctx, func(ctx context.Context, tx bun.IDB) error {
		lock := ""
		if a.db.postgres() {
			lock = " FOR UPDATE"
		}
		var h auditHeadRow
		if err := tx.NewRaw("SELECT seq, hash FROM audit_head WHERE id = 1"+lock).Scan(ctx, &h); err != nil {
			return fmt.Errorf("sqlstore: lock the audit chain head: %w", err)
		}
		hash, err := audit.HashFromBytes(h.Hash)
		if err != nil {
			return fmt.Errorf("sqlstore: audit chain head: %w", err)
		}
		head := audit.Link{Seq: h.Seq, Hash: hash}
		es, err := seal(head)
		if err != nil {
			return err
		}
		if len(es) == 0 {
			return nil
		}
		rows := make([]auditRow, len(es))
		prev := head
		for i, e := range es {
			if e.Seq != prev.Seq+1 || e.PrevHash != prev.Hash {
				return fmt.Errorf("sqlstore: audit entry %d is not sealed on the chain head %d", e.Seq, prev.Seq)
			}
			if err := e.Validate(); err != nil {
				return err
			}
			if rows[i], err = toAuditRow(e); err != nil {
				return err
			}
			prev = e.Link()
		}
		if _, err := tx.NewInsert().Model(&rows).Exec(ctx); err != nil {
			return fmt.Errorf("sqlstore: insert audit entries %d to %d: %w", es[0].Seq, prev.Seq, err)
		}
		if _, err := tx.NewRaw("UPDATE audit_head SET seq = ?, hash = ? WHERE id = 1", prev.Seq, prev.Hash[:]).Exec(ctx); err != nil {
			return fmt.Errorf("sqlstore: advance the audit chain head to %d: %w", prev.Seq, err)
		}
		out = es
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Head returns the chain head.
func (a *AuditLog) Head(ctx context.Context) (audit.Link, error) {
	var h auditHeadRow
	if err := a.db.readConn(ctx).NewRaw("SELECT seq, hash FROM audit_head WHERE id = 1").Scan(ctx, &h); err != nil {
		return audit.Link{}, fmt.Errorf("sqlstore: read the audit chain head: %w", err)
	}
	hash, err := audit.HashFromBytes(h.Hash)
	if err != nil {
		return audit.Link{}, fmt.Errorf("sqlstore: audit chain head: %w", err)
	}
	return audit.Link{Seq: h.Seq, Hash: hash}, nil
}

// filtered adds f's conditions to q; each equality has an index with seq.
func filtered(q *bun.SelectQuery, f audit.Filter) *bun.SelectQuery {
	eq := func(col, v string) {
		if v != "" {
			q = q.Where("? = ?", bun.Ident("a."+col), v)
		}
	}
	eq("actor_kind", string(f.Actor.Kind))
	eq("actor_id", f.Actor.ID)
	eq("target", f.Target)
	eq("action", f.Action)
	eq("outcome", string(f.Outcome))
	eq("org", f.Org)
	if !f.From.IsZero() {
		q = q.Where("a.at >= ?", at(f.From))
	}
	if !f.To.IsZero() {
		q = q.Where("a.at < ?", at(f.To))
	}
	return q
}

func fromAuditRows(rows []auditRow) ([]audit.Entry, error) {
	out := make([]audit.Entry, len(rows))
	for i, r := range rows {
		e, err := fromAuditRow(r)
		if err != nil {
			return nil, err
		}
		out[i] = e
	}
	return out, nil
}

// Search reads one page newest first: limit+1 rows, the extra one only
// telling whether a next page exists.
func (a *AuditLog) Search(ctx context.Context, f audit.Filter, before int64, limit int) ([]audit.Entry, int64, error) {
	if limit <= 0 {
		return nil, 0, nil
	}
	var rows []auditRow
	q := filtered(a.db.readConn(ctx).NewSelect().Model(&rows), f)
	if before > 0 {
		q = q.Where("a.seq < ?", before)
	}
	if err := q.OrderExpr("a.seq DESC").Limit(int64(limit) + 1).Scan(ctx); err != nil && !errors.Is(err, sql.ErrNoRows) {
		return nil, 0, fmt.Errorf("sqlstore: search the audit log: %w", err)
	}
	var next int64
	if len(rows) > limit {
		rows = rows[:limit]
		next = rows[limit-1].Seq
	}
	out, err := fromAuditRows(rows)
	if err != nil {
		return nil, 0, err
	}
	return out, next, nil
}

// Scan reads matching entries in seq order, one keyset query per batch, so
// no statement stays open while fn runs.
func (a *AuditLog) Scan(ctx context.Context, f audit.Filter, after int64, fn func(audit.Entry) error) error {
	for {
		var rows []auditRow
		q := filtered(a.db.readConn(ctx).NewSelect().Model(&rows), f).Where("a.seq > ?", after)
		if err := q.OrderExpr("a.seq").Limit(auditBatch).Scan(ctx); err != nil && !errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("sqlstore: scan the audit log after %d: %w", after, err)
		}
		batch, err := fromAuditRows(rows)
		if err != nil {
			return err
		}
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

type auditCheckpointRow struct {
	Seq  int64  `bun:"seq"`
	Hash []byte `bun:"hash"`
	At   dbTime `bun:"at"`
	MAC  []byte `bun:"mac"`
}

func readCheckpoint(ctx context.Context, db bun.IDB, lock string) (audit.Checkpoint, error) {
	var r auditCheckpointRow
	if err := db.NewRaw("SELECT seq, hash, at, mac FROM audit_checkpoint WHERE id = 1"+lock).Scan(ctx, &r); err != nil {
		return audit.Checkpoint{}, fmt.Errorf("sqlstore: read the audit checkpoint: %w", err)
	}
	cp := audit.Checkpoint{Seq: r.Seq, At: r.At.Time}
	var err error
	if cp.Hash, err = audit.HashFromBytes(r.Hash); err == nil {
		cp.MAC, err = audit.HashFromBytes(r.MAC)
	}
	if err != nil {
		return audit.Checkpoint{}, fmt.Errorf("sqlstore: audit checkpoint: %w", err)
	}
	return cp, nil
}

// Checkpoint returns the stored checkpoint; the row made by the migration
// is the genesis.
func (a *AuditLog) Checkpoint(ctx context.Context) (audit.Checkpoint, bool, error) {
	cp, err := readCheckpoint(ctx, a.db.readConn(ctx), "")
	if err != nil {
		return audit.Checkpoint{}, false, err
	}
	return cp, !cp.IsGenesis(), nil
}

// Prune locks the checkpoint's row (Postgres; SQLite's writer is single),
// so concurrent pruners take turns, reads the oldest limit entries, and
// deletes the run of them older than before after moving the checkpoint
// past it: the triggers of migration 0011 refuse a deletion past the
// checkpoint.
func (a *AuditLog) Prune(ctx context.Context, before time.Time, limit int,
	seal func(cur audit.Checkpoint, pruned []audit.Entry) (audit.Checkpoint, error)) (int, error) {
	if limit <= 0 {
		return 0, nil
	}
	var n int
	_, err := a.db.inTx(ctx, func(ctx context.Context, tx bun.IDB) error {
		lock := ""
		if a.db.postgres() {
			lock = " FOR UPDATE"
		}
		cur, err := readCheckpoint(ctx, tx, lock)
		if err != nil {
			return err
		}
		var rows []auditRow
		if err := tx.NewSelect().Model(&rows).Where("a.seq > ?", cur.Seq).OrderExpr("a.seq").Limit(int64(limit)).
			Scan(ctx); err != nil && !errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("sqlstore: read audit entries to prune: %w", err)
		}
		for n < len(rows) && rows[n].At.Before(before) {
			n++
		}
		if n == 0 {
			return nil
		}
		pruned, err := fromAuditRows(rows[:n])
		if err != nil {
			return err
		}
		cp, err := seal(cur, pruned)
		if err != nil {
			return err
		}
		if cp.Link() != pruned[n-1].Link() {
			return fmt.Errorf("sqlstore: audit checkpoint %d does not end the pruned entries (%d)", cp.Seq, pruned[n-1].Seq)
		}
		if _, err := tx.NewRaw("UPDATE audit_checkpoint SET seq = ?, hash = ?, at = ?, mac = ? WHERE id = 1",
			cp.Seq, cp.Hash[:], at(cp.At), cp.MAC[:]).Exec(ctx); err != nil {
			return fmt.Errorf("sqlstore: move the audit checkpoint to %d: %w", cp.Seq, err)
		}
		if _, err := tx.NewDelete().Model((*auditRow)(nil)).Where("a.seq > ? AND a.seq <= ?", cur.Seq, cp.Seq).
			Exec(ctx); err != nil {
			return fmt.Errorf("sqlstore: prune audit entries %d to %d: %w", cur.Seq+1, cp.Seq, err)
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	return n, nil
}
