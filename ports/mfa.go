package ports

import (
	"context"
	"time"

	"github.com/usermgmt/usermgmt/core/mfa"
	"github.com/usermgmt/usermgmt/core/session"
	"github.com/usermgmt/usermgmt/core/user"
)

// MFAFactors persists confirmed second factors and the enrollments that
// lead to them. Enrollments are separate from factors, so setting up a new
// authenticator never disturbs the one in use until it is confirmed.
type MFAFactors interface {
	// Factors lists uid's confirmed factors in the order of mfa.Factors.
	Factors(ctx context.Context, uid user.ID) ([]mfa.Factor, error)
	// Put creates or replaces uid's factor of f.Method.
	Put(ctx context.Context, f mfa.Factor) error
	// Delete removes uid's factor of m and reports whether there was one.
	Delete(ctx context.Context, uid user.ID, m mfa.Method) (bool, error)
	// UseTOTPStep raises the last used step of uid's TOTP factor to step,
	// atomically, and reports false when it is already at or past step: the
	// code was used before, by this request's twin or by an earlier one
	// (MF-02). Of concurrent calls with one step exactly one succeeds.
	UseTOTPStep(ctx context.Context, uid user.ID, step int64) (bool, error)

	// PutEnrollment starts (or restarts) uid's enrollment of e.Method.
	PutEnrollment(ctx context.Context, e mfa.Enrollment) error
	// Enrollment returns uid's pending enrollment of m, or mfa.ErrNoEnrollment.
	Enrollment(ctx context.Context, uid user.ID, m mfa.Method) (mfa.Enrollment, error)
	// DeleteEnrollment removes it and reports whether it was there, so of
	// concurrent confirmations exactly one goes on.
	DeleteEnrollment(ctx context.Context, uid user.ID, m mfa.Method) (bool, error)
}

// BackupCodes persists each user's set of backup codes, by hash only.
type BackupCodes interface {
	// Replace drops uid's codes and stores hashes as the new set (none: no set).
	Replace(ctx context.Context, uid user.ID, hashes []string, at time.Time) error
	// Use marks uid's unused code with hash used, atomically: false when
	// there is none, so a code works once under any concurrency (MF-07).
	Use(ctx context.Context, uid user.ID, hash string, at time.Time) (bool, error)
	// Remaining counts uid's unused codes.
	Remaining(ctx context.Context, uid user.ID) (int, error)
}

// MFAChallenges persists pending sign-in challenges, by token hash.
type MFAChallenges interface {
	Create(ctx context.Context, c mfa.Challenge) error
	// ByHash returns the live challenge with hash h without spending an
	// attempt, or mfa.ErrInvalidChallenge.
	ByHash(ctx context.Context, h session.TokenHash, now time.Time) (mfa.Challenge, error)
	// Attempt spends one of the challenge's attempts, atomically, and
	// returns it as it is after the spend; mfa.ErrInvalidChallenge when no
	// live challenge has the hash (unknown, expired at now, or out of
	// attempts). Of concurrent Attempts no more than mfa.MaxAttempts succeed.
	Attempt(ctx context.Context, h session.TokenHash, now time.Time) (mfa.Challenge, error)
	// SetCode stores the sealed code sent for the challenge by method m.
	SetCode(ctx context.Context, h session.TokenHash, m mfa.Method, sealed []byte, expires time.Time) error
	// Delete removes the challenge and reports whether it was there: of
	// concurrent sign-ins that passed it, exactly one may open a session.
	Delete(ctx context.Context, h session.TokenHash) (bool, error)
	// DeleteExpired removes challenges expired at now and reports how many.
	DeleteExpired(ctx context.Context, now time.Time) (int, error)
}

// OTP computes one-time passwords and enrollment URIs (RFC 4226, 6238).
type OTP interface {
	// TOTP returns the code of the raw secret for the time step: SHA-1,
	// mfa.TOTPDigits digits, as authenticator apps compute it.
	TOTP(secret []byte, step int64) (string, error)
	// KeyURI returns the otpauth:// URI that an authenticator app scans.
	KeyURI(issuer, account string, secret []byte) (string, error)
}

// SecretBox encrypts secrets at rest (TOTP seeds, sent codes) with
// authenticated encryption. context binds a ciphertext to its owner and
// use: opening it under another context fails, so a sealed value copied
// to another row is worthless.
type SecretBox interface {
	Seal(plaintext, context []byte) ([]byte, error)
	Open(sealed, context []byte) ([]byte, error)
}

// SMSSender delivers text messages (sign-in codes). The text carries a
// secret: implementations never log it, nor put it in an error.
type SMSSender interface {
	// SendSMS returns nil once the message is accepted for delivery. to
	// must be an E.164 number as mfa.NormalizePhone returns it (the form
	// the core stores); anything else is mfa.ErrInvalidPhone, and nothing
	// is sent.
	SendSMS(ctx context.Context, to, text string) error
}
