package identity

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/usermgmt/usermgmt/core/errs"
	"github.com/usermgmt/usermgmt/core/session"
	"github.com/usermgmt/usermgmt/core/user"
	"github.com/usermgmt/usermgmt/ports"
)

// ResetTTL is how long a password-reset link works (LG-07: at most 1h).
const ResetTTL = time.Hour

// ErrInvalidResetToken answers a reset with a token that is unknown, used,
// expired or replaced; one answer for all, so none can be told apart.
var ErrInvalidResetToken = errs.New(errs.Invalid, "auth.invalid_reset_token", "reset link is invalid or expired").
	WithFields(errs.FieldError{Field: "token", Message: "is invalid or expired"})

// mailRequestsPerIP is how many mailed-link requests (reset and
// verification together) one client address may make in an hour.
const mailRequestsPerIP = 20

// RequestPasswordReset asks for a reset link for the account with email.
// It answers the same, at once, for every address (LG-01): it spends the
// client's budget of mailed-link requests (LG-03) and leaves the look-up,
// the address's own budget and the mail to background work, so neither
// the answer nor its timing says whether an account exists.
func (s *Service) RequestPasswordReset(ctx context.Context, email string, c session.Client) error {
	return s.detached(ctx, c, "password reset mail", func(ctx context.Context) error { return s.mailResetLink(ctx, email) })
}

// detached spends the client's mailed-link budget and runs work in the
// background; the caller answers the same whatever work finds.
func (s *Service) detached(ctx context.Context, c session.Client, name string, work func(context.Context) error) error {
	if err := s.throttle.take(ctx, "mail:ip:"+ipBudgetKey(c.Normalized().IP), mailRequestsPerIP, time.Hour); err != nil {
		return err
	}
	return s.d.Background.Run(name, work)
}

// mailResetLink mails a reset link to the account with email, when there
// is an active one.
func (s *Service) mailResetLink(ctx context.Context, email string) error {
	u, ok, err := s.mailRecipient(ctx, email)
	if err != nil || !ok {
		return err
	}
	link, expires, err := s.issueLink(ctx, ports.PurposePasswordReset, u, "/reset-password", ResetTTL)
	if err == nil {
		err = s.d.Mailer.SendPasswordReset(ctx, u.Email(), link, expires)
	}
	if err != nil {
		return fmt.Errorf("request password reset: %w", err)
	}
	return nil
}

// mailRecipient finds the active account a mailed link may go to. It
// spends the address's mail budget (spendMail) and answers ok=false, with
// no error, for anything that gets no mail: the caller says the same
// either way (LG-01).
func (s *Service) mailRecipient(ctx context.Context, email string) (user.User, bool, error) {
	e, err := user.NormalizeEmail(email)
	if err != nil {
		return user.User{}, false, nil
	}
	if err := s.spendMail(ctx, e); err != nil {
		return user.User{}, false, err
	}
	u, err := s.d.Users.ByEmail(ctx, e)
	if errors.Is(err, user.ErrNotFound) {
		return user.User{}, false, nil
	}
	if err != nil {
		return user.User{}, false, err
	}
	return u, u.CanSignIn(), nil
}

// spendMail spends one of the mails that requests about the normalised
// address e may cause in an hour: registrations, resends and resets
// together, from any number of clients, so nobody floods a mailbox (LG-09).
func (s *Service) spendMail(ctx context.Context, e string) error {
	return s.throttle.take(ctx, "mail:address:"+e, mailsPerAddress, time.Hour)
}

// issueLink stores a fresh 256-bit one-time token of purpose for u, valid
// for ttl, and returns the public link that carries it. The token is in
// the fragment, so it never reaches a server log or a Referer.
func (s *Service) issueLink(ctx context.Context, purpose ports.TokenPurpose, u user.User, path string, ttl time.Duration) (string, time.Time, error) {
	now := s.d.Clock.Now()
	raw := base64.RawURLEncoding.EncodeToString(s.d.IDs.NewSecret(32))
	expires := now.Add(ttl)
	if err := s.d.Tokens.Issue(ctx, purpose, u.ID(), tokenHash(raw), now, expires); err != nil {
		return "", time.Time{}, err
	}
	return s.cfg.PublicURL + path + "#token=" + raw, expires, nil
}

// ResetPassword sets a new password with a reset token: single-use,
// applies the password policy, ends every session and every other reset
// token, and emits user.password_changed (LG-07, SE-08). A password that
// fails the policy leaves the token usable.
func (s *Service) ResetPassword(ctx context.Context, token, newPassword string) error {
	if len(token) != 43 {
		return ErrInvalidResetToken
	}
	h := tokenHash(token)
	now := s.d.Clock.Now()
	uid, err := s.d.Tokens.Lookup(ctx, ports.PurposePasswordReset, h, now)
	if errors.Is(err, user.ErrNotFound) {
		return ErrInvalidResetToken
	}
	if err != nil {
		return fmt.Errorf("reset password: %w", err)
	}
	u, err := s.d.Users.ByID(ctx, uid)
	if err != nil {
		return fmt.Errorf("reset password: %w", err)
	}
	hash, err := s.newPasswordHash(ctx, u, newPassword)
	if err != nil {
		return err
	}
	var ended []session.Revocation
	err = s.d.Tx.WithinTx(ctx, func(ctx context.Context) error {
		used, err := s.d.Tokens.Consume(ctx, ports.PurposePasswordReset, h, now)
		if errors.Is(err, user.ErrNotFound) || (err == nil && used != uid) {
			return ErrInvalidResetToken // used by a concurrent reset meanwhile
		}
		if err != nil {
			return err
		}
		if ended, err = s.replacePassword(ctx, uid, hash, "", now); err != nil {
			return err
		}
		// The link proved the mailbox: an unverified address is verified
		// now, and factors enrolled before that are dropped (MF-09).
		ev := newUserUpdated(uid, uid)
		if err := s.proveMailbox(ctx, uid, &ev, now); err != nil {
			return err
		}
		if len(ev.Changes) > 0 {
			if err := s.d.Outbox.Append(ctx, s.event(uid, now, ev)); err != nil {
				return err
			}
		}
		// Until a sign-in completes, the mailbox that reset the password
		// does not also pass as the second factor (MF-08).
		return s.d.Credentials.SetRecovered(ctx, uid, now)
	})
	if err != nil {
		if errors.Is(err, ErrInvalidResetToken) {
			return ErrInvalidResetToken
		}
		return fmt.Errorf("reset password: %w", err)
	}
	// Proving control of the mailbox clears the password lockout, as a
	// login would; a second factor's lockout stays (LG-08).
	if err := s.passwordProven(ctx, u); err != nil {
		return err
	}
	s.notify(ctx, u, ports.SecurityNotice{Kind: ports.NoticePasswordReset, At: now})
	return s.d.Revoked.Add(ctx, ended...)
}

func tokenHash(token string) string {
	h := sha256.Sum256([]byte(token))
	return hex.EncodeToString(h[:])
}
