package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/uptrace/bun"

	"github.com/usermgmt/usermgmt/core/mfa"
	"github.com/usermgmt/usermgmt/core/session"
	"github.com/usermgmt/usermgmt/core/user"
	"github.com/usermgmt/usermgmt/ports"
)

// MFAFactors is the ports.MFAFactors of a database (tables mfa_factors and
// mfa_enrollments).
type MFAFactors struct{ db *DB }

var _ ports.MFAFactors = (*MFAFactors)(nil)

// NewMFAFactors returns the second-factor repository of db.
func NewMFAFactors(db *DB) *MFAFactors { return &MFAFactors{db: db} }

type factorRow struct {
	bun.BaseModel `bun:"table:mfa_factors,alias:f"`

	UserID       string `bun:"user_id,pk"`
	Method       string `bun:"method,pk"`
	Secret       []byte `bun:"secret"`
	Phone        string `bun:"phone"`
	LastUsedStep int64  `bun:"last_used_step"`
	CreatedAt    dbTime `bun:"created_at"`
}

type enrollmentRow struct {
	bun.BaseModel `bun:"table:mfa_enrollments,alias:e"`

	UserID    string `bun:"user_id,pk"`
	Method    string `bun:"method,pk"`
	Secret    []byte `bun:"secret"`
	Phone     string `bun:"phone"`
	CreatedAt dbTime `bun:"created_at"`
	ExpiresAt dbTime `bun:"expires_at"`
}

func parseMethod(s, what string) (mfa.Method, error) {
	m, err := mfa.ParseMethod(s)
	if err != nil {
		return mfa.Method{}, mfa.ErrCorrupt.Wrap(fmt.Errorf("%s method %q", what, s))
	}
	return m, nil
}

func nonEmpty(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return b
}

// Factors lists uid's factors in the order of mfa.Factors.
func (r *MFAFactors) Factors(ctx context.Context, uid user.ID) ([]mfa.Factor, error) {
	var rows []factorRow
	if err := r.db.readConn(ctx).NewSelect().Model(&rows).Where("f.user_id = ?", string(uid)).Scan(ctx); err != nil && !errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("sqlstore: select factors of user %s: %w", uid, err)
	}
	out := make([]mfa.Factor, 0, len(rows))
	for _, row := range rows {
		m, err := parseMethod(row.Method, "factor")
		if err != nil {
			return nil, err
		}
		out = append(out, mfa.Factor{UserID: user.ID(row.UserID), Method: m, Secret: row.Secret, Phone: row.Phone,
			LastUsedStep: row.LastUsedStep, CreatedAt: row.CreatedAt.Time})
	}
	slices.SortFunc(out, func(a, b mfa.Factor) int {
		return slices.Index(mfa.Factors, a.Method) - slices.Index(mfa.Factors, b.Method)
	})
	return out, nil
}

// Put creates or replaces uid's factor of f.Method.
func (r *MFAFactors) Put(ctx context.Context, f mfa.Factor) error {
	row := factorRow{UserID: string(f.UserID), Method: f.Method.String(), Secret: nonEmpty(f.Secret), Phone: f.Phone,
		LastUsedStep: f.LastUsedStep, CreatedAt: at(f.CreatedAt)}
	_, err := r.db.conn(ctx).NewInsert().Model(&row).
		On("CONFLICT (user_id, method) DO UPDATE").
		Set("secret = EXCLUDED.secret").Set("phone = EXCLUDED.phone").
		Set("last_used_step = EXCLUDED.last_used_step").Set("created_at = EXCLUDED.created_at").
		Exec(ctx)
	return r.written(err, "put factor", f.UserID)
}

func (r *MFAFactors) written(err error, what string, uid user.ID) error {
	if err == nil {
		return nil
	}
	if kind, _ := classify(err); kind == failForeignKey {
		return user.ErrNotFound
	}
	return fmt.Errorf("sqlstore: %s of user %s: %w", what, uid, err)
}

// Delete removes uid's factor of m.
func (r *MFAFactors) Delete(ctx context.Context, uid user.ID, m mfa.Method) (bool, error) {
	res, err := r.db.conn(ctx).NewDelete().Model((*factorRow)(nil)).
		Where("user_id = ?", string(uid)).Where("method = ?", m.String()).Exec(ctx)
	return affected(res, err, "delete factor")
}

// UseTOTPStep raises last_used_step in one conditional UPDATE: concurrent
// uses of one code serialise on the row and exactly one matches.
func (r *MFAFactors) UseTOTPStep(ctx context.Context, uid user.ID, step int64) (bool, error) {
	res, err := r.db.conn(ctx).NewRaw(`UPDATE mfa_factors SET last_used_step = ?
		WHERE user_id = ? AND method = ? AND last_used_step < ?`, step, string(uid), mfa.MethodTOTP.String(), step).Exec(ctx)
	return affected(res, err, "use totp step")
}

// PutEnrollment starts or restarts uid's enrollment of e.Method.
func (r *MFAFactors) PutEnrollment(ctx context.Context, e mfa.Enrollment) error {
	row := enrollmentRow{UserID: string(e.UserID), Method: e.Method.String(), Secret: e.Secret, Phone: e.Phone,
		CreatedAt: at(e.CreatedAt), ExpiresAt: at(e.ExpiresAt)}
	_, err := r.db.conn(ctx).NewInsert().Model(&row).
		On("CONFLICT (user_id, method) DO UPDATE").
		Set("secret = EXCLUDED.secret").Set("phone = EXCLUDED.phone").
		Set("created_at = EXCLUDED.created_at").Set("expires_at = EXCLUDED.expires_at").
		Exec(ctx)
	return r.written(err, "put enrollment", e.UserID)
}

// Enrollment returns uid's pending enrollment of m.
func (r *MFAFactors) Enrollment(ctx context.Context, uid user.ID, m mfa.Method) (mfa.Enrollment, error) {
	var row enrollmentRow
	err := r.db.readConn(ctx).NewSelect().Model(&row).
		Where("e.user_id = ?", string(uid)).Where("e.method = ?", m.String()).Scan(ctx)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return mfa.Enrollment{}, mfa.ErrNoEnrollment
	case err != nil:
		return mfa.Enrollment{}, fmt.Errorf("sqlstore: select enrollment of user %s: %w", uid, err)
	}
	method, err := parseMethod(row.Method, "enrollment")
	if err != nil {
		return mfa.Enrollment{}, err
	}
	return mfa.Enrollment{UserID: user.ID(row.UserID), Method: method, Secret: row.Secret, Phone: row.Phone,
		CreatedAt: row.CreatedAt.Time, ExpiresAt: row.ExpiresAt.Time}, nil
}

// DeleteEnrollment removes uid's enrollment of m.
func (r *MFAFactors) DeleteEnrollment(ctx context.Context, uid user.ID, m mfa.Method) (bool, error) {
	res, err := r.db.conn(ctx).NewDelete().Model((*enrollmentRow)(nil)).
		Where("user_id = ?", string(uid)).Where("method = ?", m.String()).Exec(ctx)
	return affected(res, err, "delete enrollment")
}

// BackupCodes is the ports.BackupCodes of a database.
type BackupCodes struct{ db *DB }

var _ ports.BackupCodes = (*BackupCodes)(nil)

// NewBackupCodes returns the backup-code repository of db.
func NewBackupCodes(db *DB) *BackupCodes { return &BackupCodes{db: db} }

type backupCodeRow struct {
	bun.BaseModel `bun:"table:backup_codes,alias:b"`

	UserID    string `bun:"user_id,pk"`
	CodeHash  string `bun:"code_hash,pk"`
	CreatedAt dbTime `bun:"created_at"`
	UsedAt    dbTime `bun:"used_at"`
}

// Replace swaps uid's set for hashes in one transaction.
func (r *BackupCodes) Replace(ctx context.Context, uid user.ID, hashes []string, when time.Time) error {
	_, err := r.db.inTx(ctx, func(ctx context.Context, tx bun.IDB) error {
		if _, err := tx.NewDelete().Model((*backupCodeRow)(nil)).Where("user_id = ?", string(uid)).Exec(ctx); err != nil {
			return err
		}
		if len(hashes) == 0 {
			return nil
		}
		rows := make([]backupCodeRow, len(hashes))
		for i, h := range hashes {
			rows[i] = backupCodeRow{UserID: string(uid), CodeHash: h, CreatedAt: at(when)}
		}
		_, err := tx.NewInsert().Model(&rows).Exec(ctx)
		return err
	})
	if err != nil {
		if kind, _ := classify(err); kind == failForeignKey {
			return user.ErrNotFound
		}
		return fmt.Errorf("sqlstore: replace backup codes of user %s: %w", uid, err)
	}
	return nil
}

// Use marks one unused code used, in one conditional UPDATE.
func (r *BackupCodes) Use(ctx context.Context, uid user.ID, hash string, when time.Time) (bool, error) {
	res, err := r.db.conn(ctx).NewRaw(`UPDATE backup_codes SET used_at = ?
		WHERE user_id = ? AND code_hash = ? AND used_at IS NULL`, at(when), string(uid), hash).Exec(ctx)
	return affected(res, err, "use backup code")
}

// Remaining counts uid's unused codes.
func (r *BackupCodes) Remaining(ctx context.Context, uid user.ID) (int, error) {
	n, err := r.db.readConn(ctx).NewSelect().Model((*backupCodeRow)(nil)).
		Where("b.user_id = ?", string(uid)).Where("b.used_at IS NULL").Count(ctx)
	if err != nil {
		return 0, fmt.Errorf("sqlstore: count backup codes of user %s: %w", uid, err)
	}
	return int(n), nil
}

// MFAChallenges is the ports.MFAChallenges of a database.
type MFAChallenges struct{ db *DB }

var _ ports.MFAChallenges = (*MFAChallenges)(nil)

// NewMFAChallenges returns the sign-in challenge repository of db.
func NewMFAChallenges(db *DB) *MFAChallenges { return &MFAChallenges{db: db} }

type challengeRow struct {
	bun.BaseModel `bun:"table:mfa_challenges,alias:c"`

	TokenHash     string `bun:"token_hash,pk"`
	UserID        string `bun:"user_id"`
	Methods       string `bun:"methods"` // JSON array
	ClientIP      string `bun:"client_ip"`
	UserAgent     string `bun:"user_agent"`
	Attempts      int    `bun:"attempts"`
	PriorFailures int    `bun:"prior_failures"`
	CreatedAt     dbTime `bun:"created_at"`
	ExpiresAt     dbTime `bun:"expires_at"`
	CodeMethod    string `bun:"code_method"`
	Code          []byte `bun:"code"`
	CodeExpiresAt dbTime `bun:"code_expires_at"`
}

const challengeColumns = `token_hash, user_id, methods, client_ip, user_agent, attempts, prior_failures, created_at, expires_at,
	code_method, code, code_expires_at`

func fromChallengeRow(r challengeRow) (mfa.Challenge, error) {
	var names []string
	if err := json.Unmarshal([]byte(r.Methods), &names); err != nil {
		return mfa.Challenge{}, mfa.ErrCorrupt.Wrap(fmt.Errorf("challenge methods: %w", err))
	}
	c := mfa.Challenge{Hash: session.TokenHash(r.TokenHash), UserID: user.ID(r.UserID),
		Client: session.Client{IP: r.ClientIP, UserAgent: r.UserAgent}, Attempts: r.Attempts, PriorFailures: r.PriorFailures,
		CreatedAt: r.CreatedAt.Time, ExpiresAt: r.ExpiresAt.Time, Code: r.Code, CodeExpiresAt: r.CodeExpiresAt.Time}
	for _, n := range names {
		m, err := parseMethod(n, "challenge")
		if err != nil {
			return mfa.Challenge{}, err
		}
		c.Methods = append(c.Methods, m)
	}
	if r.CodeMethod != "" {
		m, err := parseMethod(r.CodeMethod, "challenge code")
		if err != nil {
			return mfa.Challenge{}, err
		}
		c.CodeMethod = m
	}
	return c, nil
}

// Create stores a new challenge.
func (r *MFAChallenges) Create(ctx context.Context, c mfa.Challenge) error {
	names := make([]string, len(c.Methods))
	for i, m := range c.Methods {
		names[i] = m.String()
	}
	methods, err := json.Marshal(names)
	if err != nil {
		return fmt.Errorf("sqlstore: encode challenge methods: %w", err)
	}
	row := challengeRow{TokenHash: string(c.Hash), UserID: string(c.UserID), Methods: string(methods),
		ClientIP: c.Client.IP, UserAgent: c.Client.UserAgent, Attempts: c.Attempts, PriorFailures: c.PriorFailures, CreatedAt: at(c.CreatedAt),
		ExpiresAt: at(c.ExpiresAt), CodeMethod: c.CodeMethod.String(), Code: nonEmpty(c.Code), CodeExpiresAt: at(c.CodeExpiresAt)}
	if _, err := r.db.conn(ctx).NewInsert().Model(&row).Exec(ctx); err != nil {
		if kind, _ := classify(err); kind == failForeignKey {
			return user.ErrNotFound
		}
		return fmt.Errorf("sqlstore: insert challenge: %w", err)
	}
	return nil
}

// ByHash returns the live challenge with hash h.
func (r *MFAChallenges) ByHash(ctx context.Context, h session.TokenHash, now time.Time) (mfa.Challenge, error) {
	var row challengeRow
	err := r.db.readConn(ctx).NewSelect().Model(&row).Where("c.token_hash = ?", string(h)).
		Where("c.expires_at > ?", at(now)).Where("c.attempts < ?", mfa.MaxAttempts).Scan(ctx)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return mfa.Challenge{}, mfa.ErrInvalidChallenge
	case err != nil:
		return mfa.Challenge{}, fmt.Errorf("sqlstore: select challenge: %w", err)
	}
	return fromChallengeRow(row)
}

// Attempt spends an attempt in one conditional UPDATE ... RETURNING, so no
// more than MaxAttempts of any number of concurrent attempts get through.
func (r *MFAChallenges) Attempt(ctx context.Context, h session.TokenHash, now time.Time) (mfa.Challenge, error) {
	var row challengeRow
	err := r.db.conn(ctx).NewRaw(`UPDATE mfa_challenges SET attempts = attempts + 1
		WHERE token_hash = ? AND expires_at > ? AND attempts < ? RETURNING `+challengeColumns,
		string(h), at(now), mfa.MaxAttempts).Scan(ctx, &row)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return mfa.Challenge{}, mfa.ErrInvalidChallenge
	case err != nil:
		return mfa.Challenge{}, fmt.Errorf("sqlstore: attempt challenge: %w", err)
	}
	return fromChallengeRow(row)
}

// SetCode stores the sealed code sent for the challenge.
func (r *MFAChallenges) SetCode(ctx context.Context, h session.TokenHash, m mfa.Method, sealed []byte, expires time.Time) error {
	res, err := r.db.conn(ctx).NewRaw(`UPDATE mfa_challenges SET code_method = ?, code = ?, code_expires_at = ?
		WHERE token_hash = ?`, m.String(), nonEmpty(sealed), at(expires), string(h)).Exec(ctx)
	ok, err := affected(res, err, "set challenge code")
	if err != nil {
		return err
	}
	if !ok {
		return mfa.ErrInvalidChallenge
	}
	return nil
}

// Delete removes the challenge.
func (r *MFAChallenges) Delete(ctx context.Context, h session.TokenHash) (bool, error) {
	res, err := r.db.conn(ctx).NewDelete().Model((*challengeRow)(nil)).Where("token_hash = ?", string(h)).Exec(ctx)
	return affected(res, err, "delete challenge")
}

// DeleteExpired removes challenges expired at now.
func (r *MFAChallenges) DeleteExpired(ctx context.Context, now time.Time) (int, error) {
	res, err := r.db.conn(ctx).NewDelete().Model((*challengeRow)(nil)).Where("expires_at <= ?", at(now)).Exec(ctx)
	if err != nil {
		return 0, fmt.Errorf("sqlstore: delete expired challenges: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("sqlstore: delete expired challenges: %w", err)
	}
	return int(n), nil
}
