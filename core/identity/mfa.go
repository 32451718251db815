package identity

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
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

// MFADeps are what the MFA use cases drive; Logger is optional.
type MFADeps struct {
	Ledger      *Ledger
	Users       ports.Users
	Sessions    ports.Sessions
	Clock       ports.Clock
	Factors     *SecondFactors
	Reauth      *Reauthenticator
	Credentials *Credentials
	Issuer      *Issuer
	Revoker     *Revoker
	Mail        *Mail
	// Gate decides an administrator's reset of a user's factors.
	Gate   Gate
	Logger *slog.Logger
}

// MFA runs the management of second factors: the caller's enrolment,
// removal and backup codes, and an administrator's reset of a user's
// factors.
type MFA struct {
	d   MFADeps
	log *slog.Logger
}

// NewMFA returns the MFA use cases over d.
func NewMFA(d MFADeps) (*MFA, error) {
	if d.Ledger == nil || d.Users == nil || d.Sessions == nil || d.Clock == nil || d.Factors == nil || d.Reauth == nil ||
		d.Credentials == nil || d.Issuer == nil || d.Revoker == nil || d.Mail == nil || d.Gate == nil {
		return nil, missing("NewMFA")
	}
	return &MFA{d: d, log: orDiscard(d.Logger)}, nil
}

// BeginTOTP starts enrolling an authenticator app: a fresh 160-bit seed,
// sealed at rest, that becomes a factor only once a code from it is
// confirmed (MF-04, MF-05). On an account that already has MFA it needs
// the password and a current factor; a new app replaces the old one when
// confirmed.
func (s *MFA) BeginTOTP(ctx context.Context, p token.Claims, in Reauth) (TOTPSetup, error) {
	u, err := stepUp(ctx, s.d.Users, user.ID(p.Subject), p.AMR)
	if err != nil {
		return TOTPSetup{}, fmt.Errorf("begin totp: %w", err)
	}
	if !u.EmailVerified() {
		return TOTPSetup{}, ErrEmailNotVerifiedForMFA
	}
	if err := s.d.Reauth.check(ctx, u, in); err != nil {
		return TOTPSetup{}, err
	}
	return s.d.Factors.beginTOTP(ctx, u)
}

// BeginCodeFactor starts enrolling email (the verified address) or SMS
// (phone) as a factor: a code goes there, and confirming it enables the
// factor.
func (s *MFA) BeginCodeFactor(ctx context.Context, p token.Claims, m mfa.Method, phone string, in Reauth) (SentCode, error) {
	u, err := stepUp(ctx, s.d.Users, user.ID(p.Subject), p.AMR)
	if err != nil {
		return SentCode{}, fmt.Errorf("begin %s factor: %w", m, err)
	}
	switch {
	case !u.EmailVerified():
		return SentCode{}, ErrEmailNotVerifiedForMFA
	case m == mfa.MethodSMS && !s.d.Factors.smsOn(), !m.OutOfBand():
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
	factors, err := s.d.Factors.list(ctx, u.ID())
	if err != nil {
		return SentCode{}, fmt.Errorf("begin %s factor: %w", m, err)
	}
	if slices.Contains(methodsOf(factors), m) {
		return SentCode{}, mfa.ErrAlreadyEnrolled
	}
	if err := s.d.Reauth.check(ctx, u, in); err != nil {
		return SentCode{}, err
	}
	return s.d.Factors.beginCode(ctx, u, m, phone)
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
func (s *MFA) ConfirmFactor(ctx context.Context, p token.Claims, m mfa.Method, code string) (Enabled, error) {
	uid := user.ID(p.Subject)
	u, err := stepUp(ctx, s.d.Users, uid, p.AMR)
	if err != nil {
		return Enabled{}, fmt.Errorf("confirm factor: %w", err)
	}
	if !u.EmailVerified() {
		return Enabled{}, ErrEmailNotVerifiedForMFA
	}
	f, err := s.d.Factors.confirm(ctx, uid, m, code)
	if err != nil {
		return Enabled{}, err
	}
	now := f.CreatedAt // when the code was checked: the enablement's time throughout
	left, err := s.d.Factors.remaining(ctx, uid)
	if err != nil {
		return Enabled{}, fmt.Errorf("confirm factor: %w", err)
	}
	var codes, hashes []string
	if m == mfa.MethodTOTP || left == 0 {
		codes, hashes = s.d.Factors.newBackupCodes()
	}
	// The confirming session is replaced by a new one at AAL2 (SE-07):
	// access tokens issued to it before the factor existed carry no second
	// factor, and ending it makes every one of them fail at once, at
	// forward-auth too, which does not read the account (SE-13).
	current, err := s.d.Sessions.ByID(ctx, session.ID(p.SessionID))
	if err != nil {
		return Enabled{}, fmt.Errorf("confirm factor: %w", err)
	}
	sess, refresh := s.d.Issuer.open(uid, current.Client, mfa.SessionAMR(current.AMR, m), now)
	var ended []session.Revocation
	err = s.d.Ledger.commit(ctx, func(ctx context.Context) error {
		if err := s.d.Factors.enable(ctx, f); err != nil {
			return err
		}
		// A recovery older than this authenticated enrollment no longer
		// narrows the methods of the next sign-in.
		if err := s.d.Credentials.setRecovered(ctx, uid, time.Time{}); err != nil && !errors.Is(err, credential.ErrNoPassword) {
			return err
		}
		if u, err = s.d.Users.Update(ctx, uid, func(u *user.User) error { u.SetMFA(true, now); return nil }); err != nil {
			return err
		}
		if codes != nil {
			if err := s.d.Factors.replaceBackupCodes(ctx, uid, hashes, now); err != nil {
				return err
			}
		}
		if err := s.d.Sessions.Create(ctx, sess); err != nil {
			return err
		}
		if err := s.d.Ledger.record(ctx, uid, now, event.UserMFAEnabled{UserID: string(uid), MFAMethod: m.String(),
			BackupCodesGenerated: codes != nil}); err != nil {
			return err
		}
		ended, err = s.d.Revoker.revokeUser(ctx, uid, sess.ID, session.ReasonForced, now)
		return err
	})
	if errors.Is(err, mfa.ErrNoEnrollment) {
		return Enabled{}, mfa.ErrNoEnrollment // confirmed by a concurrent request
	}
	if err != nil {
		return Enabled{}, fmt.Errorf("confirm factor: %w", err)
	}
	if err := s.d.Revoker.publish(ctx, ended...); err != nil {
		return Enabled{}, err
	}
	s.d.Mail.notify(ctx, u, ports.SecurityNotice{Kind: ports.NoticeMFAEnabled, At: now, Method: m.String()})
	a, err := s.d.Issuer.auth(ctx, u, sess, refresh, now)
	if err != nil {
		return Enabled{}, err
	}
	return Enabled{Method: m, BackupCodes: codes, Tokens: a.Tokens}, nil
}
