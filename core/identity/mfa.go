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

// Reauth is the fresh proof a factor change needs (MF-05): the password
// and, when the account has a second factor, a code of one of them.
type Reauth struct {
	Password string
	Code     string
	Client   session.Client
}

// reauthenticate proves the password (counting toward the account's
// lockout) and, on an account with MFA, spends a code of a current factor:
// a TOTP or backup code, or a code sent by RequestReauthCode.
func (s *Service) reauthenticate(ctx context.Context, u user.User, in Reauth) error {
	if err := s.provePassword(ctx, u, in.Password, errWrongPassword); err != nil {
		return err
	}
	if !u.MFAEnabled() {
		return nil
	}
	if in.Code == "" {
		return errCodeRequired
	}
	account := "mfa:" + accountKey(u, "")
	attempt, err := s.reserveAttempt(ctx, account, account)
	if err != nil {
		return err
	}
	factors, err := s.d.Factors.Factors(ctx, u.ID())
	if err != nil {
		return fmt.Errorf("re-authenticate: %w", err)
	}
	now := s.d.Clock.Now()
	pr, ok, err := s.check(ctx, codeCheck{u: u, factors: factors, code: in.Code, offered: append(methodsOf(factors), mfa.MethodBackup),
		oob: func(ctx context.Context, digits string) (proof, bool, error) {
			h := tokenHash(string(u.ID()) + ":" + digits)
			if _, err := s.d.Tokens.Lookup(ctx, ports.PurposeMFAReauth, h, now); errors.Is(err, user.ErrNotFound) {
				return proof{}, false, nil
			} else if err != nil {
				return proof{}, false, err
			}
			return proof{method: mfa.MethodEmail, use: func(ctx context.Context) (bool, error) {
				_, err := s.d.Tokens.Consume(ctx, ports.PurposeMFAReauth, h, now)
				if errors.Is(err, user.ErrNotFound) {
					return false, nil
				}
				return err == nil, err
			}}, true, nil
		}})
	if err != nil && !errors.Is(err, mfa.ErrMalformedCode) {
		return fmt.Errorf("re-authenticate: %w", err)
	}
	if ok {
		if ok, err = pr.use(ctx); err != nil {
			return fmt.Errorf("re-authenticate: %w", err)
		}
		if !ok && pr.refusalIsReplay() {
			if err := s.reportReplay(ctx, u, pr.method, in.Client); err != nil {
				return err
			}
		}
	}
	if !ok {
		if err := s.reportLimit(ctx, u, attempt, in.Client, "mfa"); err != nil {
			return err
		}
		return errWrongCode
	}
	return s.succeeded(ctx, account)
}

var errWrongPassword = errs.ErrValidation.WithFields(errs.FieldError{Field: "password", Message: "is incorrect"})

func methodsOf(fs []mfa.Factor) []mfa.Method {
	ms := make([]mfa.Method, len(fs))
	for i, f := range fs {
		ms[i] = f.Method
	}
	return ms
}

// RequestReauthCode sends a code for Reauth by the caller's email or SMS
// factor, for accounts whose only factors send codes.
func (s *Service) RequestReauthCode(ctx context.Context, p token.Claims, m mfa.Method) (SentCode, error) {
	u, err := s.stepUp(ctx, user.ID(p.Subject), p.AMR)
	if err != nil {
		return SentCode{}, fmt.Errorf("reauth code: %w", err)
	}
	factors, err := s.d.Factors.Factors(ctx, u.ID())
	if err != nil {
		return SentCode{}, fmt.Errorf("reauth code: %w", err)
	}
	i := slices.IndexFunc(factors, func(f mfa.Factor) bool { return f.Method == m })
	if !m.OutOfBand() || i < 0 {
		return SentCode{}, mfa.ErrNotEnrolled
	}
	code := s.newDigits()
	now := s.d.Clock.Now()
	expires := now.Add(mfa.CodeTTL)
	if err := s.d.Tokens.Issue(ctx, ports.PurposeMFAReauth, u.ID(), tokenHash(string(u.ID())+":"+code), now, expires); err != nil {
		return SentCode{}, fmt.Errorf("reauth code: %w", err)
	}
	return s.sendCode(ctx, u, m, factors[i].Phone, code, expires)
}

// SentCode says where a code went (masked) and until when it works.
type SentCode struct {
	Method    mfa.Method
	SentTo    string
	ExpiresAt time.Time
}

// sendCode delivers code by m after spending the account's (and for SMS
// the number's) sending budget, so nobody floods a mailbox or runs up a
// text-message bill through us.
func (s *Service) sendCode(ctx context.Context, u user.User, m mfa.Method, phone, code string, expires time.Time) (SentCode, error) {
	if err := s.take(ctx, "mfa-send:"+m.String()+":"+string(u.ID()), s.cfg.Limits.CodeSends, 15*time.Minute); err != nil {
		return SentCode{}, err
	}
	switch m {
	case mfa.MethodSMS:
		if s.d.SMS == nil {
			return SentCode{}, mfa.ErrUnavailable
		}
		if err := s.take(ctx, "mfa-send:phone:"+phone, s.cfg.Limits.CodeSends, time.Hour); err != nil {
			return SentCode{}, err
		}
		text := fmt.Sprintf("%s code: %s. It expires in %d minutes. Never share it.", s.cfg.TOTPIssuer, code, int(mfa.CodeTTL.Minutes()))
		if err := s.d.SMS.SendSMS(ctx, phone, text); err != nil {
			return SentCode{}, fmt.Errorf("send sms code: %w", err)
		}
		return SentCode{Method: m, SentTo: mfa.MaskPhone(phone), ExpiresAt: expires}, nil
	case mfa.MethodEmail:
		if err := s.d.Mailer.SendSignInCode(ctx, u.Email(), code, expires); err != nil {
			return SentCode{}, fmt.Errorf("send email code: %w", err)
		}
		return SentCode{Method: m, SentTo: maskEmail(u.Email()), ExpiresAt: expires}, nil
	default:
		return SentCode{}, mfa.ErrUnavailable
	}
}

func maskEmail(e string) string {
	at := 0
	for i := range e {
		if e[i] == '@' {
			at = i
		}
	}
	if at <= 1 {
		return "•" + e[at:]
	}
	return e[:1] + "•••" + e[at:]
}

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
	if err := s.take(ctx, "mfa-confirm:"+string(uid), 10, 15*time.Minute); err != nil {
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

// DisableFactor removes factor m after the password and a current factor
// (MF-05). Removing the last factor turns MFA off and drops the backup
// codes. Every other session ends (SE-08); user.updated says what changed.
func (s *Service) DisableFactor(ctx context.Context, p token.Claims, m mfa.Method, in Reauth) error {
	uid := user.ID(p.Subject)
	u, err := s.stepUp(ctx, uid, p.AMR)
	if err != nil {
		return fmt.Errorf("disable factor: %w", err)
	}
	before, err := s.d.Factors.Factors(ctx, uid)
	if err != nil {
		return fmt.Errorf("disable factor: %w", err)
	}
	if !slices.Contains(methodsOf(before), m) {
		return mfa.ErrNotEnrolled
	}
	if err := s.reauthenticate(ctx, u, in); err != nil {
		return err
	}
	now := s.d.Clock.Now()
	names := func(fs []mfa.Factor) []string {
		out := []string{}
		for _, f := range fs {
			out = append(out, f.Method.String())
		}
		return out
	}
	after := slices.DeleteFunc(slices.Clone(before), func(f mfa.Factor) bool { return f.Method == m })
	var ended []session.Revocation
	err = s.d.Tx.WithinTx(ctx, func(ctx context.Context) error {
		if ok, err := s.d.Factors.Delete(ctx, uid, m); err != nil || !ok {
			return errors.Join(err, mfa.ErrNotEnrolled)
		}
		ev := event.UserUpdated{UserID: string(uid), UpdatedBy: string(uid),
			Changes: map[string]any{"mfaMethods": names(after)}, PreviousValues: map[string]any{"mfaMethods": names(before)}}
		if len(after) == 0 {
			if u, err = s.d.Users.Update(ctx, uid, func(u *user.User) error { u.SetMFA(false, now); return nil }); err != nil {
				return err
			}
			if err := s.d.BackupCodes.Replace(ctx, uid, nil, now); err != nil {
				return err
			}
			ev.Changes["mfaEnabled"], ev.PreviousValues["mfaEnabled"] = false, true
		}
		if err := s.d.Outbox.Append(ctx, s.event(uid, now, ev)); err != nil {
			return err
		}
		ended, err = s.revokeUser(ctx, uid, session.ID(p.SessionID), session.ReasonForced, now)
		return err
	})
	if errors.Is(err, mfa.ErrNotEnrolled) {
		return mfa.ErrNotEnrolled
	}
	if err != nil {
		return fmt.Errorf("disable factor: %w", err)
	}
	if err := s.d.Revoked.Add(ctx, ended...); err != nil {
		return err
	}
	s.notify(ctx, u, ports.SecurityNotice{Kind: ports.NoticeMFADisabled, At: now, IP: in.Client.IP, UserAgent: in.Client.UserAgent, Method: m.String()})
	return nil
}

// RegenerateBackupCodes replaces the caller's backup codes with a new set
// after the password and a current factor; the old set stops working
// (MF-07).
func (s *Service) RegenerateBackupCodes(ctx context.Context, p token.Claims, in Reauth) ([]string, error) {
	u, err := s.stepUp(ctx, user.ID(p.Subject), p.AMR)
	if err != nil {
		return nil, fmt.Errorf("regenerate backup codes: %w", err)
	}
	if !u.MFAEnabled() {
		return nil, ErrNoMFA
	}
	if err := s.reauthenticate(ctx, u, in); err != nil {
		return nil, err
	}
	codes, hashes := s.newBackupCodes()
	now := s.d.Clock.Now()
	if err := s.d.BackupCodes.Replace(ctx, u.ID(), hashes, now); err != nil {
		return nil, fmt.Errorf("regenerate backup codes: %w", err)
	}
	s.notify(ctx, u, ports.SecurityNotice{Kind: ports.NoticeBackupCodesRenewed, At: now, IP: in.Client.IP, UserAgent: in.Client.UserAgent})
	return codes, nil
}

// FactorView is an enabled factor as its owner sees it: never its secret.
type FactorView struct {
	Method    mfa.Method
	Phone     string // masked
	CreatedAt time.Time
}

// MFAStatus is the caller's second-factor state.
type MFAStatus struct {
	Enabled              bool
	Factors              []FactorView
	BackupCodesRemaining int
	// Available are the methods the caller could enrol now.
	Available []mfa.Method
}

// MyMFA returns the caller's factors and how many backup codes are left.
func (s *Service) MyMFA(ctx context.Context, p token.Claims) (MFAStatus, error) {
	u, err := s.stepUp(ctx, user.ID(p.Subject), p.AMR)
	if err != nil {
		return MFAStatus{}, fmt.Errorf("mfa status: %w", err)
	}
	fs, err := s.d.Factors.Factors(ctx, u.ID())
	if err != nil {
		return MFAStatus{}, fmt.Errorf("mfa status: %w", err)
	}
	left, err := s.d.BackupCodes.Remaining(ctx, u.ID())
	if err != nil {
		return MFAStatus{}, fmt.Errorf("mfa status: %w", err)
	}
	st := MFAStatus{Enabled: u.MFAEnabled(), BackupCodesRemaining: left, Factors: []FactorView{}, Available: []mfa.Method{}}
	for _, f := range fs {
		v := FactorView{Method: f.Method, CreatedAt: f.CreatedAt}
		if f.Phone != "" {
			v.Phone = mfa.MaskPhone(f.Phone)
		}
		st.Factors = append(st.Factors, v)
	}
	for _, m := range mfa.Factors {
		switch {
		case m == mfa.MethodSMS && s.d.SMS == nil, m == mfa.MethodEmail && !u.EmailVerified():
		case m == mfa.MethodTOTP || !slices.Contains(methodsOf(fs), m):
			st.Available = append(st.Available, m)
		}
	}
	return st, nil
}
