package identity

import (
	"context"
	"errors"
	"fmt"
	"slices"

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

// ReauthenticatorDeps are what the Reauthenticator drives.
type ReauthenticatorDeps struct {
	Clock ports.Clock
	// Tokens keep the codes sent for a re-authentication.
	Tokens      ports.OneTimeTokens
	Credentials *Credentials
	Factors     *SecondFactors
	Throttle    *Throttle
	Alerts      *Alerts
}

// Reauthenticator checks the fresh proof a factor change needs (MF-05).
// Its code attempts count toward the same lockout as a sign-in's second
// step, so a stolen session cannot guess codes here instead (LG-05).
type Reauthenticator struct {
	d ReauthenticatorDeps
}

// NewReauthenticator returns a Reauthenticator over d.
func NewReauthenticator(d ReauthenticatorDeps) (*Reauthenticator, error) {
	if d.Clock == nil || d.Tokens == nil || d.Credentials == nil || d.Factors == nil || d.Throttle == nil || d.Alerts == nil {
		return nil, missing("NewReauthenticator")
	}
	return &Reauthenticator{d: d}, nil
}

// check proves the password (counting toward the account's lockout) and,
// on an account with MFA, spends a code of a current factor: a TOTP or
// backup code, or a code sent by sendCode.
func (r *Reauthenticator) check(ctx context.Context, u user.User, in Reauth) error {
	if err := r.d.Credentials.prove(ctx, u, in.Password, errWrongPassword); err != nil {
		return err
	}
	if !u.MFAEnabled() {
		return nil
	}
	if in.Code == "" {
		return errCodeRequired
	}
	account := "mfa:" + accountKey(u, "")
	attempt, err := r.d.Throttle.reserveAttempt(ctx, account, account)
	if err != nil {
		return err
	}
	factors, err := r.d.Factors.list(ctx, u.ID())
	if err != nil {
		return fmt.Errorf("re-authenticate: %w", err)
	}
	now := r.d.Clock.Now()
	pr, ok, err := r.d.Factors.check(ctx, codeCheck{u: u, factors: factors, code: in.Code, offered: append(methodsOf(factors), mfa.MethodBackup),
		oob: func(ctx context.Context, digits string) (proof, bool, error) {
			h := tokenHash(string(u.ID()) + ":" + digits)
			if _, err := r.d.Tokens.Lookup(ctx, ports.PurposeMFAReauth, h, now); errors.Is(err, user.ErrNotFound) {
				return proof{}, false, nil
			} else if err != nil {
				return proof{}, false, err
			}
			return proof{method: mfa.MethodEmail, use: func(ctx context.Context) (bool, error) {
				_, err := r.d.Tokens.Consume(ctx, ports.PurposeMFAReauth, h, now)
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
			if err := r.d.Alerts.reportReplay(ctx, u, pr.method, in.Client); err != nil {
				return err
			}
		}
	}
	if !ok {
		if err := r.d.Alerts.reportLimit(ctx, u, attempt, in.Client, "mfa"); err != nil {
			return err
		}
		return errWrongCode
	}
	return r.d.Throttle.succeeded(ctx, account)
}

var errWrongPassword = errs.ErrValidation.WithFields(errs.FieldError{Field: "password", Message: "is incorrect"})

// sendCode sends u a code for check by u's email or SMS factor m.
func (r *Reauthenticator) sendCode(ctx context.Context, u user.User, m mfa.Method) (SentCode, error) {
	factors, err := r.d.Factors.list(ctx, u.ID())
	if err != nil {
		return SentCode{}, fmt.Errorf("reauth code: %w", err)
	}
	i := slices.IndexFunc(factors, func(f mfa.Factor) bool { return f.Method == m })
	if !m.OutOfBand() || i < 0 {
		return SentCode{}, mfa.ErrNotEnrolled
	}
	code := r.d.Factors.newDigits()
	now := r.d.Clock.Now()
	expires := now.Add(mfa.CodeTTL)
	if err := r.d.Tokens.Issue(ctx, ports.PurposeMFAReauth, u.ID(), tokenHash(string(u.ID())+":"+code), now, expires); err != nil {
		return SentCode{}, fmt.Errorf("reauth code: %w", err)
	}
	return r.d.Factors.send(ctx, u, m, factors[i].Phone, code, expires)
}

// RequestReauthCode sends a code for Reauth by the caller's email or SMS
// factor, for accounts whose only factors send codes.
func (s *MFA) RequestReauthCode(ctx context.Context, p token.Claims, m mfa.Method) (SentCode, error) {
	u, err := stepUp(ctx, s.d.Users, user.ID(p.Subject), p.AMR)
	if err != nil {
		return SentCode{}, fmt.Errorf("reauth code: %w", err)
	}
	return s.d.Reauth.sendCode(ctx, u, m)
}
