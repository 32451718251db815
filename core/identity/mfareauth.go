package identity

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/usermgmt/usermgmt/core/errs"
	"github.com/usermgmt/usermgmt/core/mfa"
	"github.com/usermgmt/usermgmt/core/session"
	"github.com/usermgmt/usermgmt/core/token"
	"github.com/usermgmt/usermgmt/core/user"
	"github.com/usermgmt/usermgmt/ports"
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
	attempt, err := s.throttle.reserveAttempt(ctx, account, account)
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
	return s.throttle.succeeded(ctx, account)
}

var errWrongPassword = errs.ErrValidation.WithFields(errs.FieldError{Field: "password", Message: "is incorrect"})

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
	if err := s.throttle.take(ctx, "mfa-send:"+m.String()+":"+string(u.ID()), s.throttle.limits.CodeSends, 15*time.Minute); err != nil {
		return SentCode{}, err
	}
	switch m {
	case mfa.MethodSMS:
		if s.d.SMS == nil {
			return SentCode{}, mfa.ErrUnavailable
		}
		if err := s.throttle.take(ctx, "mfa-send:phone:"+phone, s.throttle.limits.CodeSends, time.Hour); err != nil {
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
