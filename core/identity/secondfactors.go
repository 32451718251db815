package identity

import (
	"context"
	"encoding/base32"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/usermgmt/usermgmt/core/errs"
	"github.com/usermgmt/usermgmt/core/mfa"
	"github.com/usermgmt/usermgmt/core/user"
	"github.com/usermgmt/usermgmt/ports"
)

// SecondFactorsDeps are what SecondFactors drives. SMS is the only
// optional port: without it the SMS factor is off. Logger is optional.
type SecondFactorsDeps struct {
	Users       ports.Users
	Factors     ports.MFAFactors
	BackupCodes ports.BackupCodes
	OTP         ports.OTP
	Secrets     ports.SecretBox
	Mailer      ports.Mailer
	SMS         ports.SMSSender
	IDs         ports.IDs
	Clock       ports.Clock
	Throttle    *Throttle
	Logger      *slog.Logger
}

// SecondFactorsConfig holds the settings of second factors.
type SecondFactorsConfig struct {
	// TOTPIssuer names the service in authenticator apps and in texted
	// codes (default "usermgmt").
	TOTPIssuer string
}

// SecondFactors keeps accounts' second factors: pending enrolments, the
// factors, their sealed secrets, the codes sent and checked, and backup
// codes. The sign-in challenge, re-authentication and factor management
// all check and send codes through it, so one code is spent once whatever
// path it comes by (MF-02) and every code send spends one budget.
type SecondFactors struct {
	d   SecondFactorsDeps
	cfg SecondFactorsConfig
	log *slog.Logger
}

// NewSecondFactors returns SecondFactors over d.
func NewSecondFactors(d SecondFactorsDeps, cfg SecondFactorsConfig) (*SecondFactors, error) {
	if d.Users == nil || d.Factors == nil || d.BackupCodes == nil || d.OTP == nil || d.Secrets == nil ||
		d.Mailer == nil || d.IDs == nil || d.Clock == nil || d.Throttle == nil {
		return nil, missing("NewSecondFactors")
	}
	if cfg.TOTPIssuer == "" {
		cfg.TOTPIssuer = "usermgmt"
	}
	return &SecondFactors{d: d, cfg: cfg, log: orDiscard(d.Logger)}, nil
}

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

// smsOn reports whether codes can be texted.
func (sf *SecondFactors) smsOn() bool { return sf.d.SMS != nil }

// list returns uid's enabled factors.
func (sf *SecondFactors) list(ctx context.Context, uid user.ID) ([]mfa.Factor, error) {
	return sf.d.Factors.Factors(ctx, uid)
}

// remaining is how many unused backup codes uid has.
func (sf *SecondFactors) remaining(ctx context.Context, uid user.ID) (int, error) {
	return sf.d.BackupCodes.Remaining(ctx, uid)
}

// replaceBackupCodes makes hashes uid's only backup codes.
func (sf *SecondFactors) replaceBackupCodes(ctx context.Context, uid user.ID, hashes []string, now time.Time) error {
	return sf.d.BackupCodes.Replace(ctx, uid, hashes, now)
}

// signInMethods lists what can answer a sign-in challenge of u: the
// enrolled factors that can be used now and, while any are left, backup
// codes.
func (sf *SecondFactors) signInMethods(ctx context.Context, u user.User) ([]mfa.Method, error) {
	fs, err := sf.d.Factors.Factors(ctx, u.ID())
	if err != nil {
		return nil, err
	}
	ms := methodsOf(fs)
	if sf.d.SMS == nil {
		ms = slices.DeleteFunc(ms, func(m mfa.Method) bool { return m == mfa.MethodSMS })
	}
	left, err := sf.d.BackupCodes.Remaining(ctx, u.ID())
	if err != nil {
		return nil, err
	}
	if left > 0 {
		ms = append(ms, mfa.MethodBackup)
	}
	return ms, nil
}

// newChallengeToken returns a fresh 256-bit sign-in challenge token.
func (sf *SecondFactors) newChallengeToken() string {
	return base64.RawURLEncoding.EncodeToString(sf.d.IDs.NewSecret(32))
}

// TOTPSetup is a started TOTP enrollment. The secret is shown here once
// and never again (MF-04).
type TOTPSetup struct {
	Secret    string // base32, for typing into an app
	URI       string // otpauth://, for a QR code
	ExpiresAt time.Time
}

// beginTOTP stores a pending authenticator app for u: a fresh 160-bit
// seed, sealed at rest, that becomes a factor only once a code from it is
// confirmed (MF-04, MF-05).
func (sf *SecondFactors) beginTOTP(ctx context.Context, u user.User) (TOTPSetup, error) {
	seed := sf.d.IDs.NewSecret(mfa.TOTPSecretSize)
	sealed, err := sf.d.Secrets.Seal(seed, seedContext(u.ID()))
	if err != nil {
		return TOTPSetup{}, fmt.Errorf("begin totp: %w", err)
	}
	uri, err := sf.d.OTP.KeyURI(sf.cfg.TOTPIssuer, u.Email(), seed)
	if err != nil {
		return TOTPSetup{}, fmt.Errorf("begin totp: %w", err)
	}
	now := sf.d.Clock.Now()
	e := mfa.Enrollment{UserID: u.ID(), Method: mfa.MethodTOTP, Secret: sealed, CreatedAt: now, ExpiresAt: now.Add(mfa.EnrollmentTTL)}
	if err := sf.d.Factors.PutEnrollment(ctx, e); err != nil {
		return TOTPSetup{}, fmt.Errorf("begin totp: %w", err)
	}
	return TOTPSetup{Secret: base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(seed), URI: uri, ExpiresAt: e.ExpiresAt}, nil
}

// beginCode stores a pending email or SMS factor (phone) of u and sends
// the code that confirms it.
func (sf *SecondFactors) beginCode(ctx context.Context, u user.User, m mfa.Method, phone string) (SentCode, error) {
	code := sf.newDigits()
	sealed, err := sf.seal(code, enrollCodeContext(m, u.ID()))
	if err != nil {
		return SentCode{}, fmt.Errorf("begin %s factor: %w", m, err)
	}
	now := sf.d.Clock.Now()
	e := mfa.Enrollment{UserID: u.ID(), Method: m, Secret: sealed, Phone: phone, CreatedAt: now, ExpiresAt: now.Add(mfa.CodeTTL)}
	if err := sf.d.Factors.PutEnrollment(ctx, e); err != nil {
		return SentCode{}, fmt.Errorf("begin %s factor: %w", m, err)
	}
	return sf.send(ctx, u, m, phone, code, e.ExpiresAt)
}

// confirm checks code against uid's pending enrolment of m, within a
// budget of tries, and returns the factor it proves, created now (MF-05).
// The confirming TOTP code is spent: its step becomes the last used.
func (sf *SecondFactors) confirm(ctx context.Context, uid user.ID, m mfa.Method, code string) (mfa.Factor, error) {
	if err := sf.d.Throttle.take(ctx, "mfa-confirm:"+string(uid), 10, 15*time.Minute); err != nil {
		return mfa.Factor{}, err
	}
	now := sf.d.Clock.Now()
	e, err := sf.d.Factors.Enrollment(ctx, uid, m)
	if errors.Is(err, mfa.ErrNoEnrollment) || (err == nil && !now.Before(e.ExpiresAt)) {
		return mfa.Factor{}, mfa.ErrNoEnrollment
	}
	if err != nil {
		return mfa.Factor{}, fmt.Errorf("confirm factor: %w", err)
	}
	digits, ok := mfa.NormalizeDigits(code)
	if !ok {
		return mfa.Factor{}, errWrongCode
	}
	f := mfa.Factor{UserID: uid, Method: m, Phone: e.Phone, CreatedAt: now}
	if m == mfa.MethodTOTP {
		f.Secret = e.Secret
		f.LastUsedStep, ok, err = sf.matchSealedTOTP(e.Secret, uid, digits, now)
	} else {
		ok, err = sf.sentCode(m, e.Secret, enrollCodeContext(m, uid), e.ExpiresAt, now, digits)
	}
	if err != nil {
		return mfa.Factor{}, fmt.Errorf("confirm factor: %w", err)
	}
	if !ok {
		return mfa.Factor{}, errWrongCode
	}
	return f, nil
}

// enable turns the pending enrolment of f's method into f, in the
// caller's transaction; mfa.ErrNoEnrollment when a concurrent request has
// confirmed it first.
func (sf *SecondFactors) enable(ctx context.Context, f mfa.Factor) error {
	if ok, err := sf.d.Factors.DeleteEnrollment(ctx, f.UserID, f.Method); err != nil || !ok {
		return errors.Join(err, mfa.ErrNoEnrollment)
	}
	return sf.d.Factors.Put(ctx, f)
}

// remove deletes uid's factor m, in the caller's transaction;
// mfa.ErrNotEnrolled when there is none.
func (sf *SecondFactors) remove(ctx context.Context, uid user.ID, m mfa.Method) error {
	if ok, err := sf.d.Factors.Delete(ctx, uid, m); err != nil || !ok {
		return errors.Join(err, mfa.ErrNotEnrolled)
	}
	return nil
}
