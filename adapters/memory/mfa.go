package memory

import (
	"context"
	"maps"
	"slices"
	"time"

	"github.com/usermgmt/usermgmt/core/mfa"
	"github.com/usermgmt/usermgmt/core/session"
	"github.com/usermgmt/usermgmt/core/user"
	"github.com/usermgmt/usermgmt/ports"
)

type factorKey struct {
	uid    user.ID
	method mfa.Method
}

type backupCode struct {
	created time.Time
	used    bool
}

// MFAFactors is the in-memory ports.MFAFactors.
type MFAFactors struct{ s *Store }

// NewMFAFactors returns the store's second factors.
func NewMFAFactors(s *Store) *MFAFactors { return &MFAFactors{s} }

var _ ports.MFAFactors = (*MFAFactors)(nil)

func cloneFactor(f mfa.Factor) mfa.Factor             { f.Secret = slices.Clone(f.Secret); return f }
func cloneEnrollment(e mfa.Enrollment) mfa.Enrollment { e.Secret = slices.Clone(e.Secret); return e }

// Factors lists uid's factors in the order of mfa.Factors.
func (r *MFAFactors) Factors(ctx context.Context, uid user.ID) ([]mfa.Factor, error) {
	defer r.s.lock(ctx)()
	var out []mfa.Factor
	for _, m := range mfa.Factors {
		if f, ok := r.s.factors[factorKey{uid, m}]; ok {
			out = append(out, cloneFactor(f))
		}
	}
	return out, nil
}

// Put creates or replaces uid's factor of f.Method.
func (r *MFAFactors) Put(ctx context.Context, f mfa.Factor) error {
	defer r.s.lock(ctx)()
	if _, ok := r.s.users[string(f.UserID)]; !ok {
		return user.ErrNotFound
	}
	putUndoable(ctx, r.s.factors, factorKey{f.UserID, f.Method}, cloneFactor(f))
	return nil
}

// Delete removes uid's factor of m.
func (r *MFAFactors) Delete(ctx context.Context, uid user.ID, m mfa.Method) (bool, error) {
	defer r.s.lock(ctx)()
	return deleteUndoable(ctx, r.s.factors, factorKey{uid, m}), nil
}

// UseTOTPStep raises the last used step when step is past it.
func (r *MFAFactors) UseTOTPStep(ctx context.Context, uid user.ID, step int64) (bool, error) {
	defer r.s.lock(ctx)()
	k := factorKey{uid, mfa.MethodTOTP}
	f, ok := r.s.factors[k]
	if !ok || f.LastUsedStep >= step {
		return false, nil
	}
	f.LastUsedStep = step
	putUndoable(ctx, r.s.factors, k, f)
	return true, nil
}

// PutEnrollment starts or restarts uid's enrollment of e.Method.
func (r *MFAFactors) PutEnrollment(ctx context.Context, e mfa.Enrollment) error {
	defer r.s.lock(ctx)()
	if _, ok := r.s.users[string(e.UserID)]; !ok {
		return user.ErrNotFound
	}
	putUndoable(ctx, r.s.enrollments, factorKey{e.UserID, e.Method}, cloneEnrollment(e))
	return nil
}

// Enrollment returns uid's pending enrollment of m.
func (r *MFAFactors) Enrollment(ctx context.Context, uid user.ID, m mfa.Method) (mfa.Enrollment, error) {
	defer r.s.lock(ctx)()
	e, ok := r.s.enrollments[factorKey{uid, m}]
	if !ok {
		return mfa.Enrollment{}, mfa.ErrNoEnrollment
	}
	return cloneEnrollment(e), nil
}

// DeleteEnrollment removes uid's enrollment of m.
func (r *MFAFactors) DeleteEnrollment(ctx context.Context, uid user.ID, m mfa.Method) (bool, error) {
	defer r.s.lock(ctx)()
	return deleteUndoable(ctx, r.s.enrollments, factorKey{uid, m}), nil
}

// BackupCodes is the in-memory ports.BackupCodes.
type BackupCodes struct{ s *Store }

// NewBackupCodes returns the store's backup codes.
func NewBackupCodes(s *Store) *BackupCodes { return &BackupCodes{s} }

var _ ports.BackupCodes = (*BackupCodes)(nil)

// Replace swaps uid's set for hashes.
func (r *BackupCodes) Replace(ctx context.Context, uid user.ID, hashes []string, at time.Time) error {
	defer r.s.lock(ctx)()
	if _, ok := r.s.users[string(uid)]; !ok {
		return user.ErrNotFound
	}
	set := make(map[string]backupCode, len(hashes))
	for _, h := range hashes {
		set[h] = backupCode{created: at}
	}
	putUndoable(ctx, r.s.backupCodes, uid, set)
	return nil
}

// Use marks an unused code used.
func (r *BackupCodes) Use(ctx context.Context, uid user.ID, hash string, _ time.Time) (bool, error) {
	defer r.s.lock(ctx)()
	set := r.s.backupCodes[uid]
	c, ok := set[hash]
	if !ok || c.used {
		return false, nil
	}
	next := maps.Clone(set)
	c.used = true
	next[hash] = c
	putUndoable(ctx, r.s.backupCodes, uid, next)
	return true, nil
}

// Remaining counts uid's unused codes.
func (r *BackupCodes) Remaining(ctx context.Context, uid user.ID) (int, error) {
	defer r.s.lock(ctx)()
	n := 0
	for _, c := range r.s.backupCodes[uid] {
		if !c.used {
			n++
		}
	}
	return n, nil
}

// MFAChallenges is the in-memory ports.MFAChallenges.
type MFAChallenges struct{ s *Store }

// NewMFAChallenges returns the store's sign-in challenges.
func NewMFAChallenges(s *Store) *MFAChallenges { return &MFAChallenges{s} }

var _ ports.MFAChallenges = (*MFAChallenges)(nil)

func cloneChallenge(c mfa.Challenge) mfa.Challenge {
	c.Methods = slices.Clone(c.Methods)
	c.Code = slices.Clone(c.Code)
	return c
}

// Create stores a new challenge.
func (r *MFAChallenges) Create(ctx context.Context, c mfa.Challenge) error {
	defer r.s.lock(ctx)()
	if _, ok := r.s.users[string(c.UserID)]; !ok {
		return user.ErrNotFound
	}
	putUndoable(ctx, r.s.challenges, c.Hash, cloneChallenge(c))
	return nil
}

// ByHash returns the live challenge with hash h.
func (r *MFAChallenges) ByHash(ctx context.Context, h session.TokenHash, now time.Time) (mfa.Challenge, error) {
	defer r.s.lock(ctx)()
	c, ok := r.s.challenges[h]
	if !ok || !c.Live(now) {
		return mfa.Challenge{}, mfa.ErrInvalidChallenge
	}
	return cloneChallenge(c), nil
}

// Attempt spends one attempt of a live challenge.
func (r *MFAChallenges) Attempt(ctx context.Context, h session.TokenHash, now time.Time) (mfa.Challenge, error) {
	defer r.s.lock(ctx)()
	c, ok := r.s.challenges[h]
	if !ok || !c.Live(now) {
		return mfa.Challenge{}, mfa.ErrInvalidChallenge
	}
	c.Attempts++
	putUndoable(ctx, r.s.challenges, h, c)
	return cloneChallenge(c), nil
}

// SetCode stores the sealed code sent for the challenge.
func (r *MFAChallenges) SetCode(ctx context.Context, h session.TokenHash, m mfa.Method, sealed []byte, expires time.Time) error {
	defer r.s.lock(ctx)()
	c, ok := r.s.challenges[h]
	if !ok {
		return mfa.ErrInvalidChallenge
	}
	c.CodeMethod, c.Code, c.CodeExpiresAt = m, slices.Clone(sealed), expires
	putUndoable(ctx, r.s.challenges, h, c)
	return nil
}

// Delete removes the challenge.
func (r *MFAChallenges) Delete(ctx context.Context, h session.TokenHash) (bool, error) {
	defer r.s.lock(ctx)()
	return deleteUndoable(ctx, r.s.challenges, h), nil
}

// DeleteExpired removes challenges expired at now.
func (r *MFAChallenges) DeleteExpired(ctx context.Context, now time.Time) (int, error) {
	defer r.s.lock(ctx)()
	n := 0
	for h, c := range r.s.challenges {
		if !now.Before(c.ExpiresAt) {
			deleteUndoable(ctx, r.s.challenges, h)
			n++
		}
	}
	return n, nil
}

// putUndoable sets m[k] = v and, in a transaction, registers how to restore
// what was there.
func putUndoable[K comparable, V any](ctx context.Context, m map[K]V, k K, v V) {
	old, had := m[k]
	m[k] = v
	onRollback(ctx, func() {
		if had {
			m[k] = old
		} else {
			delete(m, k)
		}
	})
}

// deleteUndoable deletes m[k], reports whether it was there and, in a
// transaction, registers how to restore it.
func deleteUndoable[K comparable, V any](ctx context.Context, m map[K]V, k K) bool {
	old, had := m[k]
	if !had {
		return false
	}
	delete(m, k)
	onRollback(ctx, func() { m[k] = old })
	return true
}
