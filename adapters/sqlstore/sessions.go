package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/uptrace/bun"

	"github.com/usermgmt/usermgmt/core/session"
	"github.com/usermgmt/usermgmt/core/user"
	"github.com/usermgmt/usermgmt/ports"
)

// Sessions is the ports.Sessions of a database.
type Sessions struct{ db *DB }

var _ ports.Sessions = (*Sessions)(nil)

// NewSessions returns the session repository of db.
func NewSessions(db *DB) *Sessions { return &Sessions{db: db} }

type sessionRow struct {
	bun.BaseModel `bun:"table:sessions,alias:s"`

	ID            string         `bun:"id,pk"`
	UserID        string         `bun:"user_id"`
	RefreshHash   string         `bun:"refresh_hash"`
	PreviousHash  sql.NullString `bun:"previous_hash"`
	RotationNonce []byte         `bun:"rotation_nonce"`
	Generation    int            `bun:"generation"`
	ClientIP      string         `bun:"client_ip"`
	UserAgent     string         `bun:"user_agent"`
	AMR           string         `bun:"amr"` // JSON array
	CreatedAt     dbTime         `bun:"created_at"`
	LastSeenAt    dbTime         `bun:"last_seen_at"`
	RotatedAt     dbTime         `bun:"rotated_at"`
	ExpiresAt     dbTime         `bun:"expires_at"`
	RevokedAt     dbTime         `bun:"revoked_at"` // NULL while live
	RevokeReason  string         `bun:"revoke_reason"`
}

// sessionColumns lists sessionRow's columns for raw statements (RETURNING
// names them so a column added later cannot break the scan).
const sessionColumns = `id, user_id, refresh_hash, previous_hash, rotation_nonce, generation, client_ip,
	user_agent, amr, created_at, last_seen_at, rotated_at, expires_at, revoked_at, revoke_reason`

func toSessionRow(s session.Session) (sessionRow, error) {
	amr := s.AMR
	if amr == nil {
		amr = []string{}
	}
	b, err := json.Marshal(amr)
	if err != nil {
		return sessionRow{}, fmt.Errorf("sqlstore: encode amr of session %s: %w", s.ID, err)
	}
	var nonce []byte
	if len(s.RotationNonce) > 0 {
		nonce = s.RotationNonce
	}
	return sessionRow{ID: string(s.ID), UserID: string(s.UserID), RefreshHash: string(s.RefreshHash),
		PreviousHash:  sql.NullString{String: string(s.PreviousHash), Valid: s.PreviousHash != ""},
		RotationNonce: nonce, Generation: s.Generation, ClientIP: s.Client.IP, UserAgent: s.Client.UserAgent,
		AMR: string(b), CreatedAt: at(s.CreatedAt), LastSeenAt: at(s.LastSeenAt), RotatedAt: at(s.RotatedAt),
		ExpiresAt: at(s.ExpiresAt), RevokedAt: at(s.RevokedAt), RevokeReason: s.RevokeReason.String()}, nil
}

func fromSessionRow(r sessionRow) (session.Session, error) {
	reason, err := session.ParseRevokeReason(r.RevokeReason)
	if err != nil {
		return session.Session{}, session.ErrCorrupt.Wrap(fmt.Errorf("revoke reason %q of session %s", r.RevokeReason, r.ID))
	}
	var amr []string
	if err := json.Unmarshal([]byte(r.AMR), &amr); err != nil {
		return session.Session{}, session.ErrCorrupt.Wrap(fmt.Errorf("amr of session %s: %w", r.ID, err))
	}
	if r.ID == "" || r.UserID == "" || r.RefreshHash == "" {
		return session.Session{}, session.ErrCorrupt.Wrap(fmt.Errorf("session %q", r.ID))
	}
	return session.Session{ID: session.ID(r.ID), UserID: user.ID(r.UserID), RefreshHash: session.TokenHash(r.RefreshHash),
		PreviousHash: session.TokenHash(r.PreviousHash.String), RotationNonce: r.RotationNonce, Generation: r.Generation,
		Client: session.Client{IP: r.ClientIP, UserAgent: r.UserAgent}, AMR: amr,
		CreatedAt: r.CreatedAt.Time, LastSeenAt: r.LastSeenAt.Time, RotatedAt: r.RotatedAt.Time,
		ExpiresAt: r.ExpiresAt.Time, RevokedAt: r.RevokedAt.Time, RevokeReason: reason}, nil
}

// Create stores a new session. A user that does not exist is user.ErrNotFound.
func (r *Sessions) Create(ctx context.Context, s session.Session) error {
	row, err := toSessionRow(s)
	if err != nil {
		return err
	}
	if _, err := r.db.conn(ctx).NewInsert().Model(&row).Exec(ctx); err != nil {
		if kind, _ := classify(err); kind == failForeignKey {
			return user.ErrNotFound
		}
		return fmt.Errorf("sqlstore: insert session %s: %w", s.ID, err)
	}
	return nil
}

// ByID returns the session or session.ErrNotFound.
func (r *Sessions) ByID(ctx context.Context, id session.ID) (session.Session, error) {
	return r.one(ctx, "s.id = ?", string(id))
}

// ByRefreshHash returns the session whose live or previous token hash is
// h, or that rotated out a token of hash h and has not ended. The
// rotated_refresh_tokens rows are written by the triggers of migration
// 0010, in the statements of Rotate and of every revocation. The subquery
// yields one value, so each of the three terms is an index lookup.
func (r *Sessions) ByRefreshHash(ctx context.Context, h session.TokenHash) (session.Session, error) {
	if h == "" {
		return session.Session{}, session.ErrNotFound
	}
	return r.one(ctx, "s.refresh_hash = ? OR s.previous_hash = ? OR s.id = (SELECT session_id FROM rotated_refresh_tokens WHERE hash = ?)",
		string(h), string(h), string(h))
}

func (r *Sessions) one(ctx context.Context, where string, args ...any) (session.Session, error) {
	var row sessionRow
	err := r.db.readConn(ctx).NewSelect().Model(&row).Where(where, args...).Limit(1).Scan(ctx)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return session.Session{}, session.ErrNotFound
	case err != nil:
		return session.Session{}, fmt.Errorf("sqlstore: select session: %w", err)
	}
	return fromSessionRow(row)
}

// rotateSQL is the refresh hot path: one conditional UPDATE ... RETURNING.
// Concurrent rotations of one token serialise on the row; on Postgres a
// waiting UPDATE re-checks its WHERE against the committed row (whose
// refresh_hash has moved on), so exactly one of them matches.
const rotateSQL = `UPDATE sessions SET
	previous_hash = refresh_hash,
	refresh_hash = ?,
	rotation_nonce = ?,
	generation = generation + 1,
	rotated_at = ?,
	last_seen_at = ?,
	client_ip = ?,
	user_agent = ?
WHERE refresh_hash = ? AND revoked_at IS NULL AND expires_at > ? AND last_seen_at >= ?
RETURNING ` + sessionColumns

// rotatedRow is a rotated session and its user, scanned from one statement.
type rotatedRow struct {
	S sessionRow `bun:"embed:s_"`
	U userRow    `bun:"embed:u_"`
}

// rotateWithUserSQL is rotateSQL joined to the session's user, for
// Postgres: the refresh hot path in one round trip.
var rotateWithUserSQL = `WITH s AS (` + rotateSQL + `)
SELECT ` + aliased("s", sessionColumns) + `, ` + aliased("u", userColumns) + `
FROM s JOIN users u ON u.id = s.user_id`

// aliased renders "t.col AS t_col, ..." for the column list cols.
func aliased(table, cols string) string {
	var b strings.Builder
	for i, c := range strings.Split(cols, ",") {
		c = strings.TrimSpace(c)
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(table + "." + c + " AS " + table + "_" + c)
	}
	return b.String()
}

// Rotate applies rot in one statement, or returns session.ErrNotRotated when
// no live session holds rot.Presented. On Postgres the user comes back in
// the same statement; on SQLite, where a query is a function call, it is
// read next.
func (r *Sessions) Rotate(ctx context.Context, rot session.Rotation) (session.Session, user.User, error) {
	if rot.Presented == "" || rot.Next == "" {
		return session.Session{}, user.User{}, session.ErrNotRotated
	}
	var nonce []byte
	if len(rot.Nonce) > 0 {
		nonce = rot.Nonce
	}
	args := []any{string(rot.Next), nonce, at(rot.At), at(rot.At), rot.Client.IP, rot.Client.UserAgent,
		string(rot.Presented), at(rot.At), at(rot.IdleCutoff)}
	var row rotatedRow
	var err error
	if r.db.postgres() {
		err = r.db.conn(ctx).NewRaw(rotateWithUserSQL, args...).Scan(ctx, &row)
	} else {
		err = r.db.conn(ctx).NewRaw(rotateSQL, args...).Scan(ctx, &row.S)
	}
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return session.Session{}, user.User{}, session.ErrNotRotated
	case err != nil:
		return session.Session{}, user.User{}, fmt.Errorf("sqlstore: rotate session: %w", err)
	}
	s, err := fromSessionRow(row.S)
	if err != nil {
		return session.Session{}, user.User{}, err
	}
	var u user.User
	if r.db.postgres() {
		u, err = fromUserRow(row.U)
	} else {
		u, err = NewUsers(r.db).ByID(ctx, s.UserID)
	}
	return s, u, err
}

// Revoke ends a live session; false when it was ended already or is unknown.
func (r *Sessions) Revoke(ctx context.Context, id session.ID, reason session.RevokeReason, when time.Time) (bool, error) {
	res, err := r.db.conn(ctx).NewUpdate().Model((*sessionRow)(nil)).
		Set("revoked_at = ?", at(when)).Set("revoke_reason = ?", reason.String()).
		Where("s.id = ?", string(id)).Where("s.revoked_at IS NULL").
		Exec(ctx)
	return affected(res, err, "revoke session %s", id)
}

// RevokeUser ends every live session of uid except keep and returns their
// ids, sorted.
func (r *Sessions) RevokeUser(ctx context.Context, uid user.ID, keep session.ID, reason session.RevokeReason, when time.Time) ([]session.ID, error) {
	var ids []string
	err := r.db.conn(ctx).NewRaw(`UPDATE sessions SET revoked_at = ?, revoke_reason = ?
		WHERE user_id = ? AND revoked_at IS NULL AND id <> ? RETURNING id`,
		at(when), reason.String(), string(uid), string(keep)).Scan(ctx, &ids)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("sqlstore: revoke sessions of user %s: %w", uid, err)
	}
	out := make([]session.ID, len(ids))
	for i, id := range ids {
		out[i] = session.ID(id)
	}
	slices.Sort(out)
	return out, nil
}

type revocationRow struct {
	ID        string `bun:"id"`
	UserID    string `bun:"user_id"`
	RevokedAt dbTime `bun:"revoked_at"`
}

// Live lists the user's live sessions, newest first.
func (r *Sessions) Live(ctx context.Context, uid user.ID, now time.Time) ([]session.Session, error) {
	var rows []sessionRow
	err := r.db.readConn(ctx).NewSelect().Model(&rows).
		Where("s.user_id = ?", string(uid)).
		Where("s.revoked_at IS NULL").
		Where("s.expires_at > ?", at(now)).
		OrderExpr("s.created_at DESC, s.id DESC").
		Scan(ctx)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("sqlstore: select live sessions: %w", err)
	}
	out := make([]session.Session, 0, len(rows))
	for _, row := range rows {
		s, err := fromSessionRow(row)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

// RevokedSince lists sessions revoked at or after t, oldest first.
func (r *Sessions) RevokedSince(ctx context.Context, t time.Time) ([]session.Revocation, error) {
	q := r.db.readConn(ctx).NewSelect().Model((*sessionRow)(nil)).
		Column("id", "user_id", "revoked_at").
		Where("s.revoked_at IS NOT NULL").
		OrderExpr("s.revoked_at ASC, s.id ASC")
	if !t.IsZero() { // the zero time would be NULL: no bound at all
		q = q.Where("s.revoked_at >= ?", at(t))
	}
	var rows []revocationRow
	err := q.Scan(ctx, &rows)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("sqlstore: select revoked sessions: %w", err)
	}
	out := make([]session.Revocation, len(rows))
	for i, row := range rows {
		out[i] = session.Revocation{ID: session.ID(row.ID), UserID: user.ID(row.UserID), At: row.RevokedAt.Time}
	}
	return out, nil
}

// Known reports whether another session of uid came from c.
func (r *Sessions) Known(ctx context.Context, uid user.ID, c session.Client, except session.ID) (bool, error) {
	n, err := r.db.readConn(ctx).NewSelect().Model((*sessionRow)(nil)).
		Where("s.user_id = ?", string(uid)).Where("s.id <> ?", string(except)).
		Where("s.client_ip = ?", c.IP).Where("s.user_agent = ?", c.UserAgent).Limit(1).Count(ctx)
	if err != nil {
		return false, fmt.Errorf("sqlstore: look up known clients of user %s: %w", uid, err)
	}
	return n > 0, nil
}

// EndExpired ends a batch of expired sessions in one statement. On
// Postgres the batch is chosen with SKIP LOCKED, so instances sweeping at
// once take disjoint batches instead of queueing on each other's rows.
func (r *Sessions) EndExpired(ctx context.Context, now, idleCutoff time.Time, limit int) ([]session.Revocation, error) {
	return r.endWhere(ctx, session.ReasonTimeout, now, limit, "(expires_at <= ? OR last_seen_at < ?)", at(now), at(idleCutoff))
}

// EndAll ends a batch of live sessions in one statement.
func (r *Sessions) EndAll(ctx context.Context, reason session.RevokeReason, when time.Time, limit int) ([]session.Revocation, error) {
	return r.endWhere(ctx, reason, when, limit, "1 = 1")
}

func (r *Sessions) endWhere(ctx context.Context, reason session.RevokeReason, when time.Time, limit int, cond string, args ...any) ([]session.Revocation, error) {
	// SQLite has one writer, so a plain subquery picks the batch. On
	// Postgres the batch is materialised once: an IN (... LIMIT ... SKIP
	// LOCKED) subquery may be re-run by the planner, and each run skips
	// other rows, so it could exceed the limit.
	q := `UPDATE sessions SET revoked_at = ?, revoke_reason = ?
		WHERE revoked_at IS NULL AND id IN (SELECT id FROM sessions WHERE revoked_at IS NULL AND ` + cond +
		` ORDER BY id LIMIT ?) RETURNING id, user_id, revoked_at`
	all := append(append([]any{at(when), reason.String()}, args...), max(limit, 0))
	if r.db.postgres() {
		q = `WITH batch AS MATERIALIZED (SELECT id FROM sessions WHERE revoked_at IS NULL AND ` + cond +
			` ORDER BY id LIMIT ? FOR UPDATE SKIP LOCKED)
			UPDATE sessions s SET revoked_at = ?, revoke_reason = ? FROM batch WHERE s.id = batch.id
			RETURNING s.id, s.user_id, s.revoked_at`
		all = append(append(args, max(limit, 0)), at(when), reason.String())
	}
	var rows []revocationRow
	if err := r.db.conn(ctx).NewRaw(q, all...).Scan(ctx, &rows); err != nil && !errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("sqlstore: end sessions: %w", err)
	}
	out := make([]session.Revocation, len(rows))
	for i, row := range rows {
		out[i] = session.Revocation{ID: session.ID(row.ID), UserID: user.ID(row.UserID), At: row.RevokedAt.Time}
	}
	slices.SortFunc(out, func(a, b session.Revocation) int { return strings.Compare(string(a.ID), string(b.ID)) })
	return out, nil
}

// reissuedHash replaces the refresh hash of a session moved to a new id:
// unique, and no token hashes to it.
func reissuedHash(id string) string { return "reissued:" + id }

// Reissue moves each live session of uid to a new id. Per session, in
// the caller's transaction: remember the hashes it rotated out, end the
// old row (its triggers forget those hashes), insert the copy under the
// new id, and give the hashes back to it, so a replay of an old token
// still counts as reuse.
func (r *Sessions) Reissue(ctx context.Context, uid user.ID, newID func() session.ID, when time.Time) ([]session.Revocation, error) {
	var out []session.Revocation
	_, err := r.db.inTx(ctx, func(ctx context.Context, tx bun.IDB) error {
		var rows []sessionRow
		q := tx.NewSelect().Model(&rows).Where("s.user_id = ?", string(uid)).Where("s.revoked_at IS NULL").OrderExpr("s.id")
		if r.db.postgres() {
			q = q.For("UPDATE")
		}
		if err := q.Scan(ctx); err != nil {
			return fmt.Errorf("sqlstore: lock sessions of user %s: %w", uid, err)
		}
		for _, old := range rows {
			var hashes []string
			if err := tx.NewRaw(`SELECT hash FROM rotated_refresh_tokens WHERE session_id = ?`, old.ID).Scan(ctx, &hashes); err != nil && !errors.Is(err, sql.ErrNoRows) {
				return fmt.Errorf("sqlstore: rotated tokens of session %s: %w", old.ID, err)
			}
			if _, err := tx.NewRaw(`UPDATE sessions SET revoked_at = ?, revoke_reason = ?, refresh_hash = ?,
				previous_hash = NULL, rotation_nonce = NULL WHERE id = ?`,
				at(when), session.ReasonReissued.String(), reissuedHash(old.ID), old.ID).Exec(ctx); err != nil {
				return fmt.Errorf("sqlstore: end session %s: %w", old.ID, err)
			}
			next := old
			next.ID = string(newID())
			if _, err := tx.NewInsert().Model(&next).Exec(ctx); err != nil {
				return fmt.Errorf("sqlstore: insert session %s: %w", next.ID, err)
			}
			for _, h := range hashes {
				if _, err := tx.NewRaw(`INSERT INTO rotated_refresh_tokens (hash, session_id) VALUES (?, ?)`, h, next.ID).Exec(ctx); err != nil {
					return fmt.Errorf("sqlstore: move rotated token to session %s: %w", next.ID, err)
				}
			}
			out = append(out, session.Revocation{ID: session.ID(old.ID), UserID: uid, At: when})
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
