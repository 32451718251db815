package usermgmt

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/usermgmt/usermgmt/adapters/crypto"
	"github.com/usermgmt/usermgmt/adapters/sqlstore"
	"github.com/usermgmt/usermgmt/adapters/system"
	"github.com/usermgmt/usermgmt/adapters/userfile"
	"github.com/usermgmt/usermgmt/core/admin"
	"github.com/usermgmt/usermgmt/core/auditlog"
	"github.com/usermgmt/usermgmt/core/errs"
	"github.com/usermgmt/usermgmt/core/transfer"
	"github.com/usermgmt/usermgmt/core/user"
	"github.com/usermgmt/usermgmt/ports"
)

// operations are the operator's jobs (bin/worker): bulk transfers, the
// retention jobs and seeding.
type operations struct {
	importer *transfer.Importer
	exporter *transfer.Exporter
	erasure  *admin.Erasure
	hasher   *crypto.Argon2Hasher
	db       *sqlstore.DB // nil for memory stores
}

func newOperations(cfg Config, st stores, events ports.Outbox, hasher *crypto.Argon2Hasher, trail *auditlog.Log,
	clock ports.Clock, ids ports.IDs) (operations, error) {
	im, err := transfer.NewImporter(transfer.ImporterDeps{Tx: st.tx, Accounts: st.users, Roles: st.roles, Hashes: hasher,
		Outbox: events, Clock: clock, IDs: ids})
	if err != nil {
		return operations{}, err
	}
	ex, err := transfer.NewExporter(st.directory)
	if err != nil {
		return operations{}, err
	}
	er, err := admin.NewErasure(st.tx, st.users, trail, clock, cfg.DeletedUserRetention)
	if err != nil {
		return operations{}, err
	}
	return operations{importer: im, exporter: ex, erasure: er, hasher: hasher, db: st.db}, nil
}

// The file formats of ImportUsers.
const (
	FormatJSONLines = userfile.JSONLines // one JSON object a line (.jsonl)
	FormatCSV       = userfile.CSV       // comma-separated, with a header (.csv)
)

// The statuses of an ImportResult.
const (
	ImportCreated   = string(transfer.Created) // in a dry run: would be created
	ImportUnchanged = string(transfer.Unchanged)
	ImportFailed    = string(transfer.Failed)
)

// ImportOptions tune ImportUsers.
type ImportOptions struct {
	// Format is FormatJSONLines or FormatCSV.
	Format string
	// DryRun checks every record and looks it up, and writes nothing.
	DryRun bool
	// OnResult, if set, learns the outcome of each record, in file order,
	// a batch at a time: for progress and for the failures' report.
	OnResult func(ImportResult)
}

// ImportResult is the outcome of one record of an import file.
type ImportResult struct {
	Line   int    // where the record starts in the file, from 1
	ID     string // the account's id; empty when the record failed
	Status string // ImportCreated, ImportUnchanged or ImportFailed
	// Reason says why the record failed, by field; it never repeats a
	// password hash.
	Reason string
}

// ImportSummary counts the outcomes of an import.
type ImportSummary struct{ Created, Unchanged, Failed int }

// ImportUsers creates the accounts an import file from another system
// names. Each record has email, username, displayName, role, passwordHash
// and createdAt (RFC 3339), and optionally id (a UUID the account keeps;
// without one it gets a new id). role is a built-in or an existing custom
// role ("user" when empty). passwordHash is argon2id in PHC form or bcrypt
// ($2a$, $2b$, $2y$, as Node.js and PHP store them); a bcrypt hash is
// checked at the account's first sign-in and replaced by argon2id then.
//
// Records are checked with the rules of every new account and stored 500
// per transaction, each with a user.created event (metadata source
// "import") and its audit entry: 100,000 accounts take seconds. A bad
// record fails alone, with its line number and reason. An account that is
// there already (by id, or by email without one) with the same email,
// username and creation time is unchanged, so running the same file again
// changes nothing and an interrupted import resumes by running it again;
// one that differs is a failure, never overwritten. The error is for what
// ends the import early (an unreadable file, the database, ctx): the
// summary counts what was done until then.
func (s *Service) ImportUsers(ctx context.Context, r io.Reader, o ImportOptions) (ImportSummary, error) {
	src, err := userfile.NewReader(r, o.Format)
	if err != nil {
		return ImportSummary{}, err
	}
	var onResult func(transfer.Result)
	if o.OnResult != nil {
		onResult = func(res transfer.Result) {
			out := ImportResult{Line: res.Line, ID: string(res.ID), Status: string(res.Status)}
			if res.Err != nil {
				out.Reason = reason(res.Err)
			}
			o.OnResult(out)
		}
	}
	sum, err := s.ops.importer.Import(ctx, src, transfer.Options{DryRun: o.DryRun, OnResult: onResult})
	return ImportSummary(sum), err
}

// reason says what is wrong with a record: its invalid fields, or the
// conflict.
func reason(err error) string {
	var e *errs.Error
	if !errors.As(err, &e) {
		return err.Error()
	}
	if len(e.Fields) == 0 {
		return e.Msg
	}
	parts := make([]string, len(e.Fields))
	for i, f := range e.Fields {
		parts[i] = f.Field + ": " + f.Message
	}
	return strings.Join(parts, "; ")
}

// ExportUsers writes every account to w as JSON lines (id, email,
// username, displayName, role, roles, status, emailVerified, mfaEnabled,
// createdAt, updatedAt, lastLoginAt; never a password hash): active and
// inactive accounts, then deleted ones not yet erased, each by creation.
// It streams a page at a time, whatever the number of accounts, and
// returns how many it wrote; progress, if set, learns the running count.
func (s *Service) ExportUsers(ctx context.Context, w io.Writer, progress func(n int)) (int, error) {
	out := userfile.NewWriter(w)
	n := 0
	err := s.ops.exporter.Export(ctx, func(l user.Listed) error {
		if err := out.Write(l); err != nil {
			return err
		}
		n++
		if progress != nil {
			progress(n)
		}
		return nil
	})
	if err != nil {
		return n, err
	}
	return n, out.Flush()
}

// CreateAdmin creates a superadmin with email and password (the password
// policy applies) and reports whether it did: false when an administrator
// with that address exists already. An ordinary account with the address
// is left as it is and is a conflict (IsConflict): promoting it would
// hand the keys to whoever registered the address.
func (s *Service) CreateAdmin(ctx context.Context, email, password string) (bool, error) {
	return s.id.Accounts.EnsureAdmin(ctx, email, password)
}

// AuditReport is the outcome of VerifyAudit.
type AuditReport struct {
	Checked  int64  // records verified
	FromSeq  int64  // where verification started: the checkpoint of the last prune, 0 before any
	HeadSeq  int64  // the chain head, where it ended
	HeadHash string // the head's hash, in hex
	// Broken is the first record that does not verify; nil when the chain
	// is whole.
	Broken *AuditBreak
}

// AuditBreak is where the audit chain breaks: the record and how.
type AuditBreak struct {
	Seq    int64
	Reason string // hash_mismatch, prev_hash_mismatch, missing, out_of_order, checkpoint_invalid or head_mismatch
	Detail string
}

// VerifyAudit walks the audit chain from its checkpoint to its head and
// reports the first record that does not verify: an edited, deleted,
// inserted or reordered record. The error is for failures to read.
func (s *Service) VerifyAudit(ctx context.Context) (AuditReport, error) {
	rep, err := s.trail.Verify(ctx)
	if err != nil {
		return AuditReport{}, err
	}
	out := AuditReport{Checked: rep.Checked, FromSeq: rep.From.Seq, HeadSeq: rep.Head.Seq, HeadHash: hex.EncodeToString(rep.Head.Hash[:])}
	if b := rep.FirstBroken; b != nil {
		out.Broken = &AuditBreak{Seq: b.Seq, Reason: string(b.Reason), Detail: b.Detail}
	}
	return out, nil
}

// PruneReport counts what Prune removed.
type PruneReport struct {
	Sessions int // expired sessions ended, each with its user.logout (expired sign-in challenges go too)
	Outbox   int // published events past the relay's retention (24h)
	Users    int // accounts deleted longer ago than DeletedUserRetention, erased
	Audit    int // audit entries older than AuditRetention
}

// The parts of Prune, in the order it runs them, as its progress names them.
const (
	PruneSessions = "sessions"
	PruneOutbox   = "outbox"
	PruneUsers    = "users"
	PruneAudit    = "audit"
)

// Prune runs the retention jobs once, in this order: expired sessions and
// sign-in challenges, published outbox events, accounts deleted longer ago
// than DeletedUserRetention (erased with all that is theirs, each leaving
// a user.erased audit entry) and audit entries older than AuditRetention
// (the chain restarting at a sealed checkpoint). Each works a batch at a
// time in transactions of its own, so it holds locks briefly and may run
// on several hosts at once; a run that was stopped is finished by the
// next. A part that fails does not stop the others: the error joins their
// failures. progress, if set, learns each part's running count.
func (s *Service) Prune(ctx context.Context, progress func(part string, n int)) (PruneReport, error) {
	if progress == nil {
		progress = func(string, int) {}
	}
	var rep PruneReport
	var failed []error
	part := func(name string, n *int, job func() (int, error)) {
		var err error
		*n, err = job()
		if err != nil {
			failed = append(failed, fmt.Errorf("prune %s: %w", name, err))
		}
		progress(name, *n)
	}
	part(PruneSessions, &rep.Sessions, func() (int, error) { return s.id.Sessions.EndExpiredSessions(ctx) })
	part(PruneOutbox, &rep.Outbox, func() (int, error) { return s.relay.Prune(ctx) })
	part(PruneUsers, &rep.Users, func() (int, error) {
		return s.ops.erasure.EraseExpired(ctx, func(n int) { progress(PruneUsers, n) })
	})
	part(PruneAudit, &rep.Audit, func() (int, error) {
		return s.trail.Prune(ctx, system.Clock{}.Now(), s.cfg.AuditRetention, 0)
	})
	return rep, errors.Join(failed...)
}

// SeedPassword is the password of every account SeedUsers makes.
const SeedPassword = "seed-user-password" //nolint:gosec // synthetic accounts' published password, by design

// SeedUsers makes sure synthetic accounts 0 to n-1 exist, for benchmarks
// and load tests: realistic names, statuses, roles and sign-in times,
// each with SeedPassword hashed once with the configured argon2id cost.
// It writes tens of thousands per statement and skips what exists, so a
// second run adds nothing and a stopped one resumes. It publishes no
// events and audits nothing: seeded accounts are not real ones. It needs
// a database (SQLite or Postgres); progress, if set, learns how many are
// done after each batch.
func (s *Service) SeedUsers(ctx context.Context, n int, progress func(done int)) error {
	if s.ops.db == nil {
		return errors.New("seed users: the in-memory store cannot be seeded: use SQLite or Postgres")
	}
	hash, err := s.ops.hasher.Hash(ctx, SeedPassword)
	if err != nil {
		return fmt.Errorf("seed users: %w", err)
	}
	return sqlstore.SeedUsers(ctx, s.ops.db, n, string(hash), progress)
}
