package identity

import (
	"context"
	"encoding/base32"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/usermgmt/usermgmt/core/credential"
	"github.com/usermgmt/usermgmt/core/errs"
	"github.com/usermgmt/usermgmt/core/event"
	"github.com/usermgmt/usermgmt/core/mfa"
	"github.com/usermgmt/usermgmt/core/session"
	"github.com/usermgmt/usermgmt/core/token"
	"github.com/usermgmt/usermgmt/core/user"
	"github.com/usermgmt/usermgmt/ports"
)

// Errors of factor management.
var (
	errCodeRequired = errs.ErrValidation.WithFields(errs.FieldError{Field: "code",
		Message: "is required: give a code from a second factor of the account"})
	errWrongCode = errs.ErrValidation.WithFields(errs.FieldError{Field: "code", Message: "is wrong or has expired"})
	// ErrEmailNotVerifiedForMFA refuses any factor before the address is
	// proven (MF-09): whoever registered someone else's address must not
	// be able to put a factor between its owner and a mailbox recovery.
	ErrEmailNotVerifiedForMFA = errs.New(errs.Precondition, "mfa.email_not_verified", "verify your email address before adding a second factor")
	// ErrNoMFA refuses what needs a second factor on an account without one.
	ErrNoMFA = errs.New(errs.Precondition, "mfa.not_enabled", "the account has no second factor")
)

// TOTPSetup is a started TOTP enrollment. The secret is shown here once
// and never again (MF-04).
type TOTPSetup struct {
	Secret    string // base32, for typing into an app
	URI       string // otpauth://, for a QR code
	ExpiresAt time.Time
}

// BeginTOTP starts enrolling an authenticator app: a fresh 160-bit seed,
// sealed at rest, that becomes a factor only once a code from it is
// confirmed (MF-04, MF-05). On an account that already has MFA it needs
// the password and a current factor; a new app replaces the old one when
// confirmed.
func (s *Service) BeginTOTP(ctx context.Context, p token.Claims, in Reauth) (TOTPSetup, error) {
	u, err := s.stepUp(ctx, user.ID(p.Subject), p.AMR)
	if err != nil {
		return TOTPSetup{}, fmt.Errorf("begin totp: %w", err)
	}
	if !u.EmailVerified() {
		return TOTPSetup{}, ErrEmailNotVerifiedForMFA
	}
	if err := s.reauthenticate(ctx, u, in); err != nil {
		return TOTPSetup{}, err
	}
	seed := s.d.IDs.NewSecret(mfa.TOTPSecretSize)
	sealed, err := s.d.Secrets.Seal(seed, seedContext(u.ID()))
	if err != nil {
		return TOTPSetup{}, fmt.Errorf("begin totp: %w", err)
	}
	uri, err := s.d.OTP.KeyURI(s.cfg.TOTPIssuer, u.Email(), seed)
	if err != nil {
		return TOTPSetup{}, fmt.Errorf("begin totp: %w", err)
	}
	now := s.d.Clock.Now()
	e := mfa.Enrollment{UserID: u.ID(), Method: mfa.MethodTOTP, Secret: sealed, CreatedAt: now, ExpiresAt: now.Add(mfa.EnrollmentTTL)}
	if err := s.d.Factors.PutEnrollment(ctx, e); err != nil {
		return TOTPSetup{}, fmt.Errorf("begin totp: %w", err)
	}
	return TOTPSetup{Secret: base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(seed), URI: uri, ExpiresAt: e.ExpiresAt}, nil
}

// BeginCodeFactor starts enrolling email (the verified address) or SMS
// (phone) as a factor: a code goes there, and confirming it enables the
// factor.
func (s *Service) BeginCodeFactor(ctx context.Context, p token.Claims, m mfa.Method, phone string, in Reauth) (SentCode, error) {
	u, err := s.stepUp(ctx, user.ID(p.Subject), p.AMR)
	if err != nil {
		return SentCode{}, fmt.Errorf("begin %s factor: %w", m, err)
	}
	switch {
	case !u.EmailVerified():
		return SentCode{}, ErrEmailNotVerifiedForMFA
	case m == mfa.MethodSMS && s.d.SMS == nil, !m.OutOfBand():
		return SentCode{}, mfa.ErrUnavailable
	}
	if m == mfa.MethodSMS {
		var v errs.Validation
		phone, err = mfa.NormalizePhone(phone)
		v.Check("phone", err)
		if err := v.Err(); err != nil {
			return SentCode{}, err
		}
	}
	factors, err := s.d.Factors.Factors(ctx, u.ID())
	if err != nil {
		return SentCode{}, fmt.Errorf("begin %s factor: %w", m, err)
	}
	if slices.Contains(methodsOf(factors), m) {
		return SentCode{}, mfa.ErrAlreadyEnrolled
	}
	if err := s.reauthenticate(ctx, u, in); err != nil {
		return SentCode{}, err
	}
	code := s.newDigits()
	sealed, err := s.d.Secrets.Seal([]byte(code), enrollCodeContext(m, u.ID()))
	if err != nil {
		return SentCode{}, fmt.Errorf("begin %s factor: %w", m, err)
	}
	now := s.d.Clock.Now()
	e := mfa.Enrollment{UserID: u.ID(), Method: m, Secret: sealed, Phone: phone, CreatedAt: now, ExpiresAt: now.Add(mfa.CodeTTL)}
	if err := s.d.Factors.PutEnrollment(ctx, e); err != nil {
		return SentCode{}, fmt.Errorf("begin %s factor: %w", m, err)
	}
	return s.sendCode(ctx, u, m, phone, code, e.ExpiresAt)
}

// Enabled is a confirmed factor.
type Enabled struct {
	Method mfa.Method
	// BackupCodes is a new set, shown once: always with TOTP, and with the
	// first factor of an account; nil when the account's set was kept.
	BackupCodes []string
	// Tokens open the session that replaces the confirming one, at AAL2;
	// the confirming session has ended.
	Tokens Tokens
}

// ConfirmFactor enables the pending factor m with a code from it (MF-05).
// It ends every other session of the account (SE-08) and emits
// user.mfa_enabled.
func (s *Service) ConfirmFactor(ctx context.Context, p token.Claims, m mfa.Method, code string) (Enabled, error) {
	uid := user.ID(p.Subject)
	u, err := s.stepUp(ctx, uid, p.AMR)
	if err != nil {
		return Enabled{}, fmt.Errorf("confirm factor: %w", err)
	}
	if !u.EmailVerified() {
		return Enabled{}, ErrEmailNotVerifiedForMFA
	}
	if err := s.throttle.take(ctx, "mfa-confirm:"+string(uid), 10, 15*time.Minute); err != nil {
		return Enabled{}, err
	}
	now := s.d.Clock.Now()
	e, err := s.d.Factors.Enrollment(ctx, uid, m)
	if errors.Is(err, mfa.ErrNoEnrollment) || (err == nil && !now.Before(e.ExpiresAt)) {
		return Enabled{}, mfa.ErrNoEnrollment
	}
	if err != nil {
		return Enabled{}, fmt.Errorf("confirm factor: %w", err)
	}
	digits, ok := mfa.NormalizeDigits(code)
	if !ok {
		return Enabled{}, errWrongCode
	}
	f := mfa.Factor{UserID: uid, Method: m, Phone: e.Phone, CreatedAt: now}
	if m == mfa.MethodTOTP {
		// The confirming code is spent: its step becomes the last used.
		f.Secret = e.Secret
		f.LastUsedStep, ok, err = s.matchSealedTOTP(e.Secret, uid, digits, now)
	} else {
		ok, err = s.sentCode(m, e.Secret, enrollCodeContext(m, uid), e.ExpiresAt, now, digits)
	}
	if err != nil {
		return Enabled{}, fmt.Errorf("confirm factor: %w", err)
	}
	if !ok {
		return Enabled{}, errWrongCode
	}
	left, err := s.d.BackupCodes.Remaining(ctx, uid)
	if err != nil {
		return Enabled{}, fmt.Errorf("confirm factor: %w", err)
	}
	var codes, hashes []string
	if m == mfa.MethodTOTP || left == 0 {
		codes, hashes = s.newBackupCodes()
	}
	// The confirming session is replaced by a new one at AAL2 (SE-07):
	// access tokens issued to it before the factor existed carry no second
	// factor, and ending it makes every one of them fail at once, at
	// forward-auth too, which does not read the account (SE-13).
	current, err := s.d.Sessions.ByID(ctx, session.ID(p.SessionID))
	if err != nil {
		return Enabled{}, fmt.Errorf("confirm factor: %w", err)
	}
	sess, refresh := s.newSession(uid, current.Client, mfa.SessionAMR(current.AMR, m), now)
	var ended []session.Revocation
	err = s.d.Tx.WithinTx(ctx, func(ctx context.Context) error {
		if ok, err := s.d.Factors.DeleteEnrollment(ctx, uid, m); err != nil || !ok {
			return errors.Join(err, mfa.ErrNoEnrollment)
		}
		if err := s.d.Factors.Put(ctx, f); err != nil {
			return err
		}
		// A recovery older than this authenticated enrollment no longer
		// narrows the methods of the next sign-in.
		if err := s.d.Credentials.SetRecovered(ctx, uid, time.Time{}); err != nil && !errors.Is(err, credential.ErrNoPassword) {
			return err
		}
		if u, err = s.d.Users.Update(ctx, uid, func(u *user.User) error { u.SetMFA(true, now); return nil }); err != nil {
			return err
		}
		if codes != nil {
			if err := s.d.BackupCodes.Replace(ctx, uid, hashes, now); err != nil {
				return err
			}
		}
		if err := s.d.Sessions.Create(ctx, sess); err != nil {
			return err
		}
		if err := s.d.Outbox.Append(ctx, s.event(uid, now, event.UserMFAEnabled{UserID: string(uid), MFAMethod: m.String(),
			BackupCodesGenerated: codes != nil})); err != nil {
			return err
		}
		ended, err = s.revokeUser(ctx, uid, sess.ID, session.ReasonForced, now)
		return err
	})
	if errors.Is(err, mfa.ErrNoEnrollment) {
		return Enabled{}, mfa.ErrNoEnrollment // confirmed by a concurrent request
	}
	if err != nil {
		return Enabled{}, fmt.Errorf("confirm factor: %w", err)
	}
	if err := s.d.Revoked.Add(ctx, ended...); err != nil {
		return Enabled{}, err
	}
	s.notify(ctx, u, ports.SecurityNotice{Kind: ports.NoticeMFAEnabled, At: now, Method: m.String()})
	a, err := s.authFor(ctx, u, sess, refresh, now)
	if err != nil {
		return Enabled{}, err
	}
	return Enabled{Method: m, BackupCodes: codes, Tokens: a.Tokens}, nil
}
