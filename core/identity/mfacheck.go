package identity

import (
	"context"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/usermgmt/usermgmt/core/mfa"
	"github.com/usermgmt/usermgmt/core/session"
	"github.com/usermgmt/usermgmt/core/user"
)

// codeCheck is a code being checked against a user's second factors.
type codeCheck struct {
	u       user.User
	factors []mfa.Factor
	code    string
	method  mfa.Method   // what the client says the code is; zero to infer it
	offered []mfa.Method // what may answer
	// oob checks six digits against a code sent by email or SMS; nil when
	// none was sent.
	oob func(ctx context.Context, digits string) (proof, bool, error)
}

// proof is a code that matched. use spends it, in the caller's
// transaction, and reports false when it was spent already: by a
// concurrent request with the same code, or before (a replay, MF-02).
type proof struct {
	method mfa.Method
	use    func(ctx context.Context) (bool, error)
}

func spent(context.Context) (bool, error) { return true, nil }

// refusalIsReplay reports what a refused use means. A TOTP code is refused
// only when its step was spent: a replay (MF-02). A backup code is
// refused when it is not one of the account's unused codes: a wrong code.
func (p proof) refusalIsReplay() bool { return p.method == mfa.MethodTOTP }

// check finds the factor that code proves. A code that matches nothing
// gives ok=false; one that cannot be a code at all gives mfa.ErrMalformedCode.
func (sf *SecondFactors) check(ctx context.Context, c codeCheck) (proof, bool, error) {
	uid := c.u.ID()
	if norm, ok := mfa.NormalizeBackupCode(c.code); ok && (c.method.IsZero() || c.method == mfa.MethodBackup) {
		if !slices.Contains(c.offered, mfa.MethodBackup) {
			return proof{}, false, nil
		}
		h := mfa.HashBackupCode(norm)
		now := sf.d.Clock.Now()
		return proof{method: mfa.MethodBackup, use: func(ctx context.Context) (bool, error) {
			return sf.d.BackupCodes.Use(ctx, uid, h, now)
		}}, true, nil
	}
	digits, ok := mfa.NormalizeDigits(c.code)
	if !ok {
		return proof{}, false, mfa.ErrMalformedCode
	}
	if c.oob != nil && (c.method.IsZero() || c.method.OutOfBand()) {
		p, ok, err := c.oob(ctx, digits)
		if err != nil || (ok && (c.method.IsZero() || c.method == p.method)) {
			return p, ok, err
		}
	}
	if (!c.method.IsZero() && c.method != mfa.MethodTOTP) || !slices.Contains(c.offered, mfa.MethodTOTP) {
		return proof{}, false, nil
	}
	i := slices.IndexFunc(c.factors, func(f mfa.Factor) bool { return f.Method == mfa.MethodTOTP })
	if i < 0 {
		return proof{}, false, nil
	}
	step, ok, err := sf.matchSealedTOTP(c.factors[i].Secret, uid, digits, sf.d.Clock.Now())
	if err != nil || !ok {
		return proof{}, false, err
	}
	return proof{method: mfa.MethodTOTP, use: func(ctx context.Context) (bool, error) {
		return sf.d.Factors.UseTOTPStep(ctx, uid, step)
	}}, true, nil
}

// matchSealedTOTP checks digits against the TOTP of uid's sealed seed
// around now and returns the step it matched.
func (sf *SecondFactors) matchSealedTOTP(sealed []byte, uid user.ID, digits string, now time.Time) (int64, bool, error) {
	seed, err := sf.d.Secrets.Open(sealed, seedContext(uid))
	if err != nil {
		return 0, false, fmt.Errorf("open totp seed: %w", err)
	}
	return mfa.MatchTOTP(digits, now, func(step int64) (string, error) { return sf.d.OTP.TOTP(seed, step) })
}

// sentCode checks digits against a sealed code sent by m and still valid at now.
func (sf *SecondFactors) sentCode(m mfa.Method, sealed []byte, aad []byte, expires, now time.Time, digits string) (bool, error) {
	if m.IsZero() || len(sealed) == 0 || !now.Before(expires) {
		return false, nil
	}
	want, err := sf.d.Secrets.Open(sealed, aad)
	if err != nil {
		return false, fmt.Errorf("open sent code: %w", err)
	}
	return subtle.ConstantTimeCompare(want, []byte(digits)) == 1, nil
}

// Contexts of sealed values: each binds a ciphertext to its user (or
// challenge) and its use, so a value copied elsewhere does not open.
func seedContext(uid user.ID) []byte { return []byte("totp-seed:" + string(uid)) }

func enrollCodeContext(m mfa.Method, uid user.ID) []byte {
	return []byte("enroll-code:" + m.String() + ":" + string(uid))
}

func challengeCodeContext(m mfa.Method, h session.TokenHash) []byte {
	return []byte("challenge-code:" + m.String() + ":" + string(h))
}

// newDigits returns a six-digit code from the CSPRNG (the modulo bias of
// 2^64 mod 10^6 is below 10^-13).
func (sf *SecondFactors) newDigits() string {
	n := binary.BigEndian.Uint64(sf.d.IDs.NewSecret(8))
	return fmt.Sprintf("%06d", n%1_000_000)
}

// seal seals a code for storage, bound to its use by aad.
func (sf *SecondFactors) seal(code string, aad []byte) ([]byte, error) {
	return sf.d.Secrets.Seal([]byte(code), aad)
}

// newBackupCodes returns a fresh set of backup codes and their hashes.
func (sf *SecondFactors) newBackupCodes() (codes, hashes []string) {
	for range mfa.BackupCodeCount {
		c := mfa.FormatBackupCode(sf.d.IDs.NewSecret(mfa.BackupCodeBytes))
		norm, _ := mfa.NormalizeBackupCode(c)
		codes = append(codes, c)
		hashes = append(hashes, mfa.HashBackupCode(norm))
	}
	return codes, hashes
}

// errCodeRefused marks a code that matched the shape of a factor but whose
// use was refused (see proof.refusalIsReplay).
var errCodeRefused = errors.New("identity: code refused")
